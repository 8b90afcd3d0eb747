//! Bucket lifecycle rules carried out: current versions expired (a delete,
//! which makes a delete marker under versioning), noncurrent versions
//! removed some days after they stopped being current (keeping the newest
//! few if asked), delete markers removed once nothing else is left of
//! their key, and uploads aborted some days after they began.
//!
//! Runs on the metadata leader every `lifecycle_period`. A pass walks each
//! bucket that has rules, in version-listing order, at most
//! `lifecycle_walk` versions (100,000) at a time; a bucket too big for that is
//! resumed where it stopped by the next pass, which then follows after a
//! short pause instead of a whole period (a bucket of 100 million versions
//! is walked in about a thousand such passes). Every delete names what it saw (the
//! current version, or a version id), so an object written meanwhile is
//! left alone.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use meridian_core::catalogue::s3_version_id;
use meridian_core::lifecycle::{current_expired, noncurrent_expired, selects, upload_expired};
use meridian_core::records::{BucketRecord, LifecycleRule, ObjectRecord};
use meridian_meta::catalogue::VersionItem;
use meridian_meta::{MetaError, Outcome};
use meridian_proto::v1::command::Op;
use meridian_proto::v1::{AbortUploadCmd, DeleteObjectCmd};
use tokio::sync::watch;

use crate::metagroup::MetaGroup;

const PAGE: usize = 1000;
/// Uploads in progress looked at per bucket and pass.
const MAX_UPLOADS: usize = 10_000;
/// Pause between passes while a walk is unfinished: the leader's other
/// work gets its turn.
const CONTINUE_PAUSE: Duration = Duration::from_millis(200);

/// What the job has done since this node started.
#[derive(Debug, Default)]
pub struct LifecycleProgress {
    pub passes: AtomicU64,
    pub expired: AtomicU64,
    pub noncurrent_removed: AtomicU64,
    pub markers_removed: AtomicU64,
    pub uploads_aborted: AtomicU64,
}

pub struct Lifecycle {
    meta: Arc<MetaGroup>,
    clock: meridian_core::SharedClock,
    period: Duration,
    day_ms: i64,
    /// Versions looked at per bucket and pass.
    walk: usize,
    /// Bucket id -> where the next pass resumes: after this version id,
    /// within this key's walk.
    resume: Mutex<HashMap<u64, (String, KeyWalk)>>,
    pub progress: LifecycleProgress,
}

