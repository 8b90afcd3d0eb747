//! The access-and-protection half of the gateway's catalogue: bucket
//! ACLs, ownership, public access blocks and Object Lock, and a version's
//! ACL, retention and legal hold, as Raft commands.

use meridian_core::catalogue::{BucketChange, VersionChange};
use meridian_meta::records as stored;
use meridian_proto::v1::command::Op;
use meridian_proto::v1::*;

/// The command a bucket change is.
pub fn bucket_command(bucket: &str, change: BucketChange) -> Op {
    let bucket = bucket.to_string();
    match change {
        BucketChange::Acl(grants) => Op::SetBucketAcl(SetBucketAclCmd {
            bucket,
            grants: stored::grants_to(&grants),
        }),
        BucketChange::Ownership(ownership) => {
            Op::SetBucketOwnership(SetBucketOwnershipCmd { bucket, ownership })
        }
        BucketChange::PublicAccessBlock(block) => {
            Op::SetPublicAccessBlock(SetPublicAccessBlockCmd {
                bucket,
                block: block.as_ref().map(stored::access_block_to),
            })
        }
        BucketChange::ObjectLock(config) => Op::SetObjectLock(SetObjectLockCmd {
            bucket,
            config: Some(stored::lock_config_to(&config)),
        }),
    }
}

/// The command a version change is, at `now_ms` (retention is judged
/// against the time the command carries, the same on every replica).
pub fn version_command(
    bucket: &str,
    key: &str,
    version_id: &str,
    change: VersionChange,
    now_ms: i64,
) -> Op {
    let (bucket, key, version_id) = (bucket.to_string(), key.to_string(), version_id.to_string());
    match change {
        VersionChange::Acl(grants) => Op::SetObjectAcl(SetObjectAclCmd {
            bucket,
            key,
            version_id,
            grants: stored::grants_to(&grants),
        }),
        VersionChange::Retention {
            mode,
            until_ms,
            bypass_governance,
        } => Op::SetRetention(SetRetentionCmd {
            bucket,
            key,
            version_id,
            mode: stored::lock_mode_to(mode),
            until_ms,
            bypass_governance,
            now_ms,
        }),
        VersionChange::LegalHold(on) => Op::SetLegalHold(SetLegalHoldCmd {
            bucket,
            key,
            version_id,
            on,
        }),
    }
}
