//! The catalogue contract: what the protocols (S3, gRPC) and the background
//! jobs need from the metadata plane, and the queries and answers it speaks.
//!
//! Records live in the catalogue (the meta plane, over Raft); `node` wires the
//! real implementation in; tests may wire in-memory or faulty ones.

use crate::records::{
    BucketGrant, BucketRecord, ChunkRef, CompletedUpload, CorsRule, LifecycleRule, LockMode,
    MultipartUpload, ObjectLockConfig, ObjectRecord, PartRecord, PublicAccessBlock, Versioning,
};
use async_trait::async_trait;

use crate::dataset::{
    DatasetChange, DatasetRecord, FilePage, FileRef, ManifestEntry, MetadataDoc, NewDataset,
};
use crate::CoreError;

/// An access key's user and secret.
#[derive(Clone)]
pub struct KeyOwner {
    pub user: String,
    pub secret: String,
}

/// One page of a listing, in key order (UTF-8 byte order).
#[derive(Debug, Clone, Default)]
pub struct ListPage {
    pub entries: Vec<ListEntry>,
    /// More keys follow; ask again with `start_after = next_after`.
    pub truncated: bool,
    /// The last key or common prefix returned; listing resumes after it.
    pub next_after: Option<String>,
}

#[derive(Debug, Clone)]
pub enum ListEntry {
    Object {
        key: String,
        record: ObjectRecord,
    },
    /// A common prefix (ends with the delimiter), shown once.
    Prefix(String),
}

#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub bucket: String,
    pub prefix: String,
    /// Group keys that share the prefix up to this string into one entry.
    pub delimiter: Option<String>,
    /// Exclusive: the listing starts after this key.
    pub start_after: Option<String>,
    /// At most this many entries (objects and prefixes together); 1..=1000.
    pub max_keys: usize,
}

/// What a delete did, as S3 reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Deleted {
    /// The version made (a delete marker) or removed; `None` in a bucket
    /// that never had versioning.
    pub version_id: Option<String>,
    pub delete_marker: bool,
}

/// A page of ListObjectVersions.
#[derive(Debug, Clone, Default)]
pub struct VersionQuery {
    pub bucket: String,
    pub prefix: String,
    pub delimiter: Option<String>,
    pub key_marker: Option<String>,
    pub version_marker: Option<String>,
    /// 1..=1000 entries (versions, delete markers and prefixes together).
    pub max_keys: usize,
}

#[derive(Debug, Clone)]
pub enum VersionEntry {
    /// A version or delete marker (`record.delete_marker`).
    Version {
        key: String,
        record: ObjectRecord,
        latest: bool,
    },
    Prefix(String),
}

/// Keys in order, each key's versions newest first.
#[derive(Debug, Clone, Default)]
pub struct VersionPage {
    pub entries: Vec<VersionEntry>,
    pub truncated: bool,
}

/// The S3 version id of a version: its own id if written with versioning
/// enabled, else "null".
pub fn s3_version_id(record: &ObjectRecord) -> &str {
    if record.versioning == Versioning::Enabled {
        &record.version_id
    } else {
        "null"
    }
}

/// A condition a write must meet, checked atomically when it commits.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum WriteCondition {
    #[default]
    Always,
    /// Only if the key holds no object (`If-None-Match: *`).
    IfAbsent,
    /// Only if the key's object has this ETag (`If-Match`).
    IfEtag(String),
}

/// The source of a server-side copy, as it was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopySource {
    pub bucket: String,
    pub key: String,
    pub version_id: String,
}

/// How a new bucket starts besides its name, owner and site.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewBucket {
    /// S3 object ownership (0 unset, 1 ObjectWriter, 2
    /// BucketOwnerPreferred, 3 BucketOwnerEnforced).
    pub object_ownership: u32,
    /// Object Lock enabled (versioning on with it, for good).
    pub object_lock: bool,
    /// Its S3 ACL grants (ACL bits).
    pub acl: Vec<BucketGrant>,
}

/// A change to a bucket's access and protection settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BucketChange {
    /// Replaces the S3 ACL (Meridian's grant levels stay).
    Acl(Vec<BucketGrant>),
    /// Object ownership (0 removes the setting).
    Ownership(u32),
    PublicAccessBlock(Option<PublicAccessBlock>),
    ObjectLock(ObjectLockConfig),
}

