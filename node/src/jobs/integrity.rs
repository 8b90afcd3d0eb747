//! The scrubber's and the audit's view of the catalogue
//! (`meridian_data::scrub::ScrubCatalogue`, `meridian_data::audit::AuditCatalogue`)
//! over the metadata group: the walk over a site's complete replicas reads
//! this process's replica of the catalogue (a stale page only means a
//! replica looked at that no longer exists, and a report naming its version
//! is then refused as stale); damage, progress and reports go through Raft.

use std::sync::Arc;

use async_trait::async_trait;
use meridian_core::records::ReplicaState;
use meridian_core::{ChunkHash, SharedClock};
use meridian_data::audit::{AuditCatalogue, RefState, Report, Request};
use meridian_data::scrub::{Cursor, Damage, Page, Progress, Replica, ScrubCatalogue};
use meridian_meta::catalogue::ListItem;
use meridian_meta::{MetaError, Outcome};
use meridian_proto::v1::command::Op;
use meridian_proto::v1::save_integrity_cmd::What;
use meridian_proto::v1::{
    AuditReport, AuditRequest, ChunkRef, GcOfferCmd, SaveIntegrityCmd, ScrubProgress,
    SetReplicaStateCmd,
};

use crate::metagroup::MetaGroup;

/// Records looked at per call at most, matching or not, so that a site
/// holding few of a large catalogue's objects still answers in bounded time.
const SCAN: usize = 20_000;
const LIST_PAGE: usize = 1000;
/// Format of the integrity records.
const FORMAT: u32 = 1;

pub struct IntegrityCatalogue {
    meta: Arc<MetaGroup>,
    clock: SharedClock,
}

impl IntegrityCatalogue {
    pub fn new(meta: Arc<MetaGroup>, clock: SharedClock) -> Arc<Self> {
        Arc::new(IntegrityCatalogue { meta, clock })
    }

    async fn save_cmd(&self, what: What) -> Result<Outcome, String> {
        let cmd = meridian_meta::command(Op::SaveIntegrity(SaveIntegrityCmd { what: Some(what) }));
        self.meta.write_one(cmd).await.map_err(|e| e.to_string())
    }
}

fn err(e: MetaError) -> String {
    e.to_string()
}

pub fn progress_from(p: &ScrubProgress) -> Progress {
    Progress {
        pass: p.pass,
        pass_started_ms: p.pass_started_ms,
        cursor: (!p.cursor_bucket.is_empty()).then(|| Cursor {
            bucket: p.cursor_bucket.clone(),
            key: p.cursor_key.clone(),
        }),
        bytes_done: p.bytes_done,
        replicas_done: p.replicas_done,
        chunks_done: p.chunks_done,
        corrupt: p.corrupt,
        missing: p.missing,
        bytes_total: p.bytes_total,
        rate: p.rate_bytes_per_s,
        updated_ms: p.updated_ms,
        last_pass_finished_ms: p.last_pass_finished_ms,
        last_pass_ms: p.last_pass_ms,
        last_pass_bytes: p.last_pass_bytes,
        corrupt_total: p.corrupt_total,
        missing_total: p.missing_total,
    }
}

fn progress_to(site: u32, p: &Progress) -> ScrubProgress {
    let (cursor_bucket, cursor_key) = match &p.cursor {
        Some(c) => (c.bucket.clone(), c.key.clone()),
        None => (String::new(), String::new()),
    };
    ScrubProgress {
        format: FORMAT,
        site,
        pass: p.pass,
        pass_started_ms: p.pass_started_ms,
        cursor_bucket,
        cursor_key,
        bytes_done: p.bytes_done,
        replicas_done: p.replicas_done,
        chunks_done: p.chunks_done,
        corrupt: p.corrupt,
        missing: p.missing,
        bytes_total: p.bytes_total,
        rate_bytes_per_s: p.rate,
        updated_ms: p.updated_ms,
        last_pass_finished_ms: p.last_pass_finished_ms,
        last_pass_ms: p.last_pass_ms,
        last_pass_bytes: p.last_pass_bytes,
        corrupt_total: p.corrupt_total,
        missing_total: p.missing_total,
    }
}

