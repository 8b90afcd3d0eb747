//! The data role: one content-addressed chunk store per site, and chunk
//! movement between sites through the links' rate limits.
//!
//! Chunks live at `<site dir>/chunks/<first two hex digits>/<hash hex>`
//! through object_store's local backend with fsync on: a put returns only
//! once the file and its directory entry are durable. Every chunk is hashed
//! when written and again whenever it is read; a chunk that fails is never
//! returned.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use meridian_core::chunks::{ChunkHash, ChunkStore};
use meridian_core::{Chunk, CoreError, SharedClock};
use meridian_placement::{LinkId, SiteId, Topology};
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjPath;
use object_store::{ObjectStore, ObjectStoreExt};

use crate::gc::{ChunkLocks, GcConfig};
use crate::links::Links;
use crate::remote::RemoteSite;

#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("site {0} has no chunk store here")]
    UnknownSite(u32),
    #[error("chunk {0} not found at {1}")]
    NotFound(String, String),
    #[error("chunk {hash} at {site} is corrupt: its bytes hash to {actual}")]
    Corrupt {
        hash: String,
        site: String,
        actual: String,
    },
    #[error("store at {site}: {source}")]
    Store {
        site: String,
        #[source]
        source: object_store::Error,
    },
    #[error("hashing task failed: {0}")]
    Task(String),
    /// Another process's data node could not be read from.
    #[error("data node of {site}: {message}")]
    Remote { site: String, message: String },
}

impl From<DataError> for CoreError {
    fn from(e: DataError) -> Self {
        match e {
            DataError::UnknownSite(s) => CoreError::UnknownSite(format!("site {s}")),
            DataError::Corrupt { .. } | DataError::NotFound(..) => {
                CoreError::Corrupt(e.to_string())
            }
            DataError::Store { .. } | DataError::Task(_) | DataError::Remote { .. } => {
                CoreError::Unavailable(e.to_string())
            }
        }
    }
}

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
    /// alone to look at a chunk and remove it (crate::gc).
    pub(crate) locks: ChunkLocks,
    /// Chunk files this process has reclaimed, and their bytes, since start.
    pub reclaimed_chunks: AtomicU64,
    pub reclaimed_bytes: AtomicU64,
    /// Passes this process's collector made over the site's queue.
    pub gc_passes: AtomicU64,
    /// Ages chunk files for the collector (crate::gc).
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

