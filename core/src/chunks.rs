//! The chunk-store contract: what the protocols need from the data plane.

use async_trait::async_trait;
use bytes::Bytes;

use crate::CoreError;

/// A BLAKE3 chunk hash.
pub type ChunkHash = [u8; 32];

/// The chunk stores of every site, as the protocols see them.
#[async_trait]
pub trait ChunkStore: Send + Sync + 'static {
    /// Stores a chunk at `site` and returns once it is durable (fsync'd).
    /// Fails with `Corrupt` if `data` does not hash to `hash`.
    async fn put_chunk(&self, site: u32, hash: &ChunkHash, data: Bytes) -> Result<(), CoreError>;
    /// Returns the chunk's bytes, verified against `hash`, for a reader at
    /// `reader_site`. `holders` are the sites that hold it (complete replicas);
    /// the store tries the cheapest first and moves on to the next on a
    /// missing or corrupt chunk, crossing the inter-site links (and their rate
    /// limits) when the chunk is not at the reader's site.
    async fn read_chunk(
        &self,
        reader_site: u32,
        holders: &[u32],
        hash: &ChunkHash,
        size: u32,
    ) -> Result<Bytes, CoreError>;
    /// Called just before committing a record that references `hashes` at
    /// `site`, written (or found) from `written` on: a store that reclaims
    /// unreferenced chunks after a grace period makes sure they are still
    /// there and fresh, or fails (retryable) so that nothing is committed
    /// over a chunk it removed.
    async fn keep_fresh(
        &self,
        _site: u32,
        _hashes: &[ChunkHash],
        _written: std::time::Instant,
    ) -> Result<(), CoreError> {
        Ok(())
    }
}