/// A change to one version, applied only while the key still holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionChange {
    Acl(Vec<BucketGrant>),
    /// Retention (`LockMode::None` removes it) until then; shortening or
    /// removing GOVERNANCE retention needs the bypass.
    Retention {
        mode: LockMode,
        until_ms: i64,
        bypass_governance: bool,
    },
    LegalHold(bool),
}

/// The catalogue, as the gateway sees it. Writes are committed through Raft
/// before they return; reads are linearizable.
#[async_trait]
pub trait Catalogue: Send + Sync + 'static {
    async fn create_bucket(
        &self,
        name: &str,
        owner: &str,
        ingest_site: u32,
        new: &NewBucket,
    ) -> Result<(), CoreError>;
    /// Fails with `BucketNotEmpty` while the bucket holds objects, versions
    /// or delete markers; its unfinished multipart uploads go with it (as
    /// in S3).
    async fn delete_bucket(&self, name: &str) -> Result<(), CoreError>;
    async fn bucket(&self, name: &str) -> Result<BucketRecord, CoreError>;
    async fn list_buckets(&self) -> Result<Vec<BucketRecord>, CoreError>;

    /// Commits an object whose chunks are durable at `record.ingest_site`.
    /// The catalogue applies the placement policy: it fills `policy` and the
    /// replica map (ingest complete, the rest pending) and returns the record
    /// as committed.
    async fn commit_object(
        &self,
        bucket: &str,
        key: &str,
        record: ObjectRecord,
        condition: &WriteCondition,
    ) -> Result<ObjectRecord, CoreError>;
    /// As `commit_object`, for a copy that shares the chunks of `source`:
    /// refused (`PreconditionFailed`) unless `source` still holds the
    /// version that was read, checked in the same commit.
    async fn commit_copy(
        &self,
        bucket: &str,
        key: &str,
        record: ObjectRecord,
        condition: &WriteCondition,
        source: &CopySource,
    ) -> Result<ObjectRecord, CoreError> {
        let _ = (bucket, key, record, condition, source);
        Err(CoreError::Internal(
            "this catalogue cannot share chunks between objects".into(),
        ))
    }

    /// `NoSuchKey` if absent.
    async fn object(&self, bucket: &str, key: &str) -> Result<ObjectRecord, CoreError>;
    /// Removing a key that is absent is not an error (as in S3). With
    /// versioning this adds a delete marker instead.
    async fn delete_object(&self, bucket: &str, key: &str) -> Result<Deleted, CoreError>;
    /// Removes one version (S3 version id, "null" included) for good;
    /// `ObjectLocked` while retention or a legal hold protects it (GOVERNANCE
    /// retention yields to `bypass_governance`).
    async fn delete_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: &str,
        bypass_governance: bool,
    ) -> Result<Deleted, CoreError> {
        let _ = (bucket, key, version_id, bypass_governance);
        Err(CoreError::Internal(
            "this catalogue keeps no versions".into(),
        ))
    }
    /// A version by S3 version id: `NoSuchVersion` if absent, `DeleteMarker`
    /// if it is one.
    async fn object_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: &str,
    ) -> Result<ObjectRecord, CoreError> {
        let _ = (bucket, key);
        Err(CoreError::NoSuchVersion(version_id.to_string()))
    }
    /// Turns versioning on (`Versioning::Enabled`) or suspends it.
    async fn set_versioning(&self, bucket: &str, versioning: Versioning) -> Result<(), CoreError> {
        let _ = (bucket, versioning);
        Err(CoreError::Internal(
            "this catalogue keeps no versions".into(),
        ))
    }
    async fn list_versions(&self, query: &VersionQuery) -> Result<VersionPage, CoreError> {
        let _ = query;
        Err(CoreError::Internal(
            "this catalogue keeps no versions".into(),
        ))
    }
    /// Replaces a bucket's CORS rules (already checked; empty: none).
    async fn set_bucket_cors(&self, bucket: &str, rules: Vec<CorsRule>) -> Result<(), CoreError> {
        let _ = (bucket, rules);
        Err(CoreError::Internal(
            "this catalogue keeps no CORS rules".into(),
        ))
    }
    /// Replaces a bucket's lifecycle rules (already checked; empty: none).
    async fn set_bucket_lifecycle(
        &self,
        bucket: &str,
        rules: Vec<LifecycleRule>,
    ) -> Result<(), CoreError> {
        let _ = (bucket, rules);
        Err(CoreError::Internal(
            "this catalogue keeps no lifecycle rules".into(),
        ))
    }
    /// Replaces a bucket's tags (empty: none).
    async fn set_bucket_tags(
        &self,
        bucket: &str,
        tags: std::collections::HashMap<String, String>,
    ) -> Result<(), CoreError> {
        let _ = (bucket, tags);
        Err(CoreError::Internal(
            "this catalogue keeps no bucket tags".into(),
        ))
    }
    async fn list_objects(&self, query: &ListQuery) -> Result<ListPage, CoreError>;

    /// As `object`, but may be served from state that misses writes
    /// acknowledged less than `max_staleness` ago (no read barrier, possibly
    /// a follower). A backend without such reads answers linearizably.
    async fn object_within(
        &self,
        bucket: &str,
        key: &str,
        max_staleness: std::time::Duration,
    ) -> Result<ObjectRecord, CoreError> {
        let _ = max_staleness;
        self.object(bucket, key).await
    }

    /// As `list_objects`, with the staleness of `object_within`.
    async fn list_objects_within(
        &self,
        query: &ListQuery,
        max_staleness: std::time::Duration,
    ) -> Result<ListPage, CoreError> {
        let _ = max_staleness;
        self.list_objects(query).await
    }

    async fn create_upload(&self, upload: MultipartUpload) -> Result<(), CoreError>;
    /// `NoSuchUpload` if absent, completed or aborted.
    async fn upload(&self, upload_id: &str) -> Result<MultipartUpload, CoreError>;
    /// Records a part whose chunks are durable; replaces an earlier part of the same number.
    async fn put_part(&self, upload_id: &str, part: PartRecord) -> Result<(), CoreError>;
    /// Parts in part-number order.
    async fn list_parts(&self, upload_id: &str) -> Result<Vec<PartRecord>, CoreError>;
    /// Atomically turns the upload into an object and forgets the upload.
    async fn complete_upload(
        &self,
        upload_id: &str,
        record: ObjectRecord,
    ) -> Result<ObjectRecord, CoreError>;
    async fn abort_upload(&self, upload_id: &str) -> Result<(), CoreError>;
    /// What a completed upload answered, kept for a while after its
    /// completion for retries of it; `None` once forgotten (or never).
    async fn completed_upload(&self, upload_id: &str)
        -> Result<Option<CompletedUpload>, CoreError>;

    /// A bucket's uploads in progress (at most 10,000), in no order.
    async fn list_uploads(&self, bucket: &str) -> Result<Vec<MultipartUpload>, CoreError>;

    /// Replaces an object's tags if it still holds `version_id`; `false`
    /// if it was overwritten or deleted meanwhile.
    async fn set_tags(
        &self,
        bucket: &str,
        key: &str,
        version_id: &str,
        tags: std::collections::HashMap<String, String>,
    ) -> Result<bool, CoreError> {
        let _ = (bucket, key, version_id, tags);
        Err(CoreError::Internal("this catalogue keeps no tags".into()))
    }

    /// Hands the chunks of a write that did not commit to chunk
    /// reclamation (best effort: a failure leaves them on disk).
    async fn release_chunks(&self, site: u32, chunks: &[ChunkRef]) {
        let _ = (site, chunks);
    }

    /// Changes a bucket's ACL, ownership, public access block or Object
    /// Lock configuration (already checked against S3's syntax; the
    /// catalogue enforces what depends on the bucket's state).
    async fn update_bucket(&self, bucket: &str, change: BucketChange) -> Result<(), CoreError> {
        let _ = (bucket, change);
        Err(CoreError::Internal(
            "this catalogue keeps no bucket protection settings".into(),
        ))
    }

    /// Changes one version (internal id); `false` if the key no longer
    /// holds it.
    async fn update_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: &str,
        change: VersionChange,
    ) -> Result<bool, CoreError> {
        let _ = (bucket, key, version_id, change);
        Err(CoreError::Internal(
            "this catalogue keeps no object protection settings".into(),
        ))
    }

    /// Sets a bucket's policy (already checked); empty removes it.
    async fn set_bucket_policy(&self, bucket: &str, policy: &str) -> Result<(), CoreError> {
        let _ = (bucket, policy);
        Err(CoreError::Internal(
            "this catalogue keeps no bucket policies".into(),
        ))
    }

    /// The user and the secret of an access key; `None` if there is no such
    /// key (or it was revoked). A backend without users has none.
    async fn access_key(&self, access_key: &str) -> Result<Option<KeyOwner>, CoreError> {
        let _ = access_key;
        Ok(None)
    }

    /// Creates an open dataset (`DatasetExists` if the name is taken).
    async fn create_dataset(&self, dataset: NewDataset) -> Result<(), CoreError> {
        let _ = dataset;
        Err(no_datasets())
    }

    /// `NoSuchDataset` if absent.
    async fn dataset(&self, name: &str) -> Result<DatasetRecord, CoreError> {
        let _ = name;
        Err(no_datasets())
    }

    /// Datasets in name order after `after`, at most `limit` (1..=1000).
    async fn list_datasets(
        &self,
        after: &str,
        limit: usize,
    ) -> Result<Vec<DatasetRecord>, CoreError> {
        let _ = (after, limit);
        Err(no_datasets())
    }

    /// Applies `change` if the dataset is at `if_version` (0: any) and its
    /// state allows it (`DatasetState` otherwise, naming what would).
    async fn change_dataset(
        &self,
        name: &str,
        change: DatasetChange,
        if_version: u64,
    ) -> Result<(), CoreError> {
        let _ = (name, change, if_version);
        Err(no_datasets())
    }

    /// A page of the files attached to `name`, after `after`.
    async fn dataset_files(
        &self,
        name: &str,
        after: Option<FileRef>,
        limit: usize,
    ) -> Result<FilePage, CoreError> {
        let _ = (name, after, limit);
        Err(no_datasets())
    }

    /// A published dataset's manifest after `after`, at most `limit`.
    async fn manifest(
        &self,
        name: &str,
        after: Option<FileRef>,
        limit: usize,
    ) -> Result<Vec<ManifestEntry>, CoreError> {
        let _ = (name, after, limit);
        Err(no_datasets())
    }

    /// The datasets a file is attached to.
    async fn file_datasets(&self, bucket: &str, key: &str) -> Result<Vec<String>, CoreError> {
        let _ = (bucket, key);
        Err(no_datasets())
    }

    /// A dataset's metadata packages, in package order (`NoSuchDataset`
    /// if absent).
    async fn dataset_metadata(&self, name: &str) -> Result<Vec<MetadataDoc>, CoreError> {
        let _ = name;
        Err(no_datasets())
    }

    /// Adds a shipment of per-file tallies from a node's access log;
    /// `shipment` names it, so a retry after a lost answer adds nothing.
    async fn record_access(
        &self,
        shipment: &str,
        files: Vec<crate::tracking::FileTally>,
    ) -> Result<(), CoreError> {
        let _ = (shipment, files);
        Err(CoreError::Internal(
            "this catalogue keeps no access tallies".into(),
        ))
    }

    /// What `bucket`/`key` saw, as shipped so far (`None`: nothing).
    async fn file_access(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<Option<crate::tracking::Tally>, CoreError> {
        let _ = (bucket, key);
        Err(CoreError::Internal(
            "this catalogue keeps no access tallies".into(),
        ))
    }

    /// One page of a search (`crate::search`): the files or datasets that
    /// meet every filter, in the order of the walk the query's plan picks;
    /// answered from indexes kept with the records, so never stale against
    /// a write acknowledged before it.
    async fn search(
        &self,
        query: &crate::search::Query,
    ) -> Result<crate::search::SearchPage, CoreError> {
        let _ = query;
        Err(CoreError::Internal("this catalogue has no search".into()))
    }
}

fn no_datasets() -> CoreError {
    CoreError::Internal("this catalogue keeps no datasets".into())
}
