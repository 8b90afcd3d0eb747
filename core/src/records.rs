//! What the catalogue records about objects, buckets and uploads, as the
//! domain sees it: plain Rust with real enums and fixed-size hashes. The
//! catalogue's storage (`meridian-meta`) and the wire (`meridian-proto`)
//! have their own encodings; the crates at those edges translate, and a
//! stored value that does not translate (an unknown state, a hash of the
//! wrong length) is an error there, never a default here.

use std::collections::HashMap;

use crate::access::Level;
use crate::chunks::ChunkHash;

/// One fixed-size slice of an object, addressed by the BLAKE3 of its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChunkRef {
    pub hash: ChunkHash,
    /// Bytes; only the last chunk of an object or part may be short.
    pub size: u32,
}

/// Where a site's copy of a version stands. States only move forward
/// (the catalogue refuses anything else): pending -> copying -> complete;
/// complete -> suspect or lost; suspect or lost -> pending for repair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ReplicaState {
    Pending,
    Copying,
    Complete,
    Suspect,
    Lost,
}

impl ReplicaState {
    /// Not yet a replica to read from.
    pub fn is_pending(self) -> bool {
        matches!(self, ReplicaState::Pending | ReplicaState::Copying)
    }

    pub fn name(self) -> &'static str {
        match self {
            ReplicaState::Pending => "pending",
            ReplicaState::Copying => "copying",
            ReplicaState::Complete => "complete",
            ReplicaState::Suspect => "suspect",
            ReplicaState::Lost => "lost",
        }
    }
}

/// One site's copy of a version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Replica {
    pub site: u32,
    pub state: ReplicaState,
    /// When every chunk was last verified there; 0: never.
    pub verified_at_ms: i64,
    /// Why placement chose the site (`placement::Reason`); 0: not recorded.
    pub reason: u32,
}

/// The bucket's versioning, and the state a version was written under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Versioning {
    /// Never enabled: one version per key.
    #[default]
    Off,
    /// Every write and delete adds a version.
    Enabled,
    /// Writes and deletes replace the "null" version.
    Suspended,
}

/// Object Lock retention.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum LockMode {
    #[default]
    None,
    /// Removable early by whoever may bypass governance retention.
    Governance,
    /// Removable by no one until it ends.
    Compliance,
}

/// A grant on a bucket (or, in [`ObjectRecord::acl`], on a version): a user
/// name or a group (`group:AllUsers`, `group:AuthenticatedUsers`), with a
/// Meridian level, S3 ACL permissions, or both.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BucketGrant {
    pub user: String,
    /// `None`: S3 ACL permissions only.
    pub level: Option<Level>,
    /// S3 ACL permission bits: 1 READ, 2 WRITE, 4 READ_ACP, 8 WRITE_ACP.
    pub acl: u32,
}

/// One version of an object (or a delete marker).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ObjectRecord {
    pub size: u64,
    /// BLAKE3 of the whole content; `None` for a delete marker.
    pub blake3: Option<ChunkHash>,
    /// S3 ETag, without quotes.
    pub etag: String,
    pub content_type: String,
    pub user_meta: HashMap<String, String>,
    pub owner: String,
    pub chunks: Vec<ChunkRef>,
    pub chunk_size: u32,
    /// The placement rule that governs it.
    pub policy: String,
    pub replicas: Vec<Replica>,
    pub created_ms: i64,
    pub ingest_site: u32,
    /// Unique per write; replica updates name it.
    pub version_id: String,
    /// Multipart part count; 0 for a single PUT.
    pub parts: u32,
    /// Deleted then (its rule's lifetime); 0: never.
    pub expires_ms: i64,
    /// x-amz-checksum-* of the content: algorithm -> base64.
    pub checksums: HashMap<String, String>,
    pub tags: HashMap<String, String>,
    /// The bucket's versioning when this version was written (the
    /// catalogue's to decide): `Enabled`: its S3 version id is
    /// `version_id`; otherwise "null".
    pub versioning: Versioning,
    pub delete_marker: bool,
    /// Multipart: each part's size, in order.
    pub part_sizes: Vec<u64>,
    /// Of `checksums` for multipart objects: COMPOSITE or FULL_OBJECT.
    pub checksum_type: String,
    /// S3 ACL grants of this version; its owner has full control besides.
    pub acl: Vec<BucketGrant>,
    pub lock_mode: LockMode,
    pub lock_until_ms: i64,
    pub legal_hold: bool,
    /// The file format its first bytes show (`ROOT`, `HDF5`, ...); empty:
    /// not recognised.
    pub file_format: String,
}

impl ObjectRecord {
    /// The sites holding a complete replica.
    pub fn complete_sites(&self) -> impl Iterator<Item = u32> + '_ {
        self.replicas
            .iter()
            .filter(|r| r.state == ReplicaState::Complete)
            .map(|r| r.site)
    }

    /// What the chunks add up to; equal to `size` in a sound record.
    pub fn chunk_bytes(&self) -> u64 {
        self.chunks.iter().map(|c| u64::from(c.size)).sum()
    }
}

