//! Bucket lifecycle rules carried out: current versions expired (a delete,
//! which makes a delete marker under versioning), noncurrent versions
//! removed some days after they stopped being current (keeping the newest
//! few if asked), delete markers removed once nothing else is left of
//! their key, and uploads aborted some days after they began.
//!
//! Runs on the metadata leader every `lifecycle_period`. A pass walks each
//! bucket that has rules, in version-listing order, at most
//! `PAGES_PER_BUCKET` pages at a time (a bucket too big for one pass is
//! resumed where the last one stopped). Every delete names what it saw (the
//! current version, or a version id), so an object written meanwhile is
//! left alone.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use meridian_gateway::lifecycle::{current_expired, noncurrent_expired, selects, upload_expired};
use meridian_gateway::objects::{new_version_id, now_ms};
use meridian_meta::catalogue::{s3_version_id, VersionItem};
use meridian_meta::{MetaError, Outcome};
use meridian_proto::v1::command::Op;
use meridian_proto::v1::{
    AbortUploadCmd, BucketRecord, DeleteObjectCmd, LifecycleRule, ObjectRecord,
};
use tokio::sync::watch;

use crate::metagroup::MetaGroup;

const PAGE: usize = 1000;
/// Versions looked at per bucket and pass: at most 100,000.
const PAGES_PER_BUCKET: usize = 100;
/// Uploads in progress looked at per bucket and pass.
const MAX_UPLOADS: usize = 10_000;

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
    period: Duration,
    day_ms: i64,
    /// Bucket id -> (key, version id) the next pass resumes after.
    resume: Mutex<HashMap<u64, (String, String)>>,
    pub progress: LifecycleProgress,
}

/// Where the walk is within one key's versions.
#[derive(Default)]
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
    pub fn new(meta: Arc<MetaGroup>, period: Duration, day: Duration) -> Arc<Self> {
        Arc::new(Lifecycle {
            meta,
            period,
            day_ms: i64::try_from(day.as_millis()).unwrap_or(i64::MAX),
            resume: Mutex::new(HashMap::new()),
            progress: LifecycleProgress::default(),
        })
    }

    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        loop {
            let s = self.meta.status();
            if s.leader == Some(s.node_id) {
                match self.pass().await {
                    Ok(()) => bump(&self.progress.passes),
                    Err(e) => tracing::warn!(error = %e, "lifecycle pass failed; retrying"),
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(self.period) => {}
                _ = shutdown.changed() => {}
            }
            if *shutdown.borrow() {
                return;
            }
        }
    }

    async fn pass(&self) -> Result<(), MetaError> {
        for b in self.meta.reader().buckets()? {
            let rules: Vec<LifecycleRule> =
                b.lifecycle.iter().filter(|r| r.enabled).cloned().collect();
            if rules.is_empty() {
                continue;
            }
            self.uploads(&b, &rules).await?;
            self.versions(&b, &rules).await?;
        }
        Ok(())
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
        let now = now_ms();
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

    async fn versions(&self, b: &BucketRecord, rules: &[LifecycleRule]) -> Result<(), MetaError> {
        if !rules.iter().any(|r| {
            r.expiration_days > 0
                || r.expiration_date_ms > 0
                || r.expired_object_delete_marker
                || r.noncurrent_days > 0
        }) {
            return Ok(());
        }
        let now = now_ms();
        let start = self
            .resume
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&b.id);
        let (mut km, mut vm) = match start {
            Some((k, v)) => (Some(k), Some(v)),
            None => (None, None),
        };
        let mut walk = KeyWalk::default();
        for _ in 0..PAGES_PER_BUCKET {
            let page = self.meta.reader().list_versions(
                b.id,
                "",
                None,
                km.as_deref(),
                vm.as_deref(),
                PAGE,
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
                self.visit(b, rules, &mut walk, record, *latest, now)
                    .await?;
                km = Some(key.clone());
                vm = Some(s3_version_id(record).to_string());
            }
            if !page.truncated {
                return self.finish_key(b, rules, &mut walk).await;
            }
        }
        // Too big for one pass: the next goes on from here.
        if let (Some(k), Some(v)) = (km, vm) {
            self.resume
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(b.id, (k, v));
        }
        Ok(())
    }

    async fn visit(
        &self,
        b: &BucketRecord,
        rules: &[LifecycleRule],
        walk: &mut KeyWalk,
        rec: &ObjectRecord,
        latest: bool,
        now: i64,
    ) -> Result<(), MetaError> {
        let key = walk.key.clone();
        let object = Some((rec.size, &rec.tags));
        if latest {
            walk.prev_created_ms = rec.created_ms;
            if rec.delete_marker {
                walk.lone_marker = Some(s3_version_id(rec).to_string());
                return Ok(());
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
                        marker_version_id: new_version_id(),
                        now_ms: now,
                        ..Default::default()
                    }))
                    .await?;
                if out.is_some_and(|o| o != Outcome::Stale) {
                    bump(&self.progress.expired);
                    tracing::info!(bucket = %b.name, key = %key, "lifecycle: current version expired");
                }
            }
            return Ok(());
        }
        walk.lone_marker = None;
        let since = walk.prev_created_ms;
        let newer = walk.newer;
        walk.newer += 1;
        walk.prev_created_ms = rec.created_ms;
        let due = rules.iter().any(|r| {
            selects(r, &key, object) && noncurrent_expired(r, since, newer, now, self.day_ms)
        });
        if due {
            self.remove_version(b, &key, s3_version_id(rec)).await?;
            bump(&self.progress.noncurrent_removed);
            tracing::info!(bucket = %b.name, key = %key, version = s3_version_id(rec), "lifecycle: noncurrent version removed");
        }
        Ok(())
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
        if rules
            .iter()
            .any(|r| r.expired_object_delete_marker && selects(r, &walk.key, None))
        {
            self.remove_version(b, &walk.key, &marker).await?;
            bump(&self.progress.markers_removed);
            tracing::info!(bucket = %b.name, key = %walk.key, "lifecycle: expired delete marker removed");
        }
        Ok(())
    }

    async fn remove_version(
        &self,
        b: &BucketRecord,
        key: &str,
        version: &str,
    ) -> Result<(), MetaError> {
        self.write(Op::DeleteObject(DeleteObjectCmd {
            bucket: b.name.clone(),
            key: key.to_string(),
            version_id: version.to_string(),
            ..Default::default()
        }))
        .await
        .map(|_| ())
    }
}
