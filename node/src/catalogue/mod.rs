//! The core `Catalogue` over the metadata plane. Placement is decided
//! here, before proposing, so the state machine applies plain facts; a
//! write's domain record becomes the log's command here
//! (`meridian_meta::records`), reads come back as the domain's. `read.rs` reads, `versions.rs` and
//! `protection.rs` are the versioning and access halves.

use std::sync::Arc;

use async_trait::async_trait;
use meridian_core::catalogue::{
    BucketChange, Catalogue, CopySource, Deleted, ListPage, ListQuery, NewBucket, VersionChange,
    VersionPage, VersionQuery, WriteCondition,
};
use meridian_core::dataset::{
    DatasetChange, DatasetRecord, FilePage, FileRef, ManifestEntry, NewDataset,
};
use meridian_core::records as core;
use meridian_core::{CoreError, SharedClock};
use meridian_meta::catalogue::CatalogueReader;
use meridian_meta::records as stored;
use meridian_placement::{place, SiteId, Subject, Topology};

use crate::placement_policy::PolicyHandle;
use meridian_proto::v1::command::Op;
use meridian_proto::v1::*;
use tokio::sync::Notify;

use crate::metagroup::MetaGroup;

mod datasets;
pub mod protection;
mod read;
pub mod versions;

use read::{bucket_from, core_error, list_page, object_from};

/// Pages of unfinished uploads a DeleteBucket aborts before it gives up
/// (each page is up to 1,000 uploads).
const MAX_DELETE_BUCKET_ROUNDS: usize = 100;

pub struct MetaCatalogue {
    meta: Arc<MetaGroup>,
    topology: Arc<Topology>,
    policy: Arc<PolicyHandle>,
    /// Woken when new pending replicas are committed.
    replication: Arc<Notify>,
    /// The links' queues, weighed by placement.
    links: Arc<meridian_data::links::Links>,
    /// Opens the access keys' sealed secrets.
    keyring: Arc<crate::keyring::Keyring>,
    clock: SharedClock,
}

fn cmd(op: Op) -> Command {
    meridian_meta::command(op)
}

/// What placement weighs: each link's queue, and each site's room: its
/// declared capacity less the bytes the catalogue has it hold or receive.
pub fn load(
    reader: &CatalogueReader,
    topology: &Topology,
    links: &meridian_data::links::Links,
) -> meridian_placement::Load {
    let mut load = links.load();
    for s in topology.sites() {
        if s.capacity_bytes == 0 {
            continue;
        }
        let held = reader.site_counter(s.id.0).map_or(0, |c| c.bytes);
        let coming = reader.pending_counter(s.id.0).map_or(0, |c| c.bytes);
        load.free_bytes.insert(
            s.id,
            s.capacity_bytes.saturating_sub(held.saturating_add(coming)),
        );
    }
    load
}

/// Uploads in progress a listing looks at, per bucket.
const MAX_LISTED_UPLOADS: usize = 10_000;
/// Longest a write waits for its rule's `ack` copies.
const ACK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);