fn report_to(r: &Report) -> AuditReport {
    AuditReport {
        format: FORMAT,
        site: r.site,
        bucket: r.bucket.clone(),
        request: r.request,
        started_ms: r.started_ms,
        finished_ms: r.finished_ms,
        replicas_checked: r.replicas_checked,
        chunks_checked: r.chunks_checked,
        lost_chunks: r.lost_chunks,
        lost_replicas: r.lost_replicas,
        lost_examples: r.lost_examples.clone(),
        unrecoverable: r.unrecoverable,
        dark_chunks: r.dark_chunks,
        dark_bytes: r.dark_bytes,
        dark_queued: r.dark_queued,
        legacy_refs: r.legacy_refs,
        legacy_examples: r.legacy_examples.clone(),
        foreign_files: r.foreign_files,
        truncated: r.truncated,
        error: r.error.clone(),
        files_checked: r.files_checked,
    }
}

#[async_trait]
impl ScrubCatalogue for IntegrityCatalogue {
    async fn replicas(
        &self,
        site: u32,
        bucket: Option<&str>,
        after: Option<&Cursor>,
        limit: usize,
    ) -> Result<Page, String> {
        let reader = self.meta.reader();
        let mut page = Page::default();
        let mut scanned = 0usize;
        let buckets = reader.buckets().map_err(err)?;
        for b in buckets {
            if bucket.is_some_and(|want| want != b.name) {
                continue;
            }
            let mut start: Option<String> = match after {
                Some(c) if b.name < c.bucket => continue,
                Some(c) if b.name == c.bucket => Some(c.key.clone()),
                _ => None,
            };
            loop {
                let list = reader
                    .list(b.id, "", None, start.as_deref(), LIST_PAGE)
                    .map_err(err)?;
                for item in list.items {
                    let ListItem::Object { key, record } = item else {
                        continue;
                    };
                    scanned += 1;
                    let complete = record
                        .replicas
                        .iter()
                        .any(|r| r.site == site && r.state == ReplicaState::Complete);
                    if complete {
                        page.replicas.push(Replica {
                            bucket: b.name.clone(),
                            key: key.clone(),
                            version_id: record.version_id.clone(),
                            chunks: record.chunks.iter().map(|c| (c.hash, c.size)).collect(),
                        });
                    }
                    if page.replicas.len() >= limit || scanned >= SCAN {
                        page.next = Some(Cursor {
                            bucket: b.name.clone(),
                            key,
                        });
                        return Ok(page);
                    }
                    start = Some(key);
                }
                if !list.truncated {
                    break;
                }
            }
        }
        Ok(page)
    }

    async fn damaged(&self, site: u32, replica: &Replica, _damage: Damage) -> Result<bool, String> {
        let now_ms = self.clock.now_ms();
        let cmd = meridian_meta::command(Op::SetReplicaState(SetReplicaStateCmd {
            bucket: replica.bucket.clone(),
            key: replica.key.clone(),
            version_id: replica.version_id.clone(),
            site,
            state: meridian_proto::v1::ReplicaState::Suspect as i32,
            now_ms,
        }));
        match self.meta.write_one(cmd).await {
            Ok(Outcome::Done) => Ok(true),
            // Another version now, or no longer complete (being repaired
            // already): nothing to do.
            Ok(Outcome::Stale | Outcome::Rejected { .. }) | Err(MetaError::Rejected { .. }) => {
                Ok(false)
            }
            Ok(other) => Err(format!("unexpected outcome {other:?}")),
            Err(e) => Err(err(e)),
        }
    }

    async fn load(&self, site: u32) -> Result<Option<Progress>, String> {
        let reader = self.meta.read_barrier().await.map_err(err)?;
        Ok(reader
            .scrub_progress(site)
            .map_err(err)?
            .as_ref()
            .map(progress_from))
    }

    async fn save(&self, site: u32, progress: &Progress) -> Result<(), String> {
        self.save_cmd(What::Scrub(progress_to(site, progress)))
            .await
            .map(|_| ())
    }