/// Where the walk is within one key's versions.
#[derive(Default, Clone)]
struct KeyWalk {
    key: String,
    /// Noncurrent versions of the key already passed (newer than the next).
    newer: u32,
    /// Creation time of the previous (newer) entry: when the next one
    /// stopped being current.
    prev_created_ms: i64,
    /// A delete marker that is the key's newest entry, while no other entry
    /// of the key has been seen.
    lone_marker: Option<String>,
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

impl Lifecycle {
    pub fn new(
        meta: Arc<MetaGroup>,
        clock: meridian_core::SharedClock,
        cfg: &meridian_data::GcConfig,
    ) -> Arc<Self> {
        Arc::new(Lifecycle {
            meta,
            clock,
            period: cfg.lifecycle_period,
            day_ms: i64::try_from(cfg.lifecycle_day.as_millis()).unwrap_or(i64::MAX),
            walk: cfg.lifecycle_walk.max(1),
            resume: Mutex::new(HashMap::new()),
            progress: LifecycleProgress::default(),
        })
    }

    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        loop {
            let s = self.meta.status();
            let mut pause = self.period;
            if s.leader == Some(s.node_id) {
                match self.pass().await {
                    Ok(unfinished) => {
                        bump(&self.progress.passes);
                        if unfinished {
                            pause = CONTINUE_PAUSE.min(self.period);
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "lifecycle pass failed; retrying"),
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = shutdown.changed() => {}
            }
            if *shutdown.borrow() {
                return;
            }
        }
    }

    /// One pass over every bucket with rules; true if a bucket's walk was
    /// cut short (the next pass goes on with it).
    async fn pass(&self) -> Result<bool, MetaError> {
        let mut unfinished = false;
        for b in self.meta.reader().buckets()? {
            let rules: Vec<LifecycleRule> =
                b.lifecycle.iter().filter(|r| r.enabled).cloned().collect();
            if rules.is_empty() {
                continue;
            }
            self.uploads(&b, &rules).await?;
            unfinished |= self.versions(&b, &rules).await?;
        }
        Ok(unfinished)
    }

    async fn write(&self, op: Op) -> Result<Option<Outcome>, MetaError> {
        match self.meta.write_one(meridian_meta::command(op)).await {
            Ok(o) => Ok(Some(o)),
            // Gone or changed meanwhile.
            Err(MetaError::Rejected { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn uploads(&self, b: &BucketRecord, rules: &[LifecycleRule]) -> Result<(), MetaError> {
        if !rules.iter().any(|r| r.abort_incomplete_upload_days > 0) {
            return Ok(());
        }
        let now = self.clock.now_ms();
        let reader = self.meta.reader();
        for id in reader.bucket_uploads(b.id, MAX_UPLOADS)? {
            let Some(u) = reader.upload(&id)? else {
                continue;
            };
            let due = rules.iter().any(|r| {
                selects(r, &u.key, None) && upload_expired(r, u.created_ms, now, self.day_ms)
            });
            if due
                && self
                    .write(Op::AbortUpload(AbortUploadCmd { upload_id: id }))
                    .await?
                    .is_some()
            {
                bump(&self.progress.uploads_aborted);
                tracing::info!(bucket = %b.name, key = %u.key, "lifecycle: incomplete upload aborted");
            }
        }
        Ok(())
    }

    /// Walks a bucket's versions; true if cut short.
    async fn versions(&self, b: &BucketRecord, rules: &[LifecycleRule]) -> Result<bool, MetaError> {
        if !rules.iter().any(|r| {
            r.expiration_days > 0
                || r.expiration_date_ms > 0
                || r.expired_object_delete_marker
                || r.noncurrent_days > 0
        }) {
            return Ok(false);
        }
        let now = self.clock.now_ms();
        let start = self
            .resume
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&b.id);
        // A walk resumed inside a key goes on with what it knew of the key
        // (how many noncurrent versions are newer, when the last one seen
        // was written), else noncurrent versions would look older than
        // they are.
        let (mut km, mut vm, mut walk) = match start {
            Some((v, walk)) => (Some(walk.key.clone()), Some(v), walk),
            None => (None, None, KeyWalk::default()),
        };
        let page_size = PAGE.min(self.walk);
        for _ in 0..self.walk.div_ceil(page_size) {
            let page = self.meta.reader().list_versions(
                b.id,
                "",
                None,
                km.as_deref(),
                vm.as_deref(),
                page_size,
            )?;
            for item in &page.items {
                let VersionItem::Version {
                    key,
                    record,
                    latest,
                } = item
                else {
                    continue;
                };
                if *key != walk.key {
                    self.finish_key(b, rules, &mut walk).await?;
                    walk = KeyWalk {
                        key: key.clone(),
                        ..Default::default()
                    };
                }
                // The next page starts after the last entry still there:
                // a listing resumed after a removed version would not know
                // where that was. (A key's newest entry is never removed
                // while the key is walked, so there always is one.)
                if !self
                    .visit(b, rules, &mut walk, record, *latest, now)
                    .await?
                {
                    km = Some(key.clone());
                    vm = Some(s3_version_id(record).to_string());
                }
            }
            if !page.truncated {
                self.finish_key(b, rules, &mut walk).await?;
                return Ok(false);
            }
        }
        // Too big for one pass: the next goes on from here.
        if let Some(v) = vm {
            self.resume
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(b.id, (v, walk));
        }
        Ok(true)
    }

    async fn visit(
        &self,
        b: &BucketRecord,
        rules: &[LifecycleRule],
        walk: &mut KeyWalk,
        rec: &ObjectRecord,
        latest: bool,
        now: i64,
    ) -> Result<bool, MetaError> {
        let key = walk.key.clone();
        let object = Some((rec.size, &rec.tags));
        if latest {
            walk.prev_created_ms = rec.created_ms;
            if rec.delete_marker {
                walk.lone_marker = Some(rec.version_id.clone());
                return Ok(false);
            }
            let due = rules.iter().any(|r| {
                selects(r, &key, object) && current_expired(r, rec.created_ms, now, self.day_ms)
            });
            if due {
                let out = self
                    .write(Op::DeleteObject(DeleteObjectCmd {
                        bucket: b.name.clone(),
                        key: key.clone(),
                        only_if_current: rec.version_id.clone(),
                        marker_version_id: meridian_core::ids::new_version_id(now),
                        now_ms: now,
                        ..Default::default()
                    }))
                    .await?;
                if out.is_some_and(|o| o != Outcome::Stale) {
                    bump(&self.progress.expired);
                    tracing::info!(bucket = %b.name, key = %key, "lifecycle: current version expired");
                }
            }
            // Expired or not, the version is still there (noncurrent).
            return Ok(false);
        }
        walk.lone_marker = None;
        let since = walk.prev_created_ms;
        let newer = walk.newer;
        walk.newer += 1;
        walk.prev_created_ms = rec.created_ms;
        let due = rules.iter().any(|r| {
            selects(r, &key, object) && noncurrent_expired(r, since, newer, now, self.day_ms)
        });
        if due && self.remove_version(b, &key, &rec.version_id).await? {
            bump(&self.progress.noncurrent_removed);
            tracing::info!(bucket = %b.name, key = %key, version = s3_version_id(rec), "lifecycle: noncurrent version removed");
            return Ok(true);
        }
        Ok(false)
    }

    /// The key's entries are all seen: a delete marker left alone goes if a
    /// rule asks.
    async fn finish_key(
        &self,
        b: &BucketRecord,
        rules: &[LifecycleRule],
        walk: &mut KeyWalk,
    ) -> Result<(), MetaError> {
        let Some(marker) = walk.lone_marker.take() else {
            return Ok(());
        };
        let asked = rules
            .iter()
            .any(|r| r.expired_object_delete_marker && selects(r, &walk.key, None));
        if asked && self.remove_version(b, &walk.key, &marker).await? {
            bump(&self.progress.markers_removed);
            tracing::info!(bucket = %b.name, key = %walk.key, "lifecycle: expired delete marker removed");
        }
        Ok(())
    }

    /// Removes a noncurrent version or delete marker by its internal id;
    /// false if it is gone or current again.
    async fn remove_version(
        &self,
        b: &BucketRecord,
        key: &str,
        internal_id: &str,
    ) -> Result<bool, MetaError> {
        let out = self
            .write(Op::DeleteObject(DeleteObjectCmd {
                bucket: b.name.clone(),
                key: key.to_string(),
                noncurrent_version_id: internal_id.to_string(),
                // Object Lock is judged against this time.
                now_ms: self.clock.now_ms(),
                ..Default::default()
            }))
            .await?;
        Ok(out.is_some_and(|o| o != Outcome::Stale))
    }
}
