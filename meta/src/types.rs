//! openraft type configuration and the application data of the log.

use std::io::Cursor;

use meridian_proto::v1::CommandBatch;
use prost::Message;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

// The type config's default SnapshotData is `Cursor<Vec<u8>>`; we override it
// with a file, but the macro still names `Cursor`.
#[allow(dead_code)]
type _Cursor = Cursor<Vec<u8>>;

openraft::declare_raft_types!(
    /// Meridian's Raft types: node ids are u64, snapshots are files.
    pub TypeConfig:
        D = Request,
        R = Response,
        NodeId = u64,
        Node = openraft::BasicNode,
        SnapshotData = tokio::fs::File,
);

/// The payload of one Raft entry: a batch of catalogue commands. On the wire
/// and on disk it is the protobuf `CommandBatch`; serde sees opaque bytes.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Request(pub CommandBatch);

impl Serialize for Request {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.0.encode_to_vec())
    }
}

impl<'de> Deserialize<'de> for Request {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let bytes: Vec<u8> = serde::de::Deserialize::deserialize(d)?;
        CommandBatch::decode(bytes.as_slice())
            .map(Request)
            .map_err(serde::de::Error::custom)
    }
}

impl std::fmt::Display for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "batch of {} commands", self.0.commands.len())
    }
}

/// Why the state machine refused a command. Stable: clients map these onto
/// S3 and gRPC errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OutcomeCode {
    NoSuchBucket,
    BucketExists,
    BucketNotEmpty,
    NoSuchKey,
    NoSuchUpload,
    Invalid,
    NoSuchUser,
    UserExists,
    NoSuchAccessKey,
    PreconditionFailed,
    /// ACLs are disabled (BucketOwnerEnforced).
    AclNotSupported,
    /// BucketOwnerEnforced asked of a bucket whose ACL grants to others.
    AclConflictsWithOwnership,
    /// Versioning or Object Lock in a state that does not allow it.
    InvalidBucketState,
    /// Retention or a legal hold asked of a bucket without Object Lock.
    NoObjectLock,
    /// The version is protected by retention or a legal hold.
    ObjectLocked,
    NoSuchDataset,
    DatasetExists,
    /// The dataset's state does not allow the change.
    DatasetState,
}

/// The result of one command, in the order of the batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    Done,
    /// A replica update that named a version the key no longer holds.
    Stale,
    /// A write or delete in a bucket with versioning: the S3 version id it
    /// made or removed ("null" for the null version), and whether that is a
    /// delete marker.
    Versioned {
        version_id: String,
        delete_marker: bool,
    },
    Rejected {
        code: OutcomeCode,
        message: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Response(pub Vec<Outcome>);

/// A command with a fresh request id: retries of it (the same value) are
/// applied at most once.
pub fn command(op: meridian_proto::v1::command::Op) -> meridian_proto::v1::Command {
    meridian_proto::v1::Command {
        op: Some(op),
        request_id: rand::random::<[u8; 16]>().to_vec(),
    }
}
