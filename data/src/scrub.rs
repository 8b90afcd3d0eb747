//! The scrubber: at each site this process keeps, a walk over the site's
//! complete replicas (bucket, then key order) that re-reads and re-hashes
//! every chunk they list, at a bounded rate so that it never starves
//! client traffic. A chunk found missing or corrupt is confirmed under its
//! lock, a corrupt file is set aside (`crate::check`), and the replica is
//! reported damaged; the catalogue marks it suspect and the repair job
//! has it copied again from a healthy replica through the normal transfer
//! path. The walk's place is saved through the catalogue every few
//! seconds, so a restarted scrubber resumes near where it stopped and any
//! node can report every site's progress.
//!
//! The catalogue side is behind [`ScrubCatalogue`], which the node
//! implements over the metadata group.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use meridian_core::chunks::ChunkHash;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::check::ChunkCheck;
use crate::error::DataError;
use crate::plane::DataPlane;

/// How fast, and how often, a site is scrubbed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScrubConfig {
    /// Bytes re-read per second at each site; 0 turns the scrubber off.
    pub rate: u64,
    /// Pause after a full pass before the next begins.
    pub rest: Duration,
    /// How often the walk's place is saved.
    pub save_every: Duration,
}

impl Default for ScrubConfig {
    fn default() -> Self {
        ScrubConfig {
            rate: 32 << 20,
            rest: Duration::from_secs(3600),
            save_every: Duration::from_secs(2),
        }
    }
}

/// A complete replica at a site, as the walk sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replica {
    pub bucket: String,
    pub key: String,
    pub version_id: String,
    pub chunks: Vec<(ChunkHash, u32)>,
}

/// A place in the walk: the last replica looked at.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cursor {
    pub bucket: String,
    pub key: String,
}

/// One page of the walk; `next: None` once the walk is at its end.
#[derive(Debug, Clone, Default)]
pub struct Page {
    pub replicas: Vec<Replica>,
    pub next: Option<Cursor>,
}

/// What was wrong with a replica's chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Damage {
    Missing,
    Corrupt,
}

/// Where a site's scrub is (the catalogue's `ScrubProgress`, in plain Rust).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Progress {
    pub pass: u64,
    pub pass_started_ms: i64,
    pub cursor: Option<Cursor>,
    pub bytes_done: u64,
    pub replicas_done: u64,
    pub chunks_done: u64,
    pub corrupt: u64,
    pub missing: u64,
    pub bytes_total: u64,
    pub rate: u64,
    pub updated_ms: i64,
    pub last_pass_finished_ms: i64,
    pub last_pass_ms: u64,
    pub last_pass_bytes: u64,
    /// Found since the first pass, this one included.
    pub corrupt_total: u64,
    pub missing_total: u64,
}

/// The catalogue as the scrubber and the audit need it.
#[async_trait]
pub trait ScrubCatalogue: Send + Sync + 'static {
    /// Complete replicas at `site` after `after`, at most `limit`
    /// (`bucket`: that bucket only).
    async fn replicas(
        &self,
        site: u32,
        bucket: Option<&str>,
        after: Option<&Cursor>,
        limit: usize,
    ) -> Result<Page, String>;
    /// Reports a damaged replica; whether the catalogue took it (false: the
    /// key holds another version now, or the replica is no longer complete).
    async fn damaged(&self, site: u32, replica: &Replica, damage: Damage) -> Result<bool, String>;
    async fn load(&self, site: u32) -> Result<Option<Progress>, String>;
    async fn save(&self, site: u32, progress: &Progress) -> Result<(), String>;
    /// Bytes of complete replicas at `site`: what a pass has to read.
    async fn site_bytes(&self, site: u32) -> Result<u64, String>;
}

/// Replicas read per page of the walk.
const PAGE: usize = 256;
/// Pause before retrying after the catalogue or the disk failed.
const RETRY: Duration = Duration::from_secs(5);

/// Paces reads to `rate` bytes per second. A reader that fell behind (a
/// slow disk) does not burst to catch up: the schedule restarts.
struct Pacer {
    rate: u64,
    since: Instant,
    bytes: u64,
}

impl Pacer {
    fn new(rate: u64) -> Self {
        Pacer {
            rate,
            since: Instant::now(),
            bytes: 0,
        }
    }

    async fn take(&mut self, bytes: u64) {
        self.bytes += bytes;
        let due = self.since + Duration::from_secs_f64(self.bytes as f64 / self.rate as f64);
        let now = Instant::now();
        if due > now {
            tokio::time::sleep_until(due).await;
        } else if now - due > Duration::from_secs(1) {
            self.since = now;
            self.bytes = 0;
        }
    }
}

/// The scrubbers of this process's sites.
pub struct Scrubber {
    catalogue: Arc<dyn ScrubCatalogue>,
    data: Arc<DataPlane>,
    config: ScrubConfig,
}

impl Scrubber {
    pub fn new(
        catalogue: Arc<dyn ScrubCatalogue>,
        data: Arc<DataPlane>,
        config: ScrubConfig,
    ) -> Arc<Self> {
        Arc::new(Scrubber {
            catalogue,
            data,
            config,
        })
    }