impl MetaCatalogue {
    /// Returns once the object has as many complete copies as its rule's
    /// `ack` (at once for the usual ack = 1), or it was overwritten. Past
    /// [`ACK_TIMEOUT`] the client gets 503: the object is stored and its
    /// copies go on, but the acknowledgement it asked for cannot be given.
    async fn wait_for_ack(
        &self,
        bucket: &str,
        key: &str,
        record: &core::ObjectRecord,
        ack: usize,
    ) -> Result<(), CoreError> {
        if ack <= 1 {
            return Ok(());
        }
        let deadline = tokio::time::Instant::now() + ACK_TIMEOUT;
        let mut pause = std::time::Duration::from_millis(10);
        loop {
            let reader = self.meta.reader();
            let current = bucket_from(&reader, bucket)
                .ok()
                .and_then(|b| reader.object(b.id, key).ok().flatten());
            let complete = match &current {
                Some(r) if r.version_id == record.version_id => r.complete_sites().count(),
                // Overwritten or deleted: this write's copies no longer matter.
                _ => return Ok(()),
            };
            if complete >= ack {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(CoreError::Unavailable(format!(
                    "{complete} of the {ack} copies rule {} asks for before acknowledging, after {} s; the object is stored and its copies continue",
                    record.policy,
                    ACK_TIMEOUT.as_secs()
                )));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(std::time::Duration::from_millis(500));
        }
    }

    pub fn new(
        meta: Arc<MetaGroup>,
        topology: Arc<Topology>,
        policy: Arc<PolicyHandle>,
        replication: Arc<Notify>,
        links: Arc<meridian_data::links::Links>,
        keyring: Arc<crate::keyring::Keyring>,
        clock: SharedClock,
    ) -> Self {
        MetaCatalogue {
            meta,
            topology,
            policy,
            replication,
            links,
            keyring,
            clock,
        }
    }

    /// Places the record and commits it under its conditions; answers once
    /// the rule's `ack` copies are complete.
    async fn commit(
        &self,
        bucket: &str,
        key: &str,
        record: core::ObjectRecord,
        condition: &WriteCondition,
        source: Option<&CopySource>,
    ) -> Result<core::ObjectRecord, CoreError> {
        let (mut record, ack) = self.placed(bucket, key, record)?;
        let out = self
            .write_outcome(Op::PutObject(PutObjectCmd {
                bucket: bucket.to_string(),
                key: key.to_string(),
                record: Some(stored::object_to(record.clone())),
                if_absent: *condition == WriteCondition::IfAbsent,
                if_etag: match condition {
                    WriteCondition::IfEtag(e) => e.clone(),
                    _ => String::new(),
                },
                copy_source_bucket: source.map(|s| s.bucket.clone()).unwrap_or_default(),
                copy_source_key: source.map(|s| s.key.clone()).unwrap_or_default(),
                copy_source_version: source.map(|s| s.version_id.clone()).unwrap_or_default(),
            }))
            .await?;
        record.versioning = versions::versioning_of(&out);
        self.replication.notify_one();
        self.wait_for_ack(bucket, key, &record, ack).await?;
        Ok(record)
    }

    async fn write(&self, op: Op) -> Result<(), CoreError> {
        self.write_outcome(op).await.map(|_| ())
    }

    async fn write_outcome(&self, op: Op) -> Result<meridian_meta::Outcome, CoreError> {
        self.meta.write_one(cmd(op)).await.map_err(core_error)
    }

    /// A linearizable view of the catalogue.
    async fn barrier(&self) -> Result<CatalogueReader, CoreError> {
        self.meta.read_barrier().await.map_err(core_error)
    }

    /// The record with its placement (the policy's rule, the ingest site
    /// complete, the rule's other sites pending), and the copies the rule
    /// wants complete before the write is acknowledged.
    fn placed(
        &self,
        bucket: &str,
        key: &str,
        mut record: core::ObjectRecord,
    ) -> Result<(core::ObjectRecord, usize), CoreError> {
        let reader = self.meta.reader();
        let (_, policy) = self.policy.current(&reader);
        let named =
            crate::placement_policy::named_datasets(&reader, &policy).map_err(core_error)?;
        let datasets = reader.belongs_to(&named, bucket, key).map_err(core_error)?;
        let subject = Subject {
            bucket,
            key,
            metadata: Some(&record.user_meta),
            datasets: &datasets,
            size: record.size,
        };
        let p = place(
            &self.topology,
            &policy,
            &subject,
            SiteId(record.ingest_site),
            &load(&reader, &self.topology, &self.links),
        );
        let rule = policy.rules().find(|r| r.name == p.rule);
        let ack = rule.map_or(1, |r| r.ack) as usize;
        if let Some(lifetime_s) = rule.and_then(|r| r.lifetime_s) {
            record.expires_ms = record.created_ms.saturating_add(
                i64::try_from(lifetime_s)
                    .unwrap_or(i64::MAX / 1000)
                    .saturating_mul(1000),
            );
        }
        record.policy = p.rule;
        record.replicas = p
            .sites
            .iter()
            .zip(&p.kinds)
            .map(|(s, kind)| core::Replica {
                site: s.0,
                reason: *kind as u32,
                state: if s.0 == record.ingest_site {
                    core::ReplicaState::Complete
                } else {
                    core::ReplicaState::Pending
                },
                verified_at_ms: if s.0 == record.ingest_site {
                    record.created_ms
                } else {
                    0
                },
            })
            .collect();
        Ok((record, ack))
    }
}

#[async_trait]
impl Catalogue for MetaCatalogue {
    async fn create_bucket(
        &self,
        name: &str,
        owner: &str,
        ingest_site: u32,
        new: &NewBucket,
    ) -> Result<(), CoreError> {
        self.write(Op::CreateBucket(CreateBucketCmd {
            name: name.to_string(),
            owner: owner.to_string(),
            ingest_site,
            now_ms: self.clock.now_ms(),
            object_ownership: new.object_ownership,
            object_lock: new.object_lock,
            acl: stored::grants_to(&new.acl),
        }))
        .await
    }