    async fn site_bytes(&self, site: u32) -> Result<u64, String> {
        Ok(self.meta.reader().site_counter(site).map_err(err)?.bytes)
    }
}

#[async_trait]
impl AuditCatalogue for IntegrityCatalogue {
    async fn refs(&self, site: u32, hashes: &[ChunkHash]) -> Result<Vec<RefState>, String> {
        // After a barrier: a reference committed before the audit's look at
        // the file is seen, so a chunk just written and committed is not
        // taken for dark data (and if it were, the offer would not queue it).
        let reader = self.meta.read_barrier().await.map_err(err)?;
        hashes
            .iter()
            .map(|h| {
                Ok(RefState {
                    refs: reader.chunk_refs(site, h)?,
                    queued: reader.gc_queued(site, h)?,
                })
            })
            .collect::<Result<_, MetaError>>()
            .map_err(err)
    }

    async fn offer(&self, site: u32, chunks: &[(ChunkHash, u32)]) -> Result<(), String> {
        let cmd = meridian_meta::command(Op::GcOffer(GcOfferCmd {
            site,
            chunks: chunks
                .iter()
                .map(|(h, size)| ChunkRef {
                    hash: h.to_vec(),
                    size: *size,
                })
                .collect(),
        }));
        self.meta.write_one(cmd).await.map(|_| ()).map_err(err)
    }

    async fn unrecoverable(&self, site: u32, bucket: &str) -> Result<u64, String> {
        let reader = self.meta.reader();
        let bucket_id = if bucket.is_empty() {
            None
        } else {
            match reader.bucket(bucket).map_err(err)? {
                Some(b) => Some(b.id),
                None => return Ok(0),
            }
        };
        let mut lost = 0u64;
        let mut after: Option<(u64, String)> = None;
        loop {
            let page = reader
                .damaged(
                    site,
                    after.as_ref().map(|(b, k)| (*b, k.as_str())),
                    LIST_PAGE,
                )
                .map_err(err)?;
            let Some(last) = page.last().cloned() else {
                return Ok(lost);
            };
            for (b, key) in &page {
                if bucket_id.is_some_and(|want| want != *b) {
                    continue;
                }
                if let Some(rec) = reader.object(*b, key).map_err(err)? {
                    let is_lost = rec
                        .replicas
                        .iter()
                        .any(|r| r.site == site && r.state == ReplicaState::Lost);
                    lost += u64::from(is_lost);
                }
            }
            after = Some(last);
        }
    }

    async fn request(&self, site: u32) -> Result<Option<Request>, String> {
        let reader = self.meta.reader();
        Ok(reader.audit_request(site).map_err(err)?.map(|r| Request {
            site: r.site,
            bucket: r.bucket,
            id: r.id,
        }))
    }

    async fn answered(&self, site: u32, bucket: &str) -> Result<u64, String> {
        let reader = self.meta.reader();
        Ok(reader
            .audit_report(site, bucket)
            .map_err(err)?
            .map_or(0, |r| r.request))
    }

    async fn save_report(&self, report: &Report) -> Result<(), String> {
        self.save_cmd(What::Audit(report_to(report)))
            .await
            .map(|_| ())
    }
}

/// Asks for an audit of `site` (of `bucket`, or the whole site); its id.
pub async fn request_audit(
    meta: &MetaGroup,
    site: u32,
    bucket: &str,
    now_ms: i64,
) -> Result<u64, MetaError> {
    let reader = meta.read_barrier().await?;
    // Ids increase even if two askers' clocks disagree.
    let last = reader.audit_request(site)?.map_or(0, |r| r.id);
    let id = (now_ms.max(0) as u64).max(last + 1);
    let cmd = meridian_meta::command(Op::SaveIntegrity(SaveIntegrityCmd {
        what: Some(What::AuditRequest(AuditRequest {
            site,
            bucket: bucket.to_string(),
            id,
            requested_ms: now_ms,
        })),
    }));
    meta.write_one(cmd).await?;
    Ok(id)
}
