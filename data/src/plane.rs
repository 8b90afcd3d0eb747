//! Every site's chunks as one plane: the stores this process keeps, the
//! other processes' data nodes (`crate::remote`), copies between sites
//! through the links' rate limits (`crate::links`), and reads that fall
//! back to the next replica. It is the core's `ChunkStore`.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use meridian_core::chunks::{ChunkHash, ChunkStore};
use meridian_core::{Chunk, CoreError, SharedClock};
use meridian_placement::{LinkId, SiteId, Topology};

use crate::error::DataError;
use crate::gc_config::GcConfig;
use crate::links::Links;
use crate::remote::RemoteSite;
use crate::scrub::ScrubConfig;
use crate::store::{Area, SiteStore};

/// Hashes per HasChunks call (the data node's bound is larger).
const HAS_BATCH: usize = 256;

/// Every site's store and the links between them.
pub struct DataPlane {
    topology: Arc<Topology>,
    stores: BTreeMap<u32, SiteStore>,
    /// Sites whose chunks another process keeps (`meridian node`).
    remotes: BTreeMap<u32, RemoteSite>,
    links: Arc<Links>,
    gc: GcConfig,
    scrub: ScrubConfig,
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
            scrub: ScrubConfig::default(),
            clock,
        })
    }

    /// Reads chunks of `site` from the data node at `addr` (another
    /// process), over the cluster port's mutual TLS.
    pub fn with_remote(
        mut self,
        site: u32,
        addr: &str,
        tls: &meridian_tls::ClusterTls,
    ) -> Result<Self, DataError> {
        if self.stores.contains_key(&site) {
            return Ok(self);
        }
        let name = self.topology.name(SiteId(site));
        let remote = RemoteSite::new(&name, addr, tls).map_err(|message| DataError::Remote {
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
            scrub: ScrubConfig::default(),
            clock,
        })
    }

    /// The clock chunk ages, write windows and jobs read.
    pub fn clock(&self) -> &SharedClock {
        &self.clock
    }

    /// When unreferenced chunks may be reclaimed (crate::reclaim).
    pub fn with_gc(mut self, gc: GcConfig) -> Self {
        self.gc = gc;
        self
    }

    pub fn gc(&self) -> &GcConfig {
        &self.gc
    }

    /// How fast the scrubber reads (`crate::scrub`).
    pub fn with_scrub(mut self, scrub: ScrubConfig) -> Self {
        self.scrub = scrub;
        self
    }

    pub fn scrub(&self) -> &ScrubConfig {
        &self.scrub
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
    const DEFAULT_TOPOLOGY: &str = include_str!("../../node/config/topology.toml");

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
            crate::store::verified(&wrong, "incoming", data.clone()).await,
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