    async fn update_bucket(&self, bucket: &str, change: BucketChange) -> Result<(), CoreError> {
        self.write(protection::bucket_command(bucket, change)).await
    }

    async fn update_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: &str,
        change: VersionChange,
    ) -> Result<bool, CoreError> {
        let op = protection::version_command(bucket, key, version_id, change, self.clock.now_ms());
        Ok(self.write_outcome(op).await? != meridian_meta::Outcome::Stale)
    }

    async fn delete_bucket(&self, name: &str) -> Result<(), CoreError> {
        let delete = || {
            self.write(Op::DeleteBucket(DeleteBucketCmd {
                name: name.to_string(),
                abort_uploads: true,
            }))
        };
        // The state machine removes a bucket's unfinished uploads with it,
        // up to a bound per command; beyond it, a bucket that holds nothing
        // else has its uploads aborted a page at a time first.
        for _ in 0..MAX_DELETE_BUCKET_ROUNDS {
            match delete().await {
                Err(CoreError::BucketNotEmpty(m)) => {
                    let reader = self.barrier().await?;
                    let b = bucket_from(&reader, name)?;
                    if reader.holds_versions(b.id).map_err(core_error)? {
                        return Err(CoreError::BucketNotEmpty(m));
                    }
                    let ids = reader
                        .bucket_uploads(b.id, meridian_meta::catalogue::uploads::MAX_INLINE_UPLOADS)
                        .map_err(core_error)?;
                    if ids.is_empty() {
                        return Err(CoreError::BucketNotEmpty(m));
                    }
                    for id in ids {
                        match self.abort_upload(&id).await {
                            Ok(()) | Err(CoreError::NoSuchUpload(_)) => {}
                            Err(e) => return Err(e),
                        }
                    }
                }
                other => return other,
            }
        }
        delete().await
    }

    async fn bucket(&self, name: &str) -> Result<core::BucketRecord, CoreError> {
        bucket_from(&self.barrier().await?, name)
    }

    async fn list_buckets(&self) -> Result<Vec<core::BucketRecord>, CoreError> {
        self.barrier().await?.buckets().map_err(core_error)
    }

    async fn commit_object(
        &self,
        bucket: &str,
        key: &str,
        record: core::ObjectRecord,
        condition: &WriteCondition,
    ) -> Result<core::ObjectRecord, CoreError> {
        self.commit(bucket, key, record, condition, None).await
    }

    async fn commit_copy(
        &self,
        bucket: &str,
        key: &str,
        record: core::ObjectRecord,
        condition: &WriteCondition,
        source: &CopySource,
    ) -> Result<core::ObjectRecord, CoreError> {
        self.commit(bucket, key, record, condition, Some(source))
            .await
    }

    async fn object(&self, bucket: &str, key: &str) -> Result<core::ObjectRecord, CoreError> {
        object_from(&self.barrier().await?, bucket, key)
    }

    async fn delete_object(&self, bucket: &str, key: &str) -> Result<Deleted, CoreError> {
        let out = self
            .write_outcome(Op::DeleteObject(DeleteObjectCmd {
                bucket: bucket.to_string(),
                key: key.to_string(),
                marker_version_id: meridian_core::ids::new_version_id(self.clock.now_ms()),
                now_ms: self.clock.now_ms(),
                ..Default::default()
            }))
            .await?;
        Ok(versions::deleted(out))
    }