/// A bucket's Object Lock configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ObjectLockConfig {
    pub enabled: bool,
    /// `LockMode::None`: no default retention.
    pub default_mode: LockMode,
    /// One of days and years.
    pub default_days: u32,
    pub default_years: u32,
}

/// S3's PublicAccessBlock settings of a bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PublicAccessBlock {
    pub block_public_acls: bool,
    pub ignore_public_acls: bool,
    pub block_public_policy: bool,
    pub restrict_public_buckets: bool,
}

/// One rule of a bucket's lifecycle configuration (checked when set). The
/// filter is the conjunction of what is given; days are lifecycle days.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LifecycleRule {
    pub id: String,
    pub enabled: bool,
    pub prefix: String,
    /// Every one must be on the object.
    pub tags: HashMap<String, String>,
    /// 0: no lower bound.
    pub size_greater_than: u64,
    /// 0: no upper bound.
    pub size_less_than: u64,
    /// Current versions, after creation; 0: none.
    pub expiration_days: u32,
    /// Current versions, from then on; 0: none.
    pub expiration_date_ms: i64,
    /// Remove a delete marker that is all that is left of a key.
    pub expired_object_delete_marker: bool,
    /// Noncurrent versions, after becoming so; 0: none.
    pub noncurrent_days: u32,
    /// Keep this many newest noncurrent versions.
    pub newer_noncurrent_versions: u32,
    /// Uploads, after initiation; 0: none.
    pub abort_incomplete_upload_days: u32,
}

/// One rule of a bucket's CORS configuration (checked when set).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CorsRule {
    pub id: String,
    pub allowed_origins: Vec<String>,
    pub allowed_methods: Vec<String>,
    pub allowed_headers: Vec<String>,
    pub expose_headers: Vec<String>,
    pub max_age_seconds: Option<i32>,
}

/// A bucket and its settings.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BucketRecord {
    pub id: u64,
    pub name: String,
    pub created_ms: i64,
    pub owner: String,
    pub ingest_site: u32,
    /// One per user, by user name.
    pub grants: Vec<BucketGrant>,
    /// Bucket policy (JSON, checked when set); empty: none.
    pub policy: String,
    pub versioning: Versioning,
    pub tags: HashMap<String, String>,
    pub cors: Vec<CorsRule>,
    pub lifecycle: Vec<LifecycleRule>,
    /// S3 object ownership: 0 unset, 1 ObjectWriter, 2
    /// BucketOwnerPreferred, 3 BucketOwnerEnforced.
    pub object_ownership: u32,
    pub public_access_block: Option<PublicAccessBlock>,
    pub object_lock: Option<ObjectLockConfig>,
}

/// A multipart upload in progress.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MultipartUpload {
    pub upload_id: String,
    pub bucket: String,
    pub key: String,
    pub content_type: String,
    pub user_meta: HashMap<String, String>,
    pub created_ms: i64,
    pub ingest_site: u32,
    pub owner: String,
    /// x-amz-checksum-algorithm at creation; empty: none.
    pub checksum_algorithm: String,
    /// COMPOSITE or FULL_OBJECT; empty: none.
    pub checksum_type: String,
    /// What the object gets at completion, as asked at creation.
    pub acl: Vec<BucketGrant>,
    pub lock_mode: LockMode,
    pub lock_until_ms: i64,
    pub legal_hold: bool,
    /// Set for an upload session of the client API (declared size and
    /// hash, one part per chunk); `None` for an S3 multipart upload.
    pub session: Option<crate::session::UploadSession>,
}

/// One stored part of an upload.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PartRecord {
    pub part_number: u32,
    /// Hex MD5 of the part, without quotes.
    pub etag: String,
    pub size: u64,
    pub chunks: Vec<ChunkRef>,
    pub created_ms: i64,
    /// x-amz-checksum-* verified on UploadPart: algorithm -> base64.
    pub checksums: HashMap<String, String>,
    /// A session's chunk: its BLAKE3 chaining value at its offset in the
    /// object, from which the object's hash is made without reading the
    /// chunks again (`crate::session::object_hash`).
    pub chaining_value: Option<[u8; 32]>,
    /// What the part's first bytes show (the first part's is the object's).
    pub file_format: String,
}

/// What a completed multipart upload answered, kept for a while so that a
/// retried CompleteMultipartUpload is answered as the first was.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CompletedUpload {
    pub bucket: String,
    pub key: String,
    /// The object's: the parts' MD5s, -N.
    pub etag: String,
    /// The version made (internal id).
    pub version_id: String,
    pub versioning: Versioning,
    pub checksums: HashMap<String, String>,
    pub checksum_type: String,
    /// The record's `created_ms`.
    pub completed_ms: i64,
}
