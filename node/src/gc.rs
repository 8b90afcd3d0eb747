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

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use meridian_core::ChunkHash;
use meridian_proto::v1::command::Op;
use meridian_proto::v1::{GcDoneCmd, GcEntry};
use tokio::sync::{watch, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::data::{DataError, DataPlane, SiteStore};
use crate::metagroup::MetaGroup;

/// When unreferenced chunks go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GcConfig {
    /// A chunk file written or found in use less than this long ago stays.
    pub grace: Duration,
    /// Pause between passes over the queues.
    pub period: Duration,
    /// A multipart upload left this long is aborted (its parts reclaimed).
    pub abandoned_uploads: Duration,
    /// Pause between passes of the bucket lifecycle job.
    pub lifecycle_period: Duration,
    /// How long a lifecycle rule's day is: a day, except in tests (as
    /// Ceph RGW's `rgw_lc_debug_interval`).
    pub lifecycle_day: Duration,
    /// Versions the lifecycle job looks at per bucket and pass (smaller in
    /// tests, to exercise resuming a walk).
    pub lifecycle_walk: usize,
}

impl Default for GcConfig {
    fn default() -> Self {
        GcConfig {
            grace: Duration::from_secs(3600),
            period: Duration::from_secs(30),
            abandoned_uploads: Duration::from_secs(7 * 86_400),
            lifecycle_period: Duration::from_secs(600),
            lifecycle_day: Duration::from_secs(86_400),
            lifecycle_walk: 100_000,
        }
    }
}

impl GcConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self.grace < Duration::from_secs(1) {
            return Err(format!(
                "the chunk collector's grace period must be at least 1s, got {:?}",
                self.grace
            ));
        }
        if self.abandoned_uploads < Duration::from_secs(1) {
            return Err(format!(
                "abandoned uploads are aborted after at least 1s, got {:?}",
                self.abandoned_uploads
            ));
        }
        if self.lifecycle_period < Duration::from_secs(1)
            || self.lifecycle_day < Duration::from_secs(1)
        {
            return Err(format!(
                "the lifecycle period and day are at least 1s, got {:?} and {:?}",
                self.lifecycle_period, self.lifecycle_day
            ));
        }
        if self.period < Duration::from_secs(1) {
            return Err(format!(
                "the chunk collector's period must be at least 1s, got {:?}",
                self.period
            ));
        }
        Ok(())
    }

    /// The longest a pass goes on removing after its read of the queue.
    pub fn read_bound(&self) -> Duration {
        (self.grace / 4).min(Duration::from_secs(60))
    }

    /// How long a writer may take between writing (or finding) its chunks
    /// and committing before it must freshen them again.
    pub fn write_window(&self) -> Duration {
        self.grace.saturating_sub(self.read_bound()) / 2
    }
}

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

    async fn alone(&self, hash: &ChunkHash) -> RwLockWriteGuard<'_, ()> {
        self.stripe(hash).write().await
    }
}

/// What reclaiming one queued chunk did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reclaim {
    /// The file was removed; its size.
    Removed(u64),
    /// There was no file (never arrived, or removed before).
    Gone,
    /// Written or found in use within the grace period: kept for now.
    Fresh,
}

impl SiteStore {
    fn chunk_file(&self, hash: &ChunkHash) -> PathBuf {
        let hex = hex::encode(hash);
        self.dir.join("chunks").join(&hex[..2]).join(hex)
    }

    fn io_error(&self, e: std::io::Error) -> DataError {
        DataError::Store {
            site: self.name.clone(),
            source: object_store::Error::Generic {
                store: "LocalFileSystem",
                source: Box::new(e),
            },
        }
    }

    /// Sets the chunk file's time to now, if there is one: whoever calls
    /// this counts on the chunk, and the collector leaves it for the grace
    /// period. Whether there was one.
    pub async fn freshen(&self, hash: &ChunkHash) -> Result<bool, DataError> {
        let _shared = self.locks.shared(hash).await;
        self.stamp(hash).await
    }

    /// Sets the chunk file's time to the clock's now; the caller holds the
    /// chunk's stripe shared. Whether there was a file.
    pub(crate) async fn stamp(&self, hash: &ChunkHash) -> Result<bool, DataError> {
        let path = self.chunk_file(hash);
        let now = wall_time(self.clock.now_ms());
        let r = tokio::task::spawn_blocking(move || {
            let f = std::fs::File::options().write(true).open(&path)?;
            f.set_modified(now)
        })
        .await
        .map_err(|e| DataError::Task(e.to_string()))?;
        match r {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(self.io_error(e)),
        }
    }

