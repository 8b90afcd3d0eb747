//! One site's chunks: a content-addressed store over object_store's local
//! backend with fsync on (a put returns once the file and its directory
//! entry are durable), the transit area relays use, and the file ages the
//! collector judges (`crate::reclaim`).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use meridian_core::chunks::ChunkHash;
use meridian_core::{Chunk, Clock, SharedClock};
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjPath;
use object_store::{ObjectStore, ObjectStoreExt};

use crate::error::DataError;
use crate::locks::ChunkLocks;

/// The largest chunk any configuration writes (`--chunk-size` is at most 64 MiB).
pub const MAX_CHUNK_BYTES: u64 = 64 << 20;

/// `data` as the chunk `hash` if it hashes to that (checked off the async
/// threads); else `Corrupt`, naming the site it came from.
pub async fn verified(hash: &ChunkHash, site: &str, data: Bytes) -> Result<Chunk, DataError> {
    let want = *hash;
    tokio::task::spawn_blocking(move || Chunk::verify(&want, data))
        .await
        .map_err(|e| DataError::Task(e.to_string()))?
        .map_err(|actual| DataError::Corrupt {
            hash: hex::encode(hash),
            site: site.to_string(),
            actual: hex::encode(actual),
        })
}

/// One site's chunks.
pub struct SiteStore {
    pub(crate) name: String,
    store: Arc<dyn ObjectStore>,
    /// The site's directory (object_store's root).
    pub(crate) dir: PathBuf,
    /// Writers of the chunks area share a stripe; the reclaimer takes it
    /// alone to look at a chunk and remove it (crate::reclaim).
    pub(crate) locks: ChunkLocks,
    /// Chunk files this process has reclaimed, and their bytes, since start.
    pub reclaimed_chunks: AtomicU64,
    pub reclaimed_bytes: AtomicU64,
    /// Passes this process's collector made over the site's queue.
    pub gc_passes: AtomicU64,
    /// Ages chunk files for the collector (crate::reclaim).
    pub(crate) clock: SharedClock,
}

/// Where in a site's store a chunk lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Area {
    /// The site's chunks, referenced by its replicas.
    Chunks,
    /// Chunks a relay holds only until it has forwarded them. Kept apart so
    /// that cleaning them up can never remove a chunk a replica references
    /// (chunks are shared by content between objects).
    Transit,
}

fn area_path(area: Area, hash: &ChunkHash) -> ObjPath {
    let hex = hex::encode(hash);
    let dir = match area {
        Area::Chunks => "chunks",
        Area::Transit => "transit",
    };
    ObjPath::from(format!("{dir}/{}/{hex}", &hex[..2]))
}

/// Transit chunks removed per call of [`SiteStore::clear_transit`].
const CLEAR_BATCH: usize = 100_000;

impl SiteStore {
    pub fn open_local(name: &str, dir: &Path, clock: SharedClock) -> Result<Self, DataError> {
        std::fs::create_dir_all(dir).map_err(|e| DataError::Store {
            site: name.to_string(),
            source: object_store::Error::Generic {
                store: "LocalFileSystem",
                source: Box::new(e),
            },
        })?;
        let fs = LocalFileSystem::new_with_prefix(dir)
            .map_err(|source| DataError::Store {
                site: name.to_string(),
                source,
            })?
            .with_fsync(true);
        Ok(SiteStore {
            name: name.to_string(),
            store: Arc::new(fs),
            dir: dir.to_path_buf(),
            locks: ChunkLocks::new(),
            reclaimed_chunks: AtomicU64::new(0),
            reclaimed_bytes: AtomicU64::new(0),
            gc_passes: AtomicU64::new(0),
            clock,
        })
    }

    fn err(&self, source: object_store::Error) -> DataError {
        DataError::Store {
            site: self.name.clone(),
            source,
        }
    }

    /// Stores a chunk durably (its bytes were verified when the `Chunk`
    /// was made). Always writes, even if a file of that name exists: a file
    /// left torn by a crash must not be trusted.
    pub async fn put(&self, chunk: Chunk) -> Result<(), DataError> {
        self.put_in(Area::Chunks, chunk).await
    }