    /// Scrubs every local site, each in its own task, until shutdown.
    pub async fn run(self: Arc<Self>, shutdown: watch::Receiver<bool>) {
        if self.config.rate == 0 {
            return;
        }
        let mut tasks = tokio::task::JoinSet::new();
        for site in self.data.local_sites() {
            tasks.spawn(self.clone().site_loop(site, shutdown.clone()));
        }
        while tasks.join_next().await.is_some() {}
    }

    async fn site_loop(self: Arc<Self>, site: u32, mut shutdown: watch::Receiver<bool>) {
        loop {
            let pause = match self.pass(site, &mut shutdown).await {
                Ok(true) => self.config.rest,
                Ok(false) => return,
                Err(e) => {
                    tracing::warn!(site, error = %e, "scrub pass stopped; retrying");
                    RETRY
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = shutdown.changed() => {}
            }
            if *shutdown.borrow() {
                return;
            }
        }
    }

    /// Goes on with (or begins) a pass over `site`. `Ok(false)`: stopped
    /// for shutdown (its place saved).
    async fn pass(
        &self,
        site: u32,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<bool, ScrubError> {
        let store = self.data.store(site)?;
        let clock = self.data.clock().clone();
        let mut p = self
            .catalogue
            .load(site)
            .await
            .map_err(ScrubError::Catalogue)?
            .unwrap_or_default();
        if p.pass == 0 || p.cursor.is_none() && p.last_pass_finished_ms >= p.pass_started_ms {
            // Nothing begun, or the last pass finished: begin the next.
            let finished = p.clone();
            p = Progress {
                pass: finished.pass + 1,
                pass_started_ms: clock.now_ms(),
                last_pass_finished_ms: finished.last_pass_finished_ms,
                last_pass_ms: finished.last_pass_ms,
                last_pass_bytes: finished.last_pass_bytes,
                corrupt_total: finished.corrupt_total,
                missing_total: finished.missing_total,
                ..Progress::default()
            };
        }
        p.rate = self.config.rate;
        p.bytes_total = self
            .catalogue
            .site_bytes(site)
            .await
            .map_err(ScrubError::Catalogue)?;
        let mut pacer = Pacer::new(self.config.rate);
        let mut saved = Instant::now();
        loop {
            let page = self
                .catalogue
                .replicas(site, None, p.cursor.as_ref(), PAGE)
                .await
                .map_err(ScrubError::Catalogue)?;
            for r in &page.replicas {
                for (hash, size) in &r.chunks {
                    pacer.take(u64::from(*size)).await;
                    let found = match store.check(hash).await? {
                        ChunkCheck::Intact(n) => {
                            p.bytes_done += n;
                            None
                        }
                        ChunkCheck::Missing | ChunkCheck::Corrupt { .. } => {
                            match store.set_aside(hash).await? {
                                ChunkCheck::Intact(n) => {
                                    p.bytes_done += n;
                                    None
                                }
                                ChunkCheck::Missing => Some(Damage::Missing),
                                ChunkCheck::Corrupt { .. } => Some(Damage::Corrupt),
                            }
                        }
                    };
                    p.chunks_done += 1;
                    if let Some(d) = found {
                        let taken = self
                            .catalogue
                            .damaged(site, r, d)
                            .await
                            .map_err(ScrubError::Catalogue)?;
                        tracing::warn!(site, bucket = %r.bucket, key = %r.key, damage = ?d, taken, "damaged replica found by the scrubber");
                        if taken {
                            match d {
                                Damage::Missing => {
                                    p.missing += 1;
                                    p.missing_total += 1;
                                }
                                Damage::Corrupt => {
                                    p.corrupt += 1;
                                    p.corrupt_total += 1;
                                }
                            }
                        }
                        // The replica is suspect now; its other chunks are
                        // the repair's business.
                        break;
                    }
                }
                p.replicas_done += 1;
                p.cursor = Some(Cursor {
                    bucket: r.bucket.clone(),
                    key: r.key.clone(),
                });
                if saved.elapsed() >= self.config.save_every || *shutdown.borrow() {
                    p.updated_ms = clock.now_ms();
                    self.catalogue
                        .save(site, &p)
                        .await
                        .map_err(ScrubError::Catalogue)?;
                    saved = Instant::now();
                    if *shutdown.borrow() {
                        return Ok(false);
                    }
                }
            }
            match page.next {
                Some(c) => p.cursor = Some(c),
                None => break,
            }
        }
        let now = clock.now_ms();
        p.cursor = None;
        p.last_pass_finished_ms = now.max(p.pass_started_ms);
        p.last_pass_ms = u64::try_from(now - p.pass_started_ms).unwrap_or(0);
        p.last_pass_bytes = p.bytes_done;
        p.updated_ms = now;
        self.catalogue
            .save(site, &p)
            .await
            .map_err(ScrubError::Catalogue)?;
        tracing::info!(
            site,
            pass = p.pass,
            bytes = p.bytes_done,
            corrupt = p.corrupt,
            missing = p.missing,
            "scrub pass finished"
        );
        Ok(true)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ScrubError {
    #[error(transparent)]
    Data(#[from] DataError),
    #[error("the catalogue: {0}")]
    Catalogue(String),
}