    /// Removes a queued chunk's file unless it is younger than `grace`.
    pub async fn reclaim(&self, hash: &ChunkHash, grace: Duration) -> Result<Reclaim, DataError> {
        let _alone = self.locks.alone(hash).await;
        let path = self.chunk_file(hash);
        let now = wall_time(self.clock.now_ms());
        let r = tokio::task::spawn_blocking(move || -> std::io::Result<Reclaim> {
            let meta = match std::fs::metadata(&path) {
                Ok(m) => m,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Reclaim::Gone),
                Err(e) => return Err(e),
            };
            // A clock step backwards makes files look young: they wait.
            let age = now
                .duration_since(meta.modified()?)
                .unwrap_or(Duration::ZERO);
            if age < grace {
                return Ok(Reclaim::Fresh);
            }
            match std::fs::remove_file(&path) {
                Ok(()) => Ok(Reclaim::Removed(meta.len())),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Reclaim::Gone),
                Err(e) => Err(e),
            }
        })
        .await
        .map_err(|e| DataError::Task(e.to_string()))?;
        let r = r.map_err(|e| self.io_error(e))?;
        if let Reclaim::Removed(n) = r {
            self.reclaimed_chunks.fetch_add(1, Ordering::Relaxed);
            self.reclaimed_bytes.fetch_add(n, Ordering::Relaxed);
        }
        Ok(r)
    }
}

/// Queue entries read per page.
const PAGE: usize = 1000;
/// Pages per site per pass: a pass ends, and the next starts from the
/// beginning of the queue (entries kept as fresh are looked at again).
const PAGES_PER_PASS: usize = 100;

/// The job that removes the files of unreferenced chunks at this process's
/// sites. Its progress is in the status: each site's queue (the
/// catalogue's counter) and what this process removed (the site store's).
pub struct Collector {
    meta: Arc<MetaGroup>,
    data: Arc<DataPlane>,
}

impl Collector {
    pub fn new(meta: Arc<MetaGroup>, data: Arc<DataPlane>) -> Arc<Self> {
        Arc::new(Collector { meta, data })
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
            let reader = self.meta.read_barrier().await?;
            let read_at = tokio::time::Instant::now();
            let page = reader.gc_queue(site, after.as_ref(), PAGE)?;
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
                    Reclaim::Removed(_) | Reclaim::Gone => done.push(GcEntry {
                        hash: q.hash.to_vec(),
                        queued_at: q.queued_at,
                    }),
                    Reclaim::Fresh => {}
                }
                after = Some(q.hash);
            }
            if !done.is_empty() {
                let cmd = meridian_meta::command(Op::GcDone(GcDoneCmd {
                    site,
                    entries: done,
                }));
                self.meta.write_one(cmd).await?;
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
    #[error(transparent)]
    Meta(#[from] meridian_meta::MetaError),
}

/// The clock's reading as a file time.
fn wall_time(now_ms: i64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_millis(u64::try_from(now_ms).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use meridian_core::clock::ManualClock;
    use meridian_core::Chunk;

    fn store(dir: &std::path::Path) -> (SiteStore, Arc<ManualClock>) {
        let clock = ManualClock::starting_now();
        let s = SiteStore::open_local("T", dir, clock.clone()).expect("open");
        (s, clock)
    }

    #[tokio::test]
    async fn only_old_files_go_and_a_held_chunk_is_young_again() {
        let dir = tempfile::tempdir().expect("tmp");
        let (s, clock) = store(dir.path());
        let data = Bytes::from(vec![9u8; 4096]);
        let hash = *blake3::hash(&data).as_bytes();
        let grace = Duration::from_secs(60);

        assert_eq!(s.reclaim(&hash, grace).await.expect("r"), Reclaim::Gone);
        s.put(Chunk::hash_of(data.clone())).await.expect("put");
        assert_eq!(s.reclaim(&hash, grace).await.expect("r"), Reclaim::Fresh);

        clock.advance(Duration::from_secs(120));
        assert!(s.holds(&hash).await.expect("holds"), "found, and freshened");
        assert_eq!(s.reclaim(&hash, grace).await.expect("r"), Reclaim::Fresh);

        clock.advance(Duration::from_secs(120));
        assert_eq!(
            s.reclaim(&hash, grace).await.expect("r"),
            Reclaim::Removed(4096)
        );
        assert!(!s.holds(&hash).await.expect("holds"));
        assert!(!s.freshen(&hash).await.expect("freshen"));
        assert_eq!(s.reclaimed_bytes.load(Ordering::Relaxed), 4096);
    }

    #[tokio::test]
    async fn a_write_racing_a_reclaim_is_never_lost() {
        // Writers and the reclaimer of one chunk, many times over: after
        // each round, a writer whose put returned finds its file there
        // unless the reclaimer ran after it (then its file is young and
        // the reclaimer must have kept it).
        let dir = tempfile::tempdir().expect("tmp");
        let (s, clock) = store(dir.path());
        let s = Arc::new(s);
        let data = Bytes::from(vec![1u8; 1024]);
        let hash = *blake3::hash(&data).as_bytes();
        for _ in 0..200 {
            s.put(Chunk::hash_of(data.clone())).await.expect("put");
            clock.advance(Duration::from_secs(120));
            let (a, b) = (s.clone(), s.clone());
            let d = data.clone();
            let writer = tokio::spawn(async move { a.put(Chunk::hash_of(d)).await });
            let reclaimer =
                tokio::spawn(async move { b.reclaim(&hash, Duration::from_secs(60)).await });
            writer.await.expect("join").expect("put");
            let r = reclaimer.await.expect("join").expect("reclaim");
            // Removed only if it ran before the write: the file is back.
            assert!(matches!(r, Reclaim::Removed(_) | Reclaim::Fresh), "{r:?}");
            assert!(s.get(&hash).await.is_ok(), "the written chunk is there");
        }
    }

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
