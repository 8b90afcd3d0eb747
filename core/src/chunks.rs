//! The chunk-store contract: what the protocols need from the data plane.

use async_trait::async_trait;
use bytes::Bytes;

use crate::CoreError;

/// A BLAKE3 chunk hash.
pub type ChunkHash = [u8; 32];

/// A chunk's bytes with their BLAKE3 hash, known to match: made only by
/// hashing the bytes or by checking them against the hash they should
/// have. Stores take a `Chunk`, so bytes are hashed once on their way in
/// (by whoever received them) and never stored unverified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chunk {
    hash: ChunkHash,
    data: Bytes,
}

impl Chunk {
    /// Hashes `data` (on the calling thread: ~1 ms per 4 MiB).
    pub fn hash_of(data: Bytes) -> Chunk {
        Chunk {
            hash: *blake3::hash(&data).as_bytes(),
            data,
        }
    }

    /// `data` as the chunk `expected`, or the hash it has instead.
    pub fn verify(expected: &ChunkHash, data: Bytes) -> Result<Chunk, ChunkHash> {
        let c = Chunk::hash_of(data);
        if &c.hash == expected {
            Ok(c)
        } else {
            Err(c.hash)
        }
    }

    pub fn hash(&self) -> &ChunkHash {
        &self.hash
    }

    pub fn data(&self) -> &Bytes {
        &self.data
    }

    pub fn len(&self) -> usize {
        self.data.len()
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    pub fn into_data(self) -> Bytes {
        self.data
    }
}

/// The chunk stores of every site, as the protocols see them.
#[async_trait]
pub trait ChunkStore: Send + Sync + 'static {
    /// Stores a chunk at `site` and returns once it is durable (fsync'd).
    async fn put_chunk(&self, site: u32, chunk: Chunk) -> Result<(), CoreError>;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chunk_is_its_bytes_and_their_hash() {
        let data = Bytes::from_static(b"sixteen bytes!!!");
        let c = Chunk::hash_of(data.clone());
        assert_eq!(c.hash(), blake3::hash(&data).as_bytes());
        assert_eq!(Chunk::verify(c.hash(), data.clone()), Ok(c.clone()));
        let other = [7u8; 32];
        assert_eq!(Chunk::verify(&other, data), Err(*c.hash()));
        assert_eq!(c.len(), 16);
    }
}
