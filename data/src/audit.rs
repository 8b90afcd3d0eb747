//! The audit: one site's chunk store against the catalogue, on request.
//!
//! - Lost data: a chunk a complete replica lists whose file is absent (or,
//!   looked at again under its lock, unreadable as that chunk). The replica
//!   is reported damaged and repaired like one the scrubber found.
//! - Uncounted references: a chunk a replica lists with no reference
//!   counted at the site, as a catalogue written before counting existed
//!   has them. Reported with examples; not repaired: an exact recount
//!   needs a walk at one log index, and a wrong count would let the
//!   collector remove a referenced chunk.
//! - Dark data: a chunk file no replica or part references and that is not
//!   already queued. It is offered for reclaiming (`GcOffer`), which queues
//!   it only if nothing references it when the offer applies; the
//!   collector then removes it after the grace period as any other
//!   unreferenced chunk, so the collector's safety argument is unchanged.
//!
//! The audit reads and stats; it hashes nothing (the scrubber does).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use meridian_core::chunks::ChunkHash;
use tokio::sync::watch;

use crate::check::ChunkCheck;
use crate::error::DataError;
use crate::plane::DataPlane;
use crate::scrub::{Cursor, Damage, ScrubCatalogue};
use crate::store::SiteStore;

/// Examples a report names at most, of each kind.
pub const MAX_EXAMPLES: usize = 20;
/// Replicas and files an audit looks at most (a report says if it stopped
/// there).
const MAX_ITEMS: u64 = 1 << 32;
const PAGE: usize = 256;
const FILES_PAGE: usize = 1000;
/// Hashes per reference query.
const REFS_BATCH: usize = 4096;
/// How often the auditor looks for requests.
const POLL: Duration = Duration::from_secs(2);

/// What the catalogue counts for a chunk at a site.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefState {
    pub refs: u64,
    pub queued: bool,
}

/// An audit asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub site: u32,
    /// Empty: the whole site (dark data is looked for only then).
    pub bucket: String,
    pub id: u64,
}

/// What an audit found (the catalogue's `AuditReport`, in plain Rust).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub site: u32,
    pub bucket: String,
    pub request: u64,
    pub started_ms: i64,
    pub finished_ms: i64,
    pub replicas_checked: u64,
    pub chunks_checked: u64,
    pub files_checked: u64,
    pub lost_chunks: u64,
    pub lost_replicas: u64,
    pub lost_examples: Vec<String>,
    pub unrecoverable: u64,
    pub dark_chunks: u64,
    pub dark_bytes: u64,
    pub dark_queued: u64,
    pub legacy_refs: u64,
    pub legacy_examples: Vec<String>,
    pub foreign_files: u64,
    pub truncated: bool,
    pub error: String,
}

#[async_trait]
pub trait AuditCatalogue: ScrubCatalogue {
    async fn refs(&self, site: u32, hashes: &[ChunkHash]) -> Result<Vec<RefState>, String>;
    /// Offers chunks nothing may reference for reclaiming.
    async fn offer(&self, site: u32, chunks: &[(ChunkHash, u32)]) -> Result<(), String>;
    /// Replicas at `site` (of `bucket`) in state lost: no healthy copy was
    /// left to repair them from.
    async fn unrecoverable(&self, site: u32, bucket: &str) -> Result<u64, String>;
    async fn request(&self, site: u32) -> Result<Option<Request>, String>;
    /// The request the last report of (site, bucket) answered (0: none).
    async fn answered(&self, site: u32, bucket: &str) -> Result<u64, String>;
    async fn save_report(&self, report: &Report) -> Result<(), String>;
}

fn example(list: &mut Vec<String>, what: String) {
    if list.len() < MAX_EXAMPLES {
        list.push(what);
    }
}

/// Audits one site (or one bucket of it).
pub async fn audit(
    catalogue: &dyn AuditCatalogue,
    store: &SiteStore,
    req: &Request,
    now_ms: impl Fn() -> i64,
) -> Report {
    let mut r = Report {
        site: req.site,
        bucket: req.bucket.clone(),
        request: req.id,
        started_ms: now_ms(),
        ..Report::default()
    };
    if let Err(e) = walk_replicas(catalogue, store, req, &mut r).await {
        r.error = e.to_string();
    } else if req.bucket.is_empty() {
        if let Err(e) = walk_files(catalogue, store, req.site, &mut r).await {
            r.error = e.to_string();
        }
    }
    match catalogue.unrecoverable(req.site, &req.bucket).await {
        Ok(n) => r.unrecoverable = n,
        Err(e) if r.error.is_empty() => r.error = format!("the catalogue: {e}"),
        Err(_) => {}
    }
    r.finished_ms = now_ms();
    r
}