    pub async fn put_in(&self, area: Area, chunk: Chunk) -> Result<(), DataError> {
        debug_assert!(
            chunk.len() as u64 <= MAX_CHUNK_BYTES,
            "a chunk of {} bytes",
            chunk.len()
        );
        let hash = *chunk.hash();
        let hash = &hash;
        let _shared = match area {
            Area::Chunks => Some(self.locks.shared(hash).await),
            Area::Transit => None,
        };
        self.store
            .put(&area_path(area, hash), chunk.into_data().into())
            .await
            .map_err(|e| self.err(e))?;
        if area == Area::Chunks && self.clock_runs_apart() {
            // The collector ages files by the process's clock, which a
            // test may have moved ahead of the system's: a new file is
            // as young by that clock as by the file system's. On the
            // system clock the file system's time already is.
            self.stamp(hash).await?;
        }
        Ok(())
    }

    /// The chunk's bytes, verified; `NotFound` or `Corrupt` otherwise.
    pub async fn get(&self, hash: &ChunkHash) -> Result<Chunk, DataError> {
        self.get_in(Area::Chunks, hash).await
    }

    /// Whether a file for the chunk exists (not read, not verified: a
    /// planning hint; every copy verifies what it reads). A chunk found is
    /// freshened: the caller counts on it staying (crate::reclaim).
    pub async fn holds(&self, hash: &ChunkHash) -> Result<bool, DataError> {
        self.freshen(hash).await
    }

    /// Drops a relay's copy of a chunk it has forwarded.
    pub async fn delete_transit(&self, hash: &ChunkHash) -> Result<(), DataError> {
        match self.store.delete(&area_path(Area::Transit, hash)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.err(e)),
        }
    }

    /// Removes transit chunks left by a process that stopped mid-round.
    /// Returns how many were removed (at most [`CLEAR_BATCH`] per call).
    pub async fn clear_transit(&self) -> Result<usize, DataError> {
        use futures::{StreamExt, TryStreamExt};
        let listed: Vec<_> = self
            .store
            .list(Some(&ObjPath::from("transit")))
            .take(CLEAR_BATCH)
            .try_collect()
            .await
            .map_err(|e| self.err(e))?;
        let n = listed.len();
        for m in listed {
            match self.store.delete(&m.location).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(self.err(e)),
            }
        }
        Ok(n)
    }

    pub async fn get_in(&self, area: Area, hash: &ChunkHash) -> Result<Chunk, DataError> {
        let data = match self.store.get(&area_path(area, hash)).await {
            Ok(r) if r.meta.size > MAX_CHUNK_BYTES => {
                // Not one of ours: refuse before reading it into memory.
                return Err(DataError::Corrupt {
                    hash: hex::encode(hash),
                    site: self.name.clone(),
                    actual: format!(
                        "a file of {} bytes, above the {MAX_CHUNK_BYTES}-byte chunk bound",
                        r.meta.size
                    ),
                });
            }
            Ok(r) => r.bytes().await.map_err(|e| self.err(e))?,
            Err(object_store::Error::NotFound { .. }) => {
                return Err(DataError::NotFound(hex::encode(hash), self.name.clone()))
            }
            Err(e) => return Err(self.err(e)),
        };
        verified(hash, &self.name, data).await
    }

    /// Whether the site holds a good copy (read and verified).
    pub async fn has_verified(&self, hash: &ChunkHash) -> Result<bool, DataError> {
        match self.get(hash).await {
            // Freshened, and still there once freshened.
            Ok(_) => self.freshen(hash).await,
            Err(DataError::NotFound(..)) | Err(DataError::Corrupt { .. }) => Ok(false),
            Err(e) => Err(e),
        }
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
    pub(crate) fn chunk_file(&self, hash: &ChunkHash) -> PathBuf {
        let hex = hex::encode(hash);
        self.dir.join("chunks").join(&hex[..2]).join(hex)
    }

    pub(crate) fn io_error(&self, e: std::io::Error) -> DataError {
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
    /// Whether the process's clock reads more than a second away from the
    /// system's (a test clock moved ahead, a manual one).
    fn clock_runs_apart(&self) -> bool {
        let system = meridian_core::clock::SystemClock.now_ms();
        self.clock.now_ms().abs_diff(system) > 1000
    }

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
}