    async fn delete_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: &str,
        bypass_governance: bool,
    ) -> Result<Deleted, CoreError> {
        let out = self
            .write_outcome(Op::DeleteObject(DeleteObjectCmd {
                bucket: bucket.to_string(),
                key: key.to_string(),
                version_id: version_id.to_string(),
                // Retention is judged against the time the command carries.
                now_ms: self.clock.now_ms(),
                bypass_governance,
                ..Default::default()
            }))
            .await?;
        Ok(versions::deleted(out))
    }

    async fn object_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: &str,
    ) -> Result<core::ObjectRecord, CoreError> {
        versions::object_version(&self.barrier().await?, bucket, key, version_id)
    }

    async fn set_versioning(
        &self,
        bucket: &str,
        versioning: core::Versioning,
    ) -> Result<(), CoreError> {
        self.write(Op::SetVersioning(SetVersioningCmd {
            bucket: bucket.to_string(),
            versioning: stored::versioning_to(versioning),
        }))
        .await
    }

    async fn list_versions(&self, q: &VersionQuery) -> Result<VersionPage, CoreError> {
        versions::list_versions(&self.barrier().await?, q)
    }

    async fn set_bucket_cors(
        &self,
        bucket: &str,
        rules: Vec<core::CorsRule>,
    ) -> Result<(), CoreError> {
        self.write(Op::SetBucketCors(SetBucketCorsCmd {
            bucket: bucket.to_string(),
            rules: rules.into_iter().map(stored::cors_rule_to).collect(),
        }))
        .await
    }

    async fn set_bucket_lifecycle(
        &self,
        bucket: &str,
        rules: Vec<core::LifecycleRule>,
    ) -> Result<(), CoreError> {
        self.write(Op::SetBucketLifecycle(SetBucketLifecycleCmd {
            bucket: bucket.to_string(),
            rules: rules.into_iter().map(stored::lifecycle_rule_to).collect(),
        }))
        .await
    }

    async fn set_bucket_tags(
        &self,
        bucket: &str,
        tags: std::collections::HashMap<String, String>,
    ) -> Result<(), CoreError> {
        self.write(Op::SetBucketTags(SetBucketTagsCmd {
            bucket: bucket.to_string(),
            tags,
        }))
        .await
    }

    async fn list_objects(&self, q: &ListQuery) -> Result<ListPage, CoreError> {
        list_page(&self.barrier().await?, q)
    }

    async fn object_within(
        &self,
        bucket: &str,
        key: &str,
        max_staleness: std::time::Duration,
    ) -> Result<core::ObjectRecord, CoreError> {
        let node = self
            .meta
            .node_within(max_staleness)
            .await
            .map_err(core_error)?;
        object_from(node.reader(), bucket, key)
    }

    async fn list_objects_within(
        &self,
        q: &ListQuery,
        max_staleness: std::time::Duration,
    ) -> Result<ListPage, CoreError> {
        let node = self
            .meta
            .node_within(max_staleness)
            .await
            .map_err(core_error)?;
        list_page(node.reader(), q)
    }

    async fn create_upload(&self, upload: core::MultipartUpload) -> Result<(), CoreError> {
        self.write(Op::CreateUpload(CreateUploadCmd {
            upload: Some(stored::upload_to(upload)),
        }))
        .await
    }

    async fn upload(&self, upload_id: &str) -> Result<core::MultipartUpload, CoreError> {
        self.barrier()
            .await?
            .upload(upload_id)
            .map_err(core_error)?
            .ok_or_else(|| CoreError::NoSuchUpload(upload_id.to_string()))
    }

    async fn put_part(&self, upload_id: &str, part: core::PartRecord) -> Result<(), CoreError> {
        self.write(Op::PutPart(PutPartCmd {
            upload_id: upload_id.to_string(),
            part: Some(stored::part_to(part)),
        }))
        .await
    }

    async fn list_parts(&self, upload_id: &str) -> Result<Vec<core::PartRecord>, CoreError> {
        let reader = self.barrier().await?;
        reader
            .upload(upload_id)
            .map_err(core_error)?
            .ok_or_else(|| CoreError::NoSuchUpload(upload_id.to_string()))?;
        reader.parts(upload_id).map_err(core_error)
    }

    async fn complete_upload(
        &self,
        upload_id: &str,
        record: core::ObjectRecord,
    ) -> Result<core::ObjectRecord, CoreError> {
        let upload = self.upload(upload_id).await?;
        let (mut record, ack) = self.placed(&upload.bucket, &upload.key, record)?;
        let out = self
            .write_outcome(Op::CompleteUpload(CompleteUploadCmd {
                upload_id: upload_id.to_string(),
                record: Some(stored::object_to(record.clone())),
            }))
            .await?;
        record.versioning = versions::versioning_of(&out);
        self.replication.notify_one();
        self.wait_for_ack(&upload.bucket, &upload.key, &record, ack)
            .await?;
        Ok(record)
    }

    async fn abort_upload(&self, upload_id: &str) -> Result<(), CoreError> {
        self.write(Op::AbortUpload(AbortUploadCmd {
            upload_id: upload_id.to_string(),
        }))
        .await
    }

    async fn completed_upload(
        &self,
        upload_id: &str,
    ) -> Result<Option<core::CompletedUpload>, CoreError> {
        self.barrier()
            .await?
            .completed_upload(upload_id)
            .map_err(core_error)
    }

    async fn set_tags(
        &self,
        bucket: &str,
        key: &str,
        version_id: &str,
        tags: std::collections::HashMap<String, String>,
    ) -> Result<bool, CoreError> {
        let out = self
            .meta
            .write_one(cmd(Op::SetTags(SetTagsCmd {
                bucket: bucket.to_string(),
                key: key.to_string(),
                version_id: version_id.to_string(),
                tags,
            })))
            .await
            .map_err(core_error)?;
        Ok(!matches!(out, meridian_meta::Outcome::Stale))
    }

    async fn list_uploads(&self, bucket: &str) -> Result<Vec<core::MultipartUpload>, CoreError> {
        let reader = self.barrier().await?;
        let b = bucket_from(&reader, bucket)?;
        let mut out = Vec::new();
        for id in reader
            .bucket_uploads(b.id, MAX_LISTED_UPLOADS)
            .map_err(core_error)?
        {
            if let Some(u) = reader.upload(&id).map_err(core_error)? {
                out.push(u);
            }
        }
        Ok(out)
    }

    async fn release_chunks(&self, site: u32, chunks: &[core::ChunkRef]) {
        if chunks.is_empty() {
            return;
        }
        let op = Op::GcOffer(GcOfferCmd {
            site,
            chunks: stored::chunks_to(chunks),
        });
        if let Err(e) = self.write(op).await {
            tracing::warn!(site, chunks = chunks.len(), error = %e, "could not hand an uncommitted write's chunks to reclamation; they stay on disk");
        }
    }

    async fn set_bucket_policy(&self, bucket: &str, policy: &str) -> Result<(), CoreError> {
        self.write(Op::SetBucketPolicy(SetBucketPolicyCmd {
            bucket: bucket.to_string(),
            policy: policy.to_string(),
        }))
        .await
    }

    async fn access_key(
        &self,
        access_key: &str,
    ) -> Result<Option<meridian_core::catalogue::KeyOwner>, CoreError> {
        let Some(k) = self
            .barrier()
            .await?
            .access_key(access_key)
            .map_err(core_error)?
        else {
            return Ok(None);
        };
        let secret = self
            .keyring
            .open(&k.access_key, &k.sealed_secret)
            .map_err(|e| CoreError::Internal(e.to_string()))?;
        Ok(Some(meridian_core::catalogue::KeyOwner {
            user: k.user,
            secret,
        }))
    }

    async fn create_dataset(&self, d: NewDataset) -> Result<(), CoreError> {
        self.create_dataset_cmd(d).await
    }

    async fn dataset(&self, name: &str) -> Result<DatasetRecord, CoreError> {
        self.dataset_read(name).await
    }

    async fn list_datasets(
        &self,
        after: &str,
        limit: usize,
    ) -> Result<Vec<DatasetRecord>, CoreError> {
        self.list_datasets_read(after, limit).await
    }

    async fn change_dataset(
        &self,
        name: &str,
        change: DatasetChange,
        if_version: u64,
    ) -> Result<(), CoreError> {
        self.change_dataset_cmd(name, change, if_version).await
    }

    async fn dataset_files(
        &self,
        name: &str,
        after: Option<FileRef>,
        limit: usize,
    ) -> Result<FilePage, CoreError> {
        self.dataset_files_read(name, after, limit).await
    }

    async fn manifest(
        &self,
        name: &str,
        after: Option<FileRef>,
        limit: usize,
    ) -> Result<Vec<ManifestEntry>, CoreError> {
        self.manifest_read(name, after, limit).await
    }

    async fn file_datasets(&self, bucket: &str, key: &str) -> Result<Vec<String>, CoreError> {
        self.file_datasets_read(bucket, key).await
    }

    async fn dataset_metadata(
        &self,
        name: &str,
    ) -> Result<Vec<meridian_core::dataset::MetadataDoc>, CoreError> {
        self.dataset_metadata_read(name).await
    }

    async fn record_access(
        &self,
        shipment: &str,
        files: Vec<meridian_core::tracking::FileTally>,
    ) -> Result<(), CoreError> {
        let op = Op::RecordAccess(meridian_meta::catalogue::access_tallies::shipment_cmd(
            shipment, &files,
        ));
        // The shipment's name is the request id: a retry is answered, not
        // added again.
        let command = Command {
            op: Some(op),
            request_id: blake3::hash(shipment.as_bytes()).as_bytes().to_vec(),
        };
        self.meta
            .write_one(command)
            .await
            .map(|_| ())
            .map_err(core_error)
    }

    async fn file_access(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<Option<meridian_core::tracking::Tally>, CoreError> {
        self.barrier()
            .await?
            .file_access(bucket, key)
            .map_err(core_error)
    }

    async fn search(
        &self,
        query: &meridian_core::search::Query,
    ) -> Result<meridian_core::search::SearchPage, CoreError> {
        let plan = meridian_core::search::plan(query)?;
        self.barrier()
            .await?
            .search(query, &plan)
            .map_err(read::core_error)
    }
}
