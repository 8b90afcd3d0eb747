//! The catalogue in memory: the whole `Catalogue` contract (versioning,
//! Object Lock, ACLs and ownership, bucket settings, uploads, conditional
//! writes, copies) without Raft or RocksDB, for fast tests of what is built
//! on it. The conformance suite (`super::suite`) holds it to the same
//! answers as the real catalogue. Replicas are not placed: a committed
//! version has one complete replica, at its ingest site.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;

use crate::access::Level;
use crate::catalogue::{
    s3_version_id, BucketChange, Catalogue, CopySource, Deleted, KeyOwner, ListPage, ListQuery,
    NewBucket, VersionChange, VersionPage, VersionQuery, WriteCondition,
};
use crate::chunks::ChunkHash;
use crate::protection::protected;
use crate::records::{
    BucketGrant, BucketRecord, ChunkRef, CompletedUpload, CorsRule, LifecycleRule, LockMode,
    MultipartUpload, ObjectRecord, PartRecord, Replica, ReplicaState, Versioning,
};
use crate::{CoreError, SharedClock};

mod datasets;
mod listing;
mod protection;
mod rules;
mod search;
mod versions;

use rules::*;

#[derive(Default)]
pub(super) struct Bucket {
    rec: BucketRecord,
    current: BTreeMap<String, ObjectRecord>,
    /// Noncurrent versions and delete markers, newest first.
    history: BTreeMap<String, Vec<ObjectRecord>>,
}

#[derive(Default)]
pub(super) struct State {
    buckets: BTreeMap<String, Bucket>,
    next_bucket_id: u64,
    uploads: BTreeMap<String, MultipartUpload>,
    parts: HashMap<String, BTreeMap<u32, PartRecord>>,
    completed: HashMap<String, CompletedUpload>,
    users: BTreeSet<String>,
    keys: HashMap<String, KeyOwner>,
    /// (site, chunk) ever referenced or offered there: what may be queued
    /// for reclaiming once nothing references it.
    seen: BTreeSet<(u32, ChunkHash)>,
    datasets: BTreeMap<String, crate::dataset::DatasetRecord>,
    /// (dataset, bucket, key) of each explicit attachment.
    attached: BTreeSet<(String, String, String)>,
    manifests: BTreeMap<String, Vec<crate::dataset::ManifestEntry>>,
    /// (bucket, key) -> the published datasets that keep it.
    kept: BTreeMap<(String, String), BTreeSet<String>>,
    /// (dataset, package) -> its metadata document.
    metadata: BTreeMap<(String, String), crate::dataset::MetadataDoc>,
    /// (bucket, key) -> what it saw; and the shipments already added.
    access: BTreeMap<(String, String), crate::tracking::Tally>,
    shipments: BTreeSet<String>,
}

impl State {
    fn bucket_mut(&mut self, name: &str) -> Result<&mut Bucket, CoreError> {
        self.buckets.get_mut(name).ok_or_else(|| no_bucket(name))
    }
}

pub struct MemCatalogue {
    clock: SharedClock,
    state: Mutex<State>,
}

