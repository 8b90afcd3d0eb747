//! Reclaiming chunk files that no record references any more: chunks of
//! deleted and overwritten objects, of replicas a policy change or a drain
//! dropped, of replaced parts and of aborted uploads.
//!
//! The catalogue counts, per site and chunk, the replicas and upload parts
//! that list it, in the same apply as the records, and queues a chunk for
//! its site when the count falls to zero (`meridian_meta::catalogue::refs`).
//! Each node runs a [`Collector`] over the queues of the sites whose chunks
//! it keeps. What makes a removal safe:
//!
//! - It reads the queue after a read barrier (every commit acknowledged
//!   before is in it) and removes nothing later than
//!   [`GcConfig::read_bound`] after that read.
//! - It removes a chunk only under the chunk's lock stripe, taken alone, and
//!   only if the file is older than [`GcConfig::grace`]. Every writer of the
//!   chunks area writes under the same stripe (shared), and so does every
//!   check that finds a chunk already there and counts on it ("held": the
//!   file's time is then set to now).
//! - A commit that adds a reference follows its write or check by less than
//!   [`GcConfig::write_window`] (the gateway freshens its chunks again
//!   before committing if it took longer), or comes before it (a transfer
//!   checks what its destination holds only for replicas already recorded).
//!
//! So a commit referencing a chunk the collector removes would have had to
//! come after the collector's read (else the chunk was not queued), yet
//! within `write_window` of a write or check that predates the removal by
//! at least `grace`: impossible while `write_window + read_bound < grace`.
//! A file written again after its removal is simply a new file.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use async_trait::async_trait;
use meridian_core::ChunkHash;
use tokio::sync::watch;

use crate::error::DataError;
pub use crate::gc_config::GcConfig;
use crate::plane::DataPlane;
use crate::store::Reclaim;

/// Queue entries read per page.
const PAGE: usize = 1000;
/// Pages per site per pass: a pass ends, and the next starts from the
/// beginning of the queue (entries kept as fresh are looked at again).
const PAGES_PER_PASS: usize = 100;

/// A chunk queued for reclaiming at a site.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Queued {
    pub hash: ChunkHash,
    /// What the queue stamped the entry with (the catalogue: the log index
    /// that queued it), so that a report clears only the entry it read.
    pub queued_at: u64,
}

/// Where the chunks nothing references are queued: the catalogue, which
/// counts references in the same apply as the records.
#[async_trait]
pub trait ReclaimQueue: Send + Sync + 'static {
    /// Up to `limit` entries of `site`'s queue after `after`, read after a
    /// barrier: every commit acknowledged before the call is reflected.
    async fn page(
        &self,
        site: u32,
        after: Option<&ChunkHash>,
        limit: usize,
    ) -> Result<Vec<Queued>, String>;
    /// Reports entries whose files are gone; an entry queued again since it
    /// was read stays.
    async fn removed(&self, site: u32, entries: &[Queued]) -> Result<(), String>;
}

/// The job that removes the files of unreferenced chunks at this process's
/// sites. Its progress is in the status: each site's queue (the
/// catalogue's counter), what this process removed and its passes (the
/// site store's counters).
pub struct Collector {
    queue: Arc<dyn ReclaimQueue>,
    data: Arc<DataPlane>,
}

impl Collector {
    pub fn new(queue: Arc<dyn ReclaimQueue>, data: Arc<DataPlane>) -> Arc<Self> {
        Arc::new(Collector { queue, data })
    }

    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let period = self.data.gc().period;
        loop {
            for site in self.data.local_sites() {
                match self.pass(site).await {
                    Ok(()) => {
                        if let Ok(store) = self.data.store(site) {
                            store.gc_passes.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Err(e) => {
                        tracing::warn!(site, error = %e, "chunk reclaim pass failed; retrying")
                    }
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(period) => {}
                _ = shutdown.changed() => {}
            }
            if *shutdown.borrow() {
                return;
            }
        }
    }

    /// One pass over `site`'s queue (entries whose file is still fresh stay
    /// for a later pass).
    async fn pass(&self, site: u32) -> Result<(), GcError> {
        let cfg = *self.data.gc();
        let store = self.data.store(site)?;
        let mut after: Option<ChunkHash> = None;
        for _ in 0..PAGES_PER_PASS {
            // Started before the read, so the bound holds from the read on.
            let read_at = tokio::time::Instant::now();
            let page = self
                .queue
                .page(site, after.as_ref(), PAGE)
                .await
                .map_err(GcError::Queue)?;
            let full = page.len() == PAGE;
            let mut done = Vec::new();
            let mut cut = false;
            for q in &page {
                if read_at.elapsed() >= cfg.read_bound() {
                    // Read again before removing more.
                    cut = true;
                    break;
                }
                match store.reclaim(&q.hash, cfg.grace).await? {
                    Reclaim::Removed(_) | Reclaim::Gone => done.push(*q),
                    Reclaim::Fresh => {}
                }
                after = Some(q.hash);
            }
            if !done.is_empty() {
                self.queue
                    .removed(site, &done)
                    .await
                    .map_err(GcError::Queue)?;
            }
            if !full && !cut {
                break;
            }
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum GcError {
    #[error(transparent)]
    Data(#[from] DataError),
    #[error("the reclaim queue: {0}")]
    Queue(String),
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_windows_fit_in_the_grace_period() {
        for secs in [2, 8, 60, 3600, 86_400] {
            let c = GcConfig {
                grace: Duration::from_secs(secs),
                ..GcConfig::default()
            };
            assert!(c.write_window() + c.read_bound() < c.grace, "{c:?}");
            assert!(c.write_window() > Duration::ZERO);
        }
    }
}