async fn walk_replicas(
    catalogue: &dyn AuditCatalogue,
    store: &SiteStore,
    req: &Request,
    r: &mut Report,
) -> Result<(), AuditError> {
    let bucket = (!req.bucket.is_empty()).then_some(req.bucket.as_str());
    let mut after: Option<Cursor> = None;
    loop {
        let page = catalogue
            .replicas(req.site, bucket, after.as_ref(), PAGE)
            .await
            .map_err(AuditError::Catalogue)?;
        let mut hashes: Vec<ChunkHash> = Vec::new();
        for rep in &page.replicas {
            r.replicas_checked += 1;
            let mut lost = false;
            for (hash, _) in &rep.chunks {
                r.chunks_checked += 1;
                hashes.push(*hash);
                if store.exists(hash).await? {
                    continue;
                }
                // Absent: look again under the chunk's lock before saying so.
                if let ChunkCheck::Intact(_) = store.set_aside(hash).await? {
                    continue;
                }
                r.lost_chunks += 1;
                lost = true;
            }
            if lost {
                let taken = catalogue
                    .damaged(req.site, rep, Damage::Missing)
                    .await
                    .map_err(AuditError::Catalogue)?;
                if taken {
                    r.lost_replicas += 1;
                    example(&mut r.lost_examples, format!("{}/{}", rep.bucket, rep.key));
                }
            }
            if hashes.len() >= REFS_BATCH {
                legacy(catalogue, req.site, &page.replicas, &mut hashes, r).await?;
            }
        }
        legacy(catalogue, req.site, &page.replicas, &mut hashes, r).await?;
        if r.replicas_checked >= MAX_ITEMS {
            r.truncated = true;
            return Ok(());
        }
        match page.next {
            Some(c) => after = Some(c),
            None => return Ok(()),
        }
    }
}

/// Counts the chunks of `hashes` that no reference at the site accounts for.
async fn legacy(
    catalogue: &dyn AuditCatalogue,
    site: u32,
    replicas: &[crate::scrub::Replica],
    hashes: &mut Vec<ChunkHash>,
    r: &mut Report,
) -> Result<(), AuditError> {
    if hashes.is_empty() {
        return Ok(());
    }
    let states = catalogue
        .refs(site, hashes)
        .await
        .map_err(AuditError::Catalogue)?;
    for (hash, st) in hashes.iter().zip(states) {
        if st.refs == 0 {
            r.legacy_refs += 1;
            if r.legacy_examples.len() < MAX_EXAMPLES {
                let of = replicas
                    .iter()
                    .find(|x| x.chunks.iter().any(|(h, _)| h == hash))
                    .map(|x| format!("{}/{}", x.bucket, x.key))
                    .unwrap_or_default();
                example(
                    &mut r.legacy_examples,
                    format!("{} in {of}", hex::encode(hash)),
                );
            }
        }
    }
    hashes.clear();
    Ok(())
}

async fn walk_files(
    catalogue: &dyn AuditCatalogue,
    store: &SiteStore,
    site: u32,
    r: &mut Report,
) -> Result<(), AuditError> {
    let mut after: Option<String> = None;
    loop {
        let files = store.chunk_files(after.as_deref(), FILES_PAGE).await?;
        let Some(last) = files.last() else {
            return Ok(());
        };
        after = Some(last.name.clone());
        let chunks: Vec<(ChunkHash, u64)> = files
            .iter()
            .filter_map(|f| f.hash.map(|h| (h, f.size)))
            .collect();
        r.foreign_files += (files.len() - chunks.len()) as u64;
        r.files_checked += files.len() as u64;
        let hashes: Vec<ChunkHash> = chunks.iter().map(|(h, _)| *h).collect();
        let states = catalogue
            .refs(site, &hashes)
            .await
            .map_err(AuditError::Catalogue)?;
        let dark: Vec<(ChunkHash, u32)> = chunks
            .iter()
            .zip(states)
            .filter(|(_, st)| st.refs == 0 && !st.queued)
            .map(|((h, size), _)| (*h, u32::try_from(*size).unwrap_or(u32::MAX)))
            .collect();
        if !dark.is_empty() {
            r.dark_chunks += dark.len() as u64;
            r.dark_bytes += dark.iter().map(|(_, s)| u64::from(*s)).sum::<u64>();
            catalogue
                .offer(site, &dark)
                .await
                .map_err(AuditError::Catalogue)?;
            r.dark_queued += dark.len() as u64;
        }
        if r.files_checked >= MAX_ITEMS {
            r.truncated = true;
            return Ok(());
        }
    }
}

/// Runs the audits asked of this process's sites (a request is in the
/// catalogue, so it can be made at any node and survives restarts).
pub struct Auditor {
    catalogue: Arc<dyn AuditCatalogue>,
    data: Arc<DataPlane>,
}

impl Auditor {
    pub fn new(catalogue: Arc<dyn AuditCatalogue>, data: Arc<DataPlane>) -> Arc<Self> {
        Arc::new(Auditor { catalogue, data })
    }

    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        loop {
            for site in self.data.local_sites() {
                if let Err(e) = self.serve(site).await {
                    tracing::warn!(site, error = %e, "audit request not served; retrying");
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(POLL) => {}
                _ = shutdown.changed() => {}
            }
            if *shutdown.borrow() {
                return;
            }
        }
    }

    async fn serve(&self, site: u32) -> Result<(), AuditError> {
        let Some(req) = self
            .catalogue
            .request(site)
            .await
            .map_err(AuditError::Catalogue)?
        else {
            return Ok(());
        };
        let answered = self
            .catalogue
            .answered(site, &req.bucket)
            .await
            .map_err(AuditError::Catalogue)?;
        if answered >= req.id {
            return Ok(());
        }
        let store = self.data.store(site)?;
        let clock = self.data.clock().clone();
        tracing::info!(site, bucket = %req.bucket, "audit begins");
        let report = audit(self.catalogue.as_ref(), store, &req, || clock.now_ms()).await;
        tracing::info!(
            site,
            bucket = %req.bucket,
            lost = report.lost_chunks,
            dark = report.dark_chunks,
            legacy = report.legacy_refs,
            error = %report.error,
            "audit finished"
        );
        self.catalogue
            .save_report(&report)
            .await
            .map_err(AuditError::Catalogue)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error(transparent)]
    Data(#[from] DataError),
    #[error("the catalogue: {0}")]
    Catalogue(String),
}