impl MemCatalogue {
    pub fn new(clock: SharedClock) -> Self {
        MemCatalogue {
            clock,
            state: Mutex::new(State {
                next_bucket_id: 1,
                ..State::default()
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A user ACL grants may name (the real catalogue's users are the admin
    /// API's).
    pub fn add_user(&self, name: &str) {
        self.lock().users.insert(name.to_string());
    }

    /// An access key of `user` with `secret`.
    pub fn add_key(&self, access_key: &str, user: &str, secret: &str) {
        self.lock().keys.insert(
            access_key.to_string(),
            KeyOwner {
                user: user.to_string(),
                secret: secret.to_string(),
            },
        );
    }

    /// How many replicas (any state for current versions, not pending for
    /// noncurrent ones) and upload parts list `hash` at `site`.
    pub fn references(&self, site: u32, hash: &ChunkHash) -> u64 {
        let st = self.lock();
        count_references(&st, site, hash)
    }

    /// Chunks once referenced or offered at `site` that nothing references
    /// now: what the chunk collector would remove there.
    pub fn reclaimable(&self, site: u32) -> Vec<ChunkHash> {
        let st = self.lock();
        st.seen
            .iter()
            .filter(|(s, h)| *s == site && count_references(&st, site, h) == 0)
            .map(|(_, h)| *h)
            .collect()
    }
}

impl MemCatalogue {
    fn commit(
        &self,
        bucket: &str,
        key: &str,
        mut record: ObjectRecord,
        condition: &WriteCondition,
        source: Option<&CopySource>,
    ) -> Result<ObjectRecord, CoreError> {
        let mut st = self.lock();
        let b = st.buckets.get(bucket).ok_or_else(|| no_bucket(bucket))?;
        check_new_version(&b.rec, &record)?;
        st.kept_refusal(bucket, key)?;
        if let Some(src) = source {
            let present = st.buckets.get(&src.bucket).is_some_and(|sb| {
                sb.current
                    .get(&src.key)
                    .is_some_and(|c| c.version_id == src.version_id)
                    || sb
                        .history
                        .get(&src.key)
                        .into_iter()
                        .flatten()
                        .any(|r| r.version_id == src.version_id && !r.delete_marker)
            });
            if !present {
                return Err(CoreError::PreconditionFailed(format!(
                    "the copy source {}/{} changed while copying",
                    src.bucket, src.key
                )));
            }
        }
        let b = st.buckets.get(bucket).ok_or_else(|| no_bucket(bucket))?;
        check_condition(b.current.get(key), key, condition)?;
        record.replicas = vec![Replica {
            site: record.ingest_site,
            state: ReplicaState::Complete,
            verified_at_ms: record.created_ms,
            reason: 0,
        }];
        let site = record.ingest_site;
        note_chunks(&mut st, site, &record.chunks.clone());
        let b = st
            .buckets
            .get_mut(bucket)
            .ok_or_else(|| no_bucket(bucket))?;
        let stored = b.put(key, record.clone());
        record.versioning = stored.versioning;
        Ok(record)
    }
}

#[async_trait]
impl Catalogue for MemCatalogue {
    async fn create_bucket(
        &self,
        name: &str,
        owner: &str,
        ingest_site: u32,
        new: &NewBucket,
    ) -> Result<(), CoreError> {
        let mut st = self.lock();
        if st.buckets.contains_key(name) {
            return Err(CoreError::BucketExists(name.to_string()));
        }
        if new.object_ownership == OWNER_ENFORCED && new.acl.iter().any(|g| g.acl != 0) {
            return Err(CoreError::AclConflictsWithOwnership(
                "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting"
                    .into(),
            ));
        }
        check_grants(&st, &new.acl)?;
        let id = st.next_bucket_id;
        st.next_bucket_id += 1;
        let rec = BucketRecord {
            id,
            name: name.to_string(),
            created_ms: self.clock.now_ms(),
            owner: owner.to_string(),
            ingest_site,
            object_ownership: new.object_ownership,
            versioning: if new.object_lock {
                Versioning::Enabled
            } else {
                Versioning::Off
            },
            object_lock: new.object_lock.then(|| crate::records::ObjectLockConfig {
                enabled: true,
                ..Default::default()
            }),
            grants: crate::access::acl::with_acl(&[], &new.acl),
            ..Default::default()
        };
        st.buckets.insert(
            name.to_string(),
            Bucket {
                rec,
                ..Bucket::default()
            },
        );
        Ok(())
    }

    async fn delete_bucket(&self, name: &str) -> Result<(), CoreError> {
        let mut st = self.lock();
        let b = st.buckets.get(name).ok_or_else(|| no_bucket(name))?;
        if !b.current.is_empty() || !b.history.is_empty() {
            return Err(CoreError::BucketNotEmpty(format!(
                "{name} holds objects, versions or delete markers"
            )));
        }
        let gone: Vec<String> = st
            .uploads
            .values()
            .filter(|u| u.bucket == name)
            .map(|u| u.upload_id.clone())
            .collect();
        for id in gone {
            st.uploads.remove(&id);
            st.parts.remove(&id);
        }
        st.buckets.remove(name);
        Ok(())
    }

    async fn bucket(&self, name: &str) -> Result<BucketRecord, CoreError> {
        self.lock()
            .buckets
            .get(name)
            .map(|b| b.rec.clone())
            .ok_or_else(|| no_bucket(name))
    }

    async fn list_buckets(&self) -> Result<Vec<BucketRecord>, CoreError> {
        Ok(self
            .lock()
            .buckets
            .values()
            .map(|b| b.rec.clone())
            .collect())
    }

    async fn commit_object(
        &self,
        bucket: &str,
        key: &str,
        record: ObjectRecord,
        condition: &WriteCondition,
    ) -> Result<ObjectRecord, CoreError> {
        self.commit(bucket, key, record, condition, None)
    }

    async fn commit_copy(
        &self,
        bucket: &str,
        key: &str,
        record: ObjectRecord,
        condition: &WriteCondition,
        source: &CopySource,
    ) -> Result<ObjectRecord, CoreError> {
        self.commit(bucket, key, record, condition, Some(source))
    }

    async fn object(&self, bucket: &str, key: &str) -> Result<ObjectRecord, CoreError> {
        let st = self.lock();
        let b = st.buckets.get(bucket).ok_or_else(|| no_bucket(bucket))?;
        b.current
            .get(key)
            .cloned()
            .ok_or_else(|| CoreError::NoSuchKey(key.to_string()))
    }

    async fn delete_object(&self, bucket: &str, key: &str) -> Result<Deleted, CoreError> {
        let now = self.clock.now_ms();
        let mut st = self.lock();
        st.bucket_mut(bucket)?;
        st.kept_refusal(bucket, key)?;
        let b = st.bucket_mut(bucket)?;
        match b.rec.versioning {
            Versioning::Off => {
                b.current.remove(key);
                Ok(Deleted::default())
            }
            v => {
                if v == Versioning::Suspended {
                    b.remove_null(key);
                }
                b.archive_current(key);
                let marker = ObjectRecord {
                    version_id: crate::ids::new_version_id(now),
                    created_ms: now,
                    versioning: v,
                    delete_marker: true,
                    ..Default::default()
                };
                let id = s3_version_id(&marker).to_string();
                b.history
                    .entry(key.to_string())
                    .or_default()
                    .insert(0, marker);
                Ok(Deleted {
                    version_id: Some(id),
                    delete_marker: true,
                })
            }
        }
    }

    async fn delete_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: &str,
        bypass_governance: bool,
    ) -> Result<Deleted, CoreError> {
        let now = self.clock.now_ms();
        let mut st = self.lock();
        st.bucket_mut(bucket)?;
        st.kept_refusal(bucket, key)?;
        let b = st.bucket_mut(bucket)?;
        let gone = Deleted {
            version_id: Some(version_id.to_string()),
            delete_marker: false,
        };
        if let Some(cur) = b.current.get(key) {
            if s3_version_id(cur) == version_id {
                if let Some(why) = protected(cur, now, bypass_governance) {
                    return Err(locked(why));
                }
                b.current.remove(key);
                b.promote(key);
                return Ok(gone);
            }
        }
        let Some(h) = b.history.get_mut(key) else {
            return Ok(gone);
        };
        let Some(i) = h.iter().position(|r| s3_version_id(r) == version_id) else {
            return Ok(gone);
        };
        if let Some(why) = protected(&h[i], now, bypass_governance) {
            return Err(locked(why));
        }
        let rec = h.remove(i);
        if h.is_empty() {
            b.history.remove(key);
        }
        b.promote(key);
        Ok(Deleted {
            version_id: Some(version_id.to_string()),
            delete_marker: rec.delete_marker,
        })
    }

    async fn object_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: &str,
    ) -> Result<ObjectRecord, CoreError> {
        let st = self.lock();
        let b = st.buckets.get(bucket).ok_or_else(|| no_bucket(bucket))?;
        let found = b
            .current
            .get(key)
            .filter(|c| s3_version_id(c) == version_id)
            .or_else(|| {
                b.history
                    .get(key)
                    .into_iter()
                    .flatten()
                    .find(|r| s3_version_id(r) == version_id)
            })
            .cloned()
            .ok_or_else(|| CoreError::NoSuchVersion(format!("{key} version {version_id}")))?;
        if found.delete_marker {
            return Err(CoreError::DeleteMarker(format!(
                "{key} version {version_id}"
            )));
        }
        Ok(found)
    }

    async fn set_versioning(&self, bucket: &str, versioning: Versioning) -> Result<(), CoreError> {
        let mut st = self.lock();
        let b = st.bucket_mut(bucket)?;
        if versioning == Versioning::Off {
            return Err(CoreError::InvalidArgument(
                "versioning is Enabled or Suspended (once on, it cannot be turned off)".into(),
            ));
        }
        if versioning != Versioning::Enabled && lock_enabled(&b.rec) {
            return Err(CoreError::InvalidBucketState(
                "An Object Lock configuration is present on this bucket, so the versioning state cannot be changed.".into(),
            ));
        }
        b.rec.versioning = versioning;
        Ok(())
    }

    async fn list_versions(&self, q: &VersionQuery) -> Result<VersionPage, CoreError> {
        self.lock().list_versions(q)
    }

    async fn set_bucket_cors(&self, bucket: &str, rules: Vec<CorsRule>) -> Result<(), CoreError> {
        let mut st = self.lock();
        let b = st.bucket_mut(bucket)?;
        if rules.len() > MAX_CORS_RULES {
            return Err(CoreError::InvalidArgument(format!(
                "at most {MAX_CORS_RULES} CORS rules per bucket"
            )));
        }
        b.rec.cors = rules;
        Ok(())
    }

    async fn set_bucket_lifecycle(
        &self,
        bucket: &str,
        rules: Vec<LifecycleRule>,
    ) -> Result<(), CoreError> {
        let mut st = self.lock();
        let b = st.bucket_mut(bucket)?;
        if rules.len() > MAX_LIFECYCLE_RULES {
            return Err(CoreError::InvalidArgument(format!(
                "at most {MAX_LIFECYCLE_RULES} lifecycle rules per bucket"
            )));
        }
        b.rec.lifecycle = rules;
        Ok(())
    }

    async fn set_bucket_tags(
        &self,
        bucket: &str,
        tags: HashMap<String, String>,
    ) -> Result<(), CoreError> {
        let mut st = self.lock();
        let b = st.bucket_mut(bucket)?;
        if tags.len() > MAX_BUCKET_TAGS {
            return Err(CoreError::InvalidArgument(format!(
                "at most {MAX_BUCKET_TAGS} tags per bucket"
            )));
        }
        b.rec.tags = tags;
        Ok(())
    }

    async fn list_objects(&self, q: &ListQuery) -> Result<ListPage, CoreError> {
        self.lock().list_objects(q)
    }

    async fn create_upload(&self, upload: MultipartUpload) -> Result<(), CoreError> {
        let mut st = self.lock();
        let b = st
            .buckets
            .get(&upload.bucket)
            .ok_or_else(|| no_bucket(&upload.bucket))?;
        if (upload.lock_mode != LockMode::None || upload.legal_hold) && !lock_enabled(&b.rec) {
            return Err(CoreError::NoObjectLock(
                "Bucket is missing ObjectLockConfiguration".into(),
            ));
        }
        st.parts.insert(upload.upload_id.clone(), BTreeMap::new());
        st.uploads.insert(upload.upload_id.clone(), upload);
        Ok(())
    }

    async fn upload(&self, upload_id: &str) -> Result<MultipartUpload, CoreError> {
        self.lock()
            .uploads
            .get(upload_id)
            .cloned()
            .ok_or_else(|| CoreError::NoSuchUpload(upload_id.to_string()))
    }

    async fn put_part(&self, upload_id: &str, part: PartRecord) -> Result<(), CoreError> {
        let mut st = self.lock();
        let upload = st
            .uploads
            .get_mut(upload_id)
            .ok_or_else(|| CoreError::NoSuchUpload(upload_id.to_string()))?;
        if let Some(session) = upload.session.as_mut() {
            session
                .check_part(&part)
                .map_err(CoreError::InvalidArgument)?;
            session.touched_ms = session.touched_ms.max(part.created_ms);
        }
        let site = upload.ingest_site;
        note_chunks(&mut st, site, &part.chunks);
        st.parts
            .entry(upload_id.to_string())
            .or_default()
            .insert(part.part_number, part);
        Ok(())
    }

    async fn list_parts(&self, upload_id: &str) -> Result<Vec<PartRecord>, CoreError> {
        let st = self.lock();
        if !st.uploads.contains_key(upload_id) {
            return Err(CoreError::NoSuchUpload(upload_id.to_string()));
        }
        Ok(st
            .parts
            .get(upload_id)
            .map(|p| p.values().cloned().collect())
            .unwrap_or_default())
    }

    async fn complete_upload(
        &self,
        upload_id: &str,
        record: ObjectRecord,
    ) -> Result<ObjectRecord, CoreError> {
        let upload = {
            let st = self.lock();
            let u = st
                .uploads
                .get(upload_id)
                .cloned()
                .ok_or_else(|| CoreError::NoSuchUpload(upload_id.to_string()))?;
            let stored: BTreeSet<ChunkHash> = st
                .parts
                .get(upload_id)
                .into_iter()
                .flat_map(|p| p.values())
                .flat_map(|p| p.chunks.iter().map(|c| c.hash))
                .collect();
            if let Some(missing) = record.chunks.iter().find(|c| !stored.contains(&c.hash)) {
                return Err(CoreError::InvalidArgument(format!(
                    "chunk {} is in no stored part of upload {upload_id}",
                    missing
                        .hash
                        .iter()
                        .map(|b| format!("{b:02x}"))
                        .collect::<String>()
                )));
            }
            u
        };
        let rec = self.commit(
            &upload.bucket,
            &upload.key,
            record,
            &WriteCondition::Always,
            None,
        )?;
        let mut st = self.lock();
        st.uploads.remove(upload_id);
        st.parts.remove(upload_id);
        st.completed.insert(
            upload_id.to_string(),
            CompletedUpload {
                bucket: upload.bucket,
                key: upload.key,
                etag: rec.etag.clone(),
                version_id: rec.version_id.clone(),
                versioning: rec.versioning,
                checksums: rec.checksums.clone(),
                checksum_type: rec.checksum_type.clone(),
                completed_ms: rec.created_ms,
            },
        );
        Ok(rec)
    }

    async fn abort_upload(&self, upload_id: &str) -> Result<(), CoreError> {
        let mut st = self.lock();
        st.parts.remove(upload_id);
        st.uploads
            .remove(upload_id)
            .map(|_| ())
            .ok_or_else(|| CoreError::NoSuchUpload(upload_id.to_string()))
    }

    async fn completed_upload(
        &self,
        upload_id: &str,
    ) -> Result<Option<CompletedUpload>, CoreError> {
        Ok(self.lock().completed.get(upload_id).cloned())
    }

    async fn list_uploads(&self, bucket: &str) -> Result<Vec<MultipartUpload>, CoreError> {
        let st = self.lock();
        if !st.buckets.contains_key(bucket) {
            return Err(no_bucket(bucket));
        }
        Ok(st
            .uploads
            .values()
            .filter(|u| u.bucket == bucket)
            .cloned()
            .collect())
    }

    async fn set_tags(
        &self,
        bucket: &str,
        key: &str,
        version_id: &str,
        tags: HashMap<String, String>,
    ) -> Result<bool, CoreError> {
        if tags.len() > 10 {
            return Err(CoreError::InvalidArgument(
                "at most 10 tags per object".into(),
            ));
        }
        let mut st = self.lock();
        let Some(b) = st.buckets.get_mut(bucket) else {
            return Ok(false);
        };
        Ok(match b.version_mut(key, version_id) {
            Some(r) => {
                r.tags = tags;
                true
            }
            None => false,
        })
    }

    async fn release_chunks(&self, site: u32, chunks: &[ChunkRef]) {
        note_chunks(&mut self.lock(), site, chunks);
    }

    async fn update_bucket(&self, bucket: &str, change: BucketChange) -> Result<(), CoreError> {
        self.lock().update_bucket(bucket, change)
    }

    async fn update_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: &str,
        change: VersionChange,
    ) -> Result<bool, CoreError> {
        let now = self.clock.now_ms();
        self.lock()
            .update_version(now, bucket, key, version_id, change)
    }

    async fn set_bucket_policy(&self, bucket: &str, policy: &str) -> Result<(), CoreError> {
        let mut st = self.lock();
        st.bucket_mut(bucket)?.rec.policy = policy.to_string();
        Ok(())
    }

    async fn access_key(&self, access_key: &str) -> Result<Option<KeyOwner>, CoreError> {
        Ok(self.lock().keys.get(access_key).cloned())
    }

    async fn create_dataset(&self, d: crate::dataset::NewDataset) -> Result<(), CoreError> {
        let now = self.clock.now_ms();
        self.lock().create_dataset(d, now)
    }

    async fn dataset(&self, name: &str) -> Result<crate::dataset::DatasetRecord, CoreError> {
        self.lock().dataset(name)
    }

    async fn list_datasets(
        &self,
        after: &str,
        limit: usize,
    ) -> Result<Vec<crate::dataset::DatasetRecord>, CoreError> {
        Ok(self.lock().list_datasets(after, limit))
    }

    async fn change_dataset(
        &self,
        name: &str,
        change: crate::dataset::DatasetChange,
        if_version: u64,
    ) -> Result<(), CoreError> {
        let now = self.clock.now_ms();
        self.lock().change_dataset(name, change, if_version, now)
    }

    async fn dataset_files(
        &self,
        name: &str,
        after: Option<crate::dataset::FileRef>,
        limit: usize,
    ) -> Result<crate::dataset::FilePage, CoreError> {
        Ok(self.lock().dataset_files(name, after, limit))
    }

    async fn manifest(
        &self,
        name: &str,
        after: Option<crate::dataset::FileRef>,
        limit: usize,
    ) -> Result<Vec<crate::dataset::ManifestEntry>, CoreError> {
        Ok(self.lock().manifest(name, after, limit))
    }

    async fn file_datasets(&self, bucket: &str, key: &str) -> Result<Vec<String>, CoreError> {
        Ok(self.lock().file_datasets(bucket, key))
    }

    async fn dataset_metadata(
        &self,
        name: &str,
    ) -> Result<Vec<crate::dataset::MetadataDoc>, CoreError> {
        self.lock().dataset_metadata(name)
    }

    async fn search(
        &self,
        query: &crate::search::Query,
    ) -> Result<crate::search::SearchPage, CoreError> {
        self.lock().search(query)
    }

    async fn record_access(
        &self,
        shipment: &str,
        files: Vec<crate::tracking::FileTally>,
    ) -> Result<(), CoreError> {
        let mut s = self.lock();
        if files.len() > crate::tracking::MAX_SHIPMENT_FILES {
            return Err(CoreError::InvalidArgument(
                "too many files a shipment".into(),
            ));
        }
        if !s.shipments.insert(shipment.to_string()) {
            return Ok(());
        }
        for f in files {
            s.access
                .entry((f.bucket, f.key))
                .or_default()
                .merge(&f.tally);
        }
        Ok(())
    }

    async fn file_access(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<Option<crate::tracking::Tally>, CoreError> {
        Ok(self
            .lock()
            .access
            .get(&(bucket.to_string(), key.to_string()))
            .cloned())
    }
}

/// The level a grant gives, for tests that set Meridian levels directly.
pub fn level_grant(user: &str, level: Level) -> BucketGrant {
    BucketGrant {
        user: user.to_string(),
        level: Some(level),
        acl: 0,
    }
}
