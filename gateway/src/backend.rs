//! What the gateway needs from the planes below it, as traits.
//!
//! The gateway holds no state: records live in the catalogue (meta role) and
//! bytes in the chunk stores (data role). `node` wires real implementations in;
//! tests may wire in-memory or faulty ones.

use async_trait::async_trait;
use bytes::Bytes;
use meridian_proto::v1::{BucketRecord, MultipartUpload, ObjectRecord, PartRecord};

use crate::GatewayError;

/// A BLAKE3 chunk hash.
pub type ChunkHash = [u8; 32];

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
    if record.versioning == meridian_proto::v1::Versioning::Enabled as u32 {
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
    pub acl: Vec<meridian_proto::v1::BucketGrant>,
}

/// A change to a bucket's access and protection settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BucketChange {
    /// Replaces the S3 ACL (Meridian's grant levels stay).
    Acl(Vec<meridian_proto::v1::BucketGrant>),
    /// Object ownership (0 removes the setting).
    Ownership(u32),
    PublicAccessBlock(Option<meridian_proto::v1::PublicAccessBlock>),
    ObjectLock(meridian_proto::v1::ObjectLockConfig),
}

/// A change to one version, applied only while the key still holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionChange {
    Acl(Vec<meridian_proto::v1::BucketGrant>),
    /// Retention (LockMode; 0 removes it) until then; shortening or
    /// removing GOVERNANCE retention needs the bypass.
    Retention {
        mode: u32,
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
    ) -> Result<(), GatewayError>;
    /// Fails with `BucketNotEmpty` while the bucket holds objects, versions
    /// or delete markers; its unfinished multipart uploads go with it (as
    /// in S3).
    async fn delete_bucket(&self, name: &str) -> Result<(), GatewayError>;
    async fn bucket(&self, name: &str) -> Result<BucketRecord, GatewayError>;
    async fn list_buckets(&self) -> Result<Vec<BucketRecord>, GatewayError>;

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
    ) -> Result<ObjectRecord, GatewayError>;
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
    ) -> Result<ObjectRecord, GatewayError> {
        let _ = (bucket, key, record, condition, source);
        Err(GatewayError::Internal(
            "this catalogue cannot share chunks between objects".into(),
        ))
    }

    /// `NoSuchKey` if absent.
    async fn object(&self, bucket: &str, key: &str) -> Result<ObjectRecord, GatewayError>;
    /// Removing a key that is absent is not an error (as in S3). With
    /// versioning this adds a delete marker instead.
    async fn delete_object(&self, bucket: &str, key: &str) -> Result<Deleted, GatewayError>;
    /// Removes one version (S3 version id, "null" included) for good;
    /// `ObjectLocked` while retention or a legal hold protects it (GOVERNANCE
    /// retention yields to `bypass_governance`).
    async fn delete_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: &str,
        bypass_governance: bool,
    ) -> Result<Deleted, GatewayError> {
        let _ = (bucket, key, version_id, bypass_governance);
        Err(GatewayError::Internal(
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
    ) -> Result<ObjectRecord, GatewayError> {
        let _ = (bucket, key);
        Err(GatewayError::NoSuchVersion(version_id.to_string()))
    }
    /// Turns versioning on (`Versioning::Enabled`) or suspends it.
    async fn set_versioning(&self, bucket: &str, versioning: u32) -> Result<(), GatewayError> {
        let _ = (bucket, versioning);
        Err(GatewayError::Internal(
            "this catalogue keeps no versions".into(),
        ))
    }
    async fn list_versions(&self, query: &VersionQuery) -> Result<VersionPage, GatewayError> {
        let _ = query;
        Err(GatewayError::Internal(
            "this catalogue keeps no versions".into(),
        ))
    }
    /// Replaces a bucket's CORS rules (already checked; empty: none).
    async fn set_bucket_cors(
        &self,
        bucket: &str,
        rules: Vec<meridian_proto::v1::CorsRule>,
    ) -> Result<(), GatewayError> {
        let _ = (bucket, rules);
        Err(GatewayError::Internal(
            "this catalogue keeps no CORS rules".into(),
        ))
    }
    /// Replaces a bucket's lifecycle rules (already checked; empty: none).
    async fn set_bucket_lifecycle(
        &self,
        bucket: &str,
        rules: Vec<meridian_proto::v1::LifecycleRule>,
    ) -> Result<(), GatewayError> {
        let _ = (bucket, rules);
        Err(GatewayError::Internal(
            "this catalogue keeps no lifecycle rules".into(),
        ))
    }
    /// Replaces a bucket's tags (empty: none).
    async fn set_bucket_tags(
        &self,
        bucket: &str,
        tags: std::collections::HashMap<String, String>,
    ) -> Result<(), GatewayError> {
        let _ = (bucket, tags);
        Err(GatewayError::Internal(
            "this catalogue keeps no bucket tags".into(),
        ))
    }
    async fn list_objects(&self, query: &ListQuery) -> Result<ListPage, GatewayError>;

    /// As `object`, but may be served from state that misses writes
    /// acknowledged less than `max_staleness` ago (no read barrier, possibly
    /// a follower). A backend without such reads answers linearizably.
    async fn object_within(
        &self,
        bucket: &str,
        key: &str,
        max_staleness: std::time::Duration,
    ) -> Result<ObjectRecord, GatewayError> {
        let _ = max_staleness;
        self.object(bucket, key).await
    }

    /// As `list_objects`, with the staleness of `object_within`.
    async fn list_objects_within(
        &self,
        query: &ListQuery,
        max_staleness: std::time::Duration,
    ) -> Result<ListPage, GatewayError> {
        let _ = max_staleness;
        self.list_objects(query).await
    }

    async fn create_upload(&self, upload: MultipartUpload) -> Result<(), GatewayError>;
    /// `NoSuchUpload` if absent, completed or aborted.
    async fn upload(&self, upload_id: &str) -> Result<MultipartUpload, GatewayError>;
    /// Records a part whose chunks are durable; replaces an earlier part of the same number.
    async fn put_part(&self, upload_id: &str, part: PartRecord) -> Result<(), GatewayError>;
    /// Parts in part-number order.
    async fn list_parts(&self, upload_id: &str) -> Result<Vec<PartRecord>, GatewayError>;
    /// Atomically turns the upload into an object and forgets the upload.
    async fn complete_upload(
        &self,
        upload_id: &str,
        record: ObjectRecord,
    ) -> Result<ObjectRecord, GatewayError>;
    async fn abort_upload(&self, upload_id: &str) -> Result<(), GatewayError>;
    /// What a completed upload answered, kept for a while after its
    /// completion for retries of it; `None` once forgotten (or never).
    async fn completed_upload(
        &self,
        upload_id: &str,
    ) -> Result<Option<meridian_proto::v1::CompletedUpload>, GatewayError>;

    /// A bucket's uploads in progress (at most 10,000), in no order.
    async fn list_uploads(&self, bucket: &str) -> Result<Vec<MultipartUpload>, GatewayError>;

    /// Replaces an object's tags if it still holds `version_id`; `false`
    /// if it was overwritten or deleted meanwhile.
    async fn set_tags(
        &self,
        bucket: &str,
        key: &str,
        version_id: &str,
        tags: std::collections::HashMap<String, String>,
    ) -> Result<bool, GatewayError> {
        let _ = (bucket, key, version_id, tags);
        Err(GatewayError::Internal(
            "this catalogue keeps no tags".into(),
        ))
    }

    /// Hands the chunks of a write that did not commit to chunk
    /// reclamation (best effort: a failure leaves them on disk).
    async fn release_chunks(&self, site: u32, chunks: &[meridian_proto::v1::ChunkRef]) {
        let _ = (site, chunks);
    }

    /// Changes a bucket's ACL, ownership, public access block or Object
    /// Lock configuration (already checked against S3's syntax; the
    /// catalogue enforces what depends on the bucket's state).
    async fn update_bucket(&self, bucket: &str, change: BucketChange) -> Result<(), GatewayError> {
        let _ = (bucket, change);
        Err(GatewayError::Internal(
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
    ) -> Result<bool, GatewayError> {
        let _ = (bucket, key, version_id, change);
        Err(GatewayError::Internal(
            "this catalogue keeps no object protection settings".into(),
        ))
    }

    /// Sets a bucket's policy (already checked); empty removes it.
    async fn set_bucket_policy(&self, bucket: &str, policy: &str) -> Result<(), GatewayError> {
        let _ = (bucket, policy);
        Err(GatewayError::Internal(
            "this catalogue keeps no bucket policies".into(),
        ))
    }

    /// The user and the secret of an access key; `None` if there is no such
    /// key (or it was revoked). A backend without users has none.
    async fn access_key(
        &self,
        access_key: &str,
    ) -> Result<Option<crate::access_cache::KeyOwner>, GatewayError> {
        let _ = access_key;
        Ok(None)
    }
}

/// The chunk stores of every site, as the gateway sees them.
#[async_trait]
pub trait ChunkStore: Send + Sync + 'static {
    /// Stores a chunk at `site` and returns once it is durable (fsync'd).
    /// Fails with `Corrupt` if `data` does not hash to `hash`.
    async fn put_chunk(&self, site: u32, hash: &ChunkHash, data: Bytes)
        -> Result<(), GatewayError>;
    /// Returns the chunk's bytes, verified against `hash`, for a reader at
    /// `reader_site`. `holders` are the sites that hold it (complete replicas);
    /// the store tries the cheapest first and moves on to the next on a
    /// missing or corrupt chunk, crossing the inter-site links (and their rate
    /// limits) when the chunk is not at the reader's site.
    async fn read_chunk(
        &self,
        reader_site: u32,
        holders: &[u32],
        hash: &ChunkHash,
        size: u32,
    ) -> Result<Bytes, GatewayError>;
    /// Called just before committing a record that references `hashes` at
    /// `site`, written (or found) from `written` on: a store that reclaims
    /// unreferenced chunks after a grace period makes sure they are still
    /// there and fresh, or fails (retryable) so that nothing is committed
    /// over a chunk it removed.
    async fn keep_fresh(
        &self,
        _site: u32,
        _hashes: &[ChunkHash],
        _written: std::time::Instant,
    ) -> Result<(), GatewayError> {
        Ok(())
    }
}
