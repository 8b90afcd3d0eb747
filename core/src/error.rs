use thiserror::Error;

/// Errors of the domain: what an operation on buckets, objects and chunks can
/// answer, whichever plane found it. The protocol crates map each onto one
/// S3 error code and one gRPC status.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum CoreError {
    #[error("no such bucket: {0}")]
    NoSuchBucket(String),
    #[error("bucket already exists: {0}")]
    BucketExists(String),
    #[error("bucket not empty: {0}")]
    BucketNotEmpty(String),
    #[error("invalid bucket name: {0}")]
    InvalidBucketName(String),
    #[error("no such key: {0}")]
    NoSuchKey(String),
    #[error("invalid key: {0}")]
    InvalidKey(String),
    #[error("no such version: {0}")]
    NoSuchVersion(String),
    /// The version asked for is a delete marker (S3: 405 by version id).
    #[error("the version is a delete marker: {0}")]
    DeleteMarker(String),
    #[error("no such upload: {0}")]
    NoSuchUpload(String),
    #[error("invalid part: {0}")]
    InvalidPart(String),
    #[error("invalid part order: {0}")]
    InvalidPartOrder(String),
    #[error("unknown site: {0}")]
    UnknownSite(String),
    #[error("invalid range: {0}")]
    InvalidRange(String),
    /// The body ended before its declared length, or the client went away.
    #[error("incomplete body: {0}")]
    IncompleteBody(String),
    /// The bytes do not match a declared size or hash.
    #[error("bad digest: {0}")]
    BadDigest(String),
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// A conditional request's condition does not hold.
    #[error("precondition failed: {0}")]
    PreconditionFailed(String),
    /// ACLs are disabled on the bucket (BucketOwnerEnforced).
    #[error("ACLs not supported: {0}")]
    AclNotSupported(String),
    /// BucketOwnerEnforced asked of a bucket whose ACL grants to others.
    #[error("{0}")]
    AclConflictsWithOwnership(String),
    /// Versioning or Object Lock in a state that does not allow the request.
    #[error("invalid bucket state: {0}")]
    InvalidBucketState(String),
    /// Retention or a legal hold asked of a bucket without Object Lock.
    #[error("{0}")]
    NoObjectLock(String),
    /// The version is protected by retention or a legal hold.
    #[error("{0}")]
    ObjectLocked(String),
    #[error("no such dataset: {0}")]
    NoSuchDataset(String),
    #[error("dataset already exists: {0}")]
    DatasetExists(String),
    /// The dataset's state (open, closed, published) does not allow the
    /// change; the message says what would.
    #[error("{0}")]
    DatasetState(String),
    /// Stored bytes failed verification and no other replica had good ones.
    #[error("corrupt data: {0}")]
    Corrupt(String),
    /// The catalogue has no leader, a store is unreachable: retry later.
    #[error("unavailable: {0}")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}