/// Hashes per HasChunks call (the data node's bound is larger).
const HAS_BATCH: usize = 256;

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
        if area == Area::Chunks {
            // The collector ages files by the process's clock, which a
            // test may have moved ahead of the system's: a new file is
            // as young by that clock as by the file system's.
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
    /// freshened: the caller counts on it staying (crate::gc).
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

/// Every site's store and the links between them.
pub struct DataPlane {
    topology: Arc<Topology>,
    stores: BTreeMap<u32, SiteStore>,
    /// Sites whose chunks another process keeps (`meridian node`).
    remotes: BTreeMap<u32, RemoteSite>,
    links: Arc<Links>,
    gc: GcConfig,
    clock: SharedClock,
}

impl DataPlane {
    /// Opens `<data_dir>/sites/<Site>/` for one site only: a node of a
    /// multi-process cluster keeps its own site's chunks.
    pub fn open_site(
        topology: Arc<Topology>,
        data_dir: &Path,
        site: u32,
        link_scale: f64,
        clock: SharedClock,
    ) -> Result<Self, DataError> {
        let name = topology.name(SiteId(site));
        let dir = data_dir.join("sites").join(&name);
        let store = SiteStore::open_local(&name, &dir, clock.clone())?;
        let links = Arc::new(Links::new(&topology, link_scale));
        Ok(DataPlane {
            topology,
            stores: BTreeMap::from([(site, store)]),
            remotes: BTreeMap::new(),
            links,
            gc: GcConfig::default(),
            clock,
        })
    }

    /// Reads chunks of `site` from the data node at `addr` (another process).
    pub fn with_remote(mut self, site: u32, addr: &str) -> Result<Self, DataError> {
        if self.stores.contains_key(&site) {
            return Ok(self);
        }
        let name = self.topology.name(SiteId(site));
        let remote = RemoteSite::new(&name, addr).map_err(|message| DataError::Remote {
            site: name.clone(),
            message,
        })?;
        self.remotes.insert(site, remote);
        Ok(self)
    }

    /// The sites whose chunks this process keeps: the destinations its
    /// replication job serves.
    pub fn local_sites(&self) -> Vec<u32> {
        self.stores.keys().copied().collect()
    }

    /// Opens `<data_dir>/sites/<Site>/` for every site of the topology.
    pub fn open_local(
        topology: Arc<Topology>,
        data_dir: &Path,
        link_scale: f64,
        clock: SharedClock,
    ) -> Result<Self, DataError> {
        let mut stores = BTreeMap::new();
        for s in topology.sites() {
            let dir = data_dir.join("sites").join(&s.name);
            stores.insert(s.id.0, SiteStore::open_local(&s.name, &dir, clock.clone())?);
        }
        let links = Arc::new(Links::new(&topology, link_scale));
        Ok(DataPlane {
            topology,
            stores,
            remotes: BTreeMap::new(),
            links,
            gc: GcConfig::default(),
            clock,
        })
    }

    /// The clock chunk ages, write windows and jobs read.
    pub fn clock(&self) -> &SharedClock {
        &self.clock
    }

    /// When unreferenced chunks may be reclaimed (crate::gc).
    pub fn with_gc(mut self, gc: GcConfig) -> Self {
        self.gc = gc;
        self
    }

    pub fn gc(&self) -> &GcConfig {
        &self.gc
    }

    pub fn links(&self) -> &Arc<Links> {
        &self.links
    }

    pub fn topology(&self) -> &Arc<Topology> {
        &self.topology
    }

    pub fn store(&self, site: u32) -> Result<&SiteStore, DataError> {
        self.stores.get(&site).ok_or(DataError::UnknownSite(site))
    }

    /// Reads a verified chunk at `from` and carries it over the route to `to`.
    pub async fn fetch(&self, from: u32, to: u32, hash: &ChunkHash) -> Result<Chunk, DataError> {
        let data = match (self.stores.get(&from), self.remotes.get(&from)) {
            (Some(store), _) => store.get(hash).await?,
            (None, Some(remote)) => remote.read(hash).await?,
            (None, None) => return Err(DataError::UnknownSite(from)),
        };
        if from != to {
            let route = self
                .topology
                .route(SiteId(from), SiteId(to))
                .ok_or(DataError::UnknownSite(to))?;
            self.links.carry(&route.links, data.len()).await;
        }
        Ok(data)
    }

    /// Copies a chunk from `from` to `to` unless `to` already has a good copy.
    /// Returns the bytes moved over the links (0 if skipped).
    pub async fn copy_chunk(&self, from: u32, to: u32, hash: &ChunkHash) -> Result<u64, DataError> {
        let dst = self.store(to)?;
        if dst.has_verified(hash).await? {
            return Ok(0);
        }
        let chunk = self.fetch(from, to, hash).await?;
        let n = chunk.len() as u64;
        dst.put(chunk).await?;
        Ok(n)
    }

    /// Which of `hashes` `site` holds: a file check here, a verified check
    /// through its data node elsewhere (in batches).
    pub async fn holds(&self, site: u32, hashes: &[ChunkHash]) -> Result<Vec<bool>, DataError> {
        if let Some(store) = self.stores.get(&site) {
            let mut out = Vec::with_capacity(hashes.len());
            for h in hashes {
                out.push(store.holds(h).await?);
            }
            return Ok(out);
        }
        let remote = self
            .remotes
            .get(&site)
            .ok_or(DataError::UnknownSite(site))?;
        let mut out = Vec::with_capacity(hashes.len());
        for batch in hashes.chunks(HAS_BATCH) {
            out.extend(remote.has(batch).await?);
        }
        Ok(out)
    }

    /// One hop of a plan: reads the chunk at `from` (from `from_area`),
    /// carries it over
    /// `link` alone, and stores it at `to` in `to_area`, verified. A chunk
    /// already stored at `to` is not carried again (0 bytes).
    pub async fn forward(
        &self,
        (from, from_area): (u32, Area),
        (to, to_area): (u32, Area),
        link: LinkId,
        hash: &ChunkHash,
    ) -> Result<u64, DataError> {
        let dst = self.store(to)?;
        if to_area == Area::Chunks && dst.has_verified(hash).await? {
            return Ok(0);
        }
        let data = match (self.stores.get(&from), self.remotes.get(&from)) {
            (Some(store), _) => store.get_in(from_area, hash).await?,
            (None, Some(remote)) => remote.read_in(from_area, hash).await?,
            (None, None) => return Err(DataError::UnknownSite(from)),
        };
        self.links.carry(&[link], data.len()).await;
        let n = data.len() as u64;
        dst.put_in(to_area, data).await?;
        Ok(n)
    }

    /// Holders ordered for a reader at `reader`: itself first, then by the
    /// bandwidth of the route to the reader, fastest first.
    fn order_holders(&self, reader: u32, holders: &[u32]) -> Vec<u32> {
        let mut v: Vec<(u64, u32)> = holders
            .iter()
            .map(|h| {
                let bw = self
                    .topology
                    .route(SiteId(*h), SiteId(reader))
                    .map(|r| r.bottleneck_bps)
                    .unwrap_or(0);
                (bw, *h)
            })
            .collect();
        v.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        v.dedup_by_key(|x| x.1);
        v.into_iter().map(|(_, h)| h).collect()
    }
}

#[async_trait]
impl ChunkStore for DataPlane {
    async fn put_chunk(&self, site: u32, chunk: Chunk) -> Result<(), CoreError> {
        Ok(self.store(site)?.put(chunk).await?)
    }

    async fn keep_fresh(
        &self,
        site: u32,
        hashes: &[ChunkHash],
        written: std::time::Instant,
    ) -> Result<(), CoreError> {
        if self.clock.instant().saturating_duration_since(written) < self.gc.write_window() {
            return Ok(());
        }
        let store = self.store(site)?;
        for h in hashes {
            if !store.freshen(h).await? {
                return Err(CoreError::Unavailable(format!(
                    "chunk {} was reclaimed while the upload was in progress; retry",
                    hex::encode(h)
                )));
            }
        }
        Ok(())
    }

    async fn read_chunk(
        &self,
        reader_site: u32,
        holders: &[u32],
        hash: &ChunkHash,
        size: u32,
    ) -> Result<Bytes, CoreError> {
        let mut failures = Vec::new();
        let mut elsewhere = Vec::new();
        let mut transient = true;
        for h in self.order_holders(reader_site, holders) {
            if !self.stores.contains_key(&h) && !self.remotes.contains_key(&h) {
                // Held by a data node this node has no address for.
                elsewhere.push(self.topology.name(SiteId(h)));
                continue;
            }
            match self.fetch(h, reader_site, hash).await {
                Ok(d) if d.len() == size as usize => return Ok(d.into_data()),
                Ok(d) => {
                    transient = false;
                    failures.push(format!(
                        "{}: {} bytes, expected {size}",
                        self.topology.name(SiteId(h)),
                        d.len()
                    ));
                }
                Err(e) => {
                    tracing::warn!(site = %self.topology.name(SiteId(h)), error = %e, "chunk read failed; trying the next replica");
                    // A replica that is missing or wrong is a fault in the
                    // data; a node or store that does not answer is not.
                    transient &= !matches!(e, DataError::Corrupt { .. } | DataError::NotFound(..));
                    failures.push(e.to_string());
                }
            }
        }
        if !failures.is_empty() && transient {
            return Err(CoreError::Unavailable(format!(
                "chunk {}: no replica reachable now ({})",
                hex::encode(hash),
                failures.join("; ")
            )));
        }
        if failures.is_empty() && !elsewhere.is_empty() {
            return Err(CoreError::Unavailable(format!(
                "chunk {} is held only at {}, whose data nodes this node has no address for",
                hex::encode(hash),
                elsewhere.join(", ")
            )));
        }
        if failures.is_empty() {
            return Err(CoreError::Unavailable(format!(
                "no complete replica of chunk {}",
                hex::encode(hash)
            )));
        }
        Err(CoreError::Corrupt(format!(
            "chunk {}: no good replica ({})",
            hex::encode(hash),
            failures.join("; ")
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dev_config::DEFAULT_TOPOLOGY;

    fn plane(dir: &Path) -> DataPlane {
        let t = Arc::new(Topology::from_toml(DEFAULT_TOPOLOGY, "t").expect("topology"));
        DataPlane::open_local(t, dir, 1000.0, meridian_core::clock::system()).expect("open")
    }

    #[tokio::test]
    async fn put_verifies_and_get_detects_corruption() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = plane(dir.path());
        let data = Bytes::from(vec![7u8; 100_000]);
        let hash = *blake3::hash(&data).as_bytes();
        let wrong = [0u8; 32];
        assert!(matches!(
            verified(&wrong, "incoming", data.clone()).await,
            Err(DataError::Corrupt { .. })
        ));
        p.store(1)
            .expect("site")
            .put(Chunk::hash_of(data.clone()))
            .await
            .expect("put");
        assert_eq!(
            p.store(1)
                .expect("site")
                .get(&hash)
                .await
                .expect("get")
                .into_data(),
            data
        );
        // Corrupt the file on disk: the read must refuse it.
        let hex = hex::encode(hash);
        let path = dir
            .path()
            .join("sites/Beijing/chunks")
            .join(&hex[..2])
            .join(&hex);
        let mut bytes = std::fs::read(&path).expect("read file");
        bytes[500] ^= 0xFF;
        std::fs::write(&path, bytes).expect("write file");
        assert!(matches!(
            p.store(1).expect("site").get(&hash).await,
            Err(DataError::Corrupt { .. })
        ));
    }

    #[tokio::test]
    async fn read_falls_back_to_another_replica() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = plane(dir.path());
        let data = Bytes::from(vec![3u8; 70_000]);
        let hash = *blake3::hash(&data).as_bytes();
        p.put_chunk(1, Chunk::hash_of(data.clone()))
            .await
            .expect("put");
        p.copy_chunk(1, 2, &hash).await.expect("copy");
        let hex = hex::encode(hash);
        std::fs::write(
            dir.path()
                .join("sites/Beijing/chunks")
                .join(&hex[..2])
                .join(&hex),
            b"garbage",
        )
        .expect("corrupt");
        let got = p
            .read_chunk(1, &[1, 2], &hash, 70_000)
            .await
            .expect("fallback");
        assert_eq!(got, data);
        let err = p
            .read_chunk(1, &[1], &hash, 70_000)
            .await
            .expect_err("only a bad copy");
        assert!(matches!(err, CoreError::Corrupt(_)), "{err:?}");
    }
}
