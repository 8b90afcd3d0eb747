//! Lock stripes over chunk hashes: writers and checkers of a chunk share
//! its stripe; the collector takes it alone to look at the chunk's file and
//! remove it (`crate::reclaim`).

use meridian_core::chunks::ChunkHash;
use tokio::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Lock stripes over chunk hashes.
pub(crate) struct ChunkLocks(Vec<RwLock<()>>);

const STRIPES: usize = 256;

impl ChunkLocks {
    pub(crate) fn new() -> Self {
        ChunkLocks((0..STRIPES).map(|_| RwLock::new(())).collect())
    }

    fn stripe(&self, hash: &ChunkHash) -> &RwLock<()> {
        &self.0[hash[0] as usize % STRIPES]
    }

    /// For writers and checkers: never blocks another of them.
    pub(crate) async fn shared(&self, hash: &ChunkHash) -> RwLockReadGuard<'_, ()> {
        self.stripe(hash).read().await
    }

    pub(crate) async fn alone(&self, hash: &ChunkHash) -> RwLockWriteGuard<'_, ()> {
        self.stripe(hash).write().await
    }
}
