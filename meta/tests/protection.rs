//! ACLs, object ownership and Object Lock in the state machine, through a
//! real single-voter Raft node on RocksDB: what it refuses, and that a
//! protected version cannot be removed by any command.

use std::time::Duration;

use meridian_meta::{MetaConfig, MetaError, MetaNode, Outcome, OutcomeCode};
use meridian_proto::v1::command::Op;
use meridian_proto::v1::*;

fn cmd(op: Op) -> Command {
    meridian_meta::command(op)
}

async fn node(dir: &std::path::Path) -> MetaNode {
    let mut cfg = MetaConfig::new(dir.to_path_buf(), "127.0.0.1:0".into());
    cfg.leader_wait = Duration::from_secs(30);
    MetaNode::start(cfg).await.expect("meta node starts")
}

fn code(r: Result<Outcome, MetaError>) -> Option<OutcomeCode> {
    match r {
        Err(MetaError::Rejected { code, .. }) => Some(code),
        Ok(_) => None,
        Err(e) => panic!("{e}"),
    }
}

fn acl(user: &str, bits: u32) -> BucketGrant {
    BucketGrant {
        user: user.into(),
        level: 0,
        acl: bits,
    }
}

async fn user(n: &MetaNode, name: &str) {
    n.write_one(cmd(Op::CreateUser(CreateUserCmd {
        name: name.into(),
        now_ms: 1,
    })))
    .await
    .expect("user");
}

#[tokio::test]
async fn acls_live_beside_levels_and_ownership_can_switch_them_off() {
    let dir = tempfile::tempdir().expect("tempdir");
    let n = node(dir.path()).await;
    user(&n, "alice").await;
    n.write_one(cmd(Op::CreateBucket(CreateBucketCmd {
        name: "b".into(),
        owner: "root".into(),
        ingest_site: 1,
        now_ms: 1,
        acl: vec![acl("group:AllUsers", 1)],
        ..Default::default()
    })))
    .await
    .expect("bucket with a public-read ACL");
    n.write_one(cmd(Op::SetBucketGrant(SetBucketGrantCmd {
        bucket: "b".into(),
        user: "alice".into(),
        level: GrantLevel::GrantRead as i32,
    })))
    .await
    .expect("grant");
    let set_acl = |grants: Vec<BucketGrant>| {
        cmd(Op::SetBucketAcl(SetBucketAclCmd {
            bucket: "b".into(),
            grants,
        }))
    };
    assert_eq!(
        code(n.write_one(set_acl(vec![acl("nobody", 1)])).await),
        Some(OutcomeCode::NoSuchUser)
    );
    n.write_one(set_acl(vec![acl("alice", 15)]))
        .await
        .expect("acl");
    let b = n.reader().bucket("b").expect("read").expect("bucket");
    assert_eq!(
        b.grants,
        vec![meridian_core::records::BucketGrant {
            user: "alice".into(),
            level: Some(meridian_core::access::Level::Read),
            acl: 15
        }],
        "the public grant replaced, alice's level kept"
    );
    let own = |o: u32| {
        cmd(Op::SetBucketOwnership(SetBucketOwnershipCmd {
            bucket: "b".into(),
            ownership: o,
        }))
    };
    assert_eq!(
        code(n.write_one(own(3)).await),
        Some(OutcomeCode::AclConflictsWithOwnership)
    );
    n.write_one(set_acl(vec![])).await.expect("private");
    n.write_one(own(3)).await.expect("owner enforced");
    assert_eq!(
        code(n.write_one(set_acl(vec![acl("alice", 1)])).await),
        Some(OutcomeCode::AclNotSupported)
    );
    // Meridian's own grant stays usable under BucketOwnerEnforced.
    let b = n.reader().bucket("b").expect("read").expect("bucket");
    assert_eq!(b.grants.len(), 1);
    assert_eq!(b.object_ownership, 3);
}

fn put(key: &str, version: &str, created_ms: i64) -> Command {
    cmd(Op::PutObject(PutObjectCmd {
        bucket: "locked".into(),
        key: key.into(),
        record: Some(ObjectRecord {
            blake3: vec![0xB3; 32],
            format: 1,
            size: 1,
            version_id: version.into(),
            created_ms,
            ..Default::default()
        }),
        ..Default::default()
    }))
}

fn delete_version(key: &str, version: &str, now_ms: i64, bypass: bool) -> Command {
    cmd(Op::DeleteObject(DeleteObjectCmd {
        bucket: "locked".into(),
        key: key.into(),
        version_id: version.into(),
        now_ms,
        bypass_governance: bypass,
        ..Default::default()
    }))
}

fn retention(key: &str, version: &str, mode: LockMode, until: i64, bypass: bool) -> Command {
    cmd(Op::SetRetention(SetRetentionCmd {
        bucket: "locked".into(),
        key: key.into(),
        version_id: version.into(),
        mode: mode as u32,
        until_ms: until,
        bypass_governance: bypass,
        now_ms: 1_000,
    }))
}

const DAY: i64 = 86_400_000;

#[tokio::test]
async fn object_lock_keeps_protected_versions_from_every_removal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let n = node(dir.path()).await;
    n.write_one(cmd(Op::CreateBucket(CreateBucketCmd {
        name: "plain".into(),
        owner: "root".into(),
        ingest_site: 1,
        now_ms: 1,
        ..Default::default()
    })))
    .await
    .expect("bucket");
    let lock = |bucket: &str, config: ObjectLockConfig| {
        cmd(Op::SetObjectLock(SetObjectLockCmd {
            bucket: bucket.into(),
            config: Some(config),
        }))
    };
    let enabled = ObjectLockConfig {
        enabled: true,
        ..Default::default()
    };
    assert_eq!(
        code(n.write_one(lock("plain", enabled)).await),
        Some(OutcomeCode::InvalidBucketState),
        "Object Lock needs versioning"
    );
    n.write_one(cmd(Op::CreateBucket(CreateBucketCmd {
        name: "locked".into(),
        owner: "root".into(),
        ingest_site: 1,
        now_ms: 1,
        object_lock: true,
        ..Default::default()
    })))
    .await
    .expect("lock bucket");
    let b = n.reader().bucket("locked").expect("read").expect("bucket");
    assert_eq!(b.versioning, meridian_core::records::Versioning::Enabled);
    assert_eq!(
        code(
            n.write_one(cmd(Op::SetVersioning(SetVersioningCmd {
                bucket: "locked".into(),
                versioning: Versioning::Suspended as u32,
            })))
            .await
        ),
        Some(OutcomeCode::InvalidBucketState)
    );
    // Default retention: one day of GOVERNANCE from each version's creation.
    n.write_one(lock(
        "locked",
        ObjectLockConfig {
            enabled: true,
            default_mode: LockMode::LockGovernance as u32,
            default_days: 1,
            default_years: 0,
        },
    ))
    .await
    .expect("default retention");
    n.write_one(put("g", "vg", 1_000)).await.expect("put");
    let b_id = n.reader().bucket("locked").expect("read").expect("b").id;
    let rec = n.reader().object(b_id, "g").expect("read").expect("object");
    assert_eq!(rec.lock_mode, meridian_core::records::LockMode::Governance);
    assert_eq!(rec.lock_until_ms, 1_000 + DAY);
    assert_eq!(
        code(n.write_one(delete_version("g", "vg", 2_000, false)).await),
        Some(OutcomeCode::ObjectLocked)
    );
    // Shortening GOVERNANCE needs the bypass; with it, so does deleting.
    assert_eq!(
        code(
            n.write_one(retention("g", "vg", LockMode::LockGovernance, 5_000, false))
                .await
        ),
        Some(OutcomeCode::ObjectLocked)
    );
    n.write_one(retention(
        "g",
        "vg",
        LockMode::LockGovernance,
        2 * DAY,
        false,
    ))
    .await
    .expect("extending needs no bypass");
    n.write_one(delete_version("g", "vg", 2_000, true))
        .await
        .expect("bypassed");

    // COMPLIANCE: no bypass, no shortening, no other mode.
    n.write_one(put("c", "vc", 1_000)).await.expect("put");
    n.write_one(retention(
        "c",
        "vc",
        LockMode::LockCompliance,
        3 * DAY,
        true,
    ))
    .await
    .expect("governance to compliance with the bypass");
    for (mode, until) in [
        (LockMode::LockCompliance, 2 * DAY),
        (LockMode::LockGovernance, 4 * DAY),
        (LockMode::LockNone, 0),
    ] {
        assert_eq!(
            code(n.write_one(retention("c", "vc", mode, until, true)).await),
            Some(OutcomeCode::ObjectLocked),
            "{mode:?}"
        );
    }
    assert_eq!(
        code(n.write_one(delete_version("c", "vc", 2_000, true)).await),
        Some(OutcomeCode::ObjectLocked)
    );
    // A newer version and a delete marker change nothing for the old one;
    // lifecycle's removal of a noncurrent version is refused as well.
    n.write_one(put("c", "vc2", 3_000)).await.expect("newer");
    assert_eq!(
        code(
            n.write_one(cmd(Op::DeleteObject(DeleteObjectCmd {
                bucket: "locked".into(),
                key: "c".into(),
                noncurrent_version_id: "vc".into(),
                now_ms: 4_000,
                ..Default::default()
            })))
            .await
        ),
        Some(OutcomeCode::ObjectLocked)
    );
    // After it ends, it goes.
    n.write_one(delete_version("c", "vc", 3 * DAY + 1, false))
        .await
        .expect("retention over");

    // A legal hold stops everything, bypass or not, until it is lifted.
    n.write_one(put("h", "vh", 1_000)).await.expect("put");
    n.write_one(retention("h", "vh", LockMode::LockNone, 0, true))
        .await
        .expect("default retention removed with the bypass");
    let hold = |on: bool| {
        cmd(Op::SetLegalHold(SetLegalHoldCmd {
            bucket: "locked".into(),
            key: "h".into(),
            version_id: "vh".into(),
            on,
        }))
    };
    n.write_one(hold(true)).await.expect("hold");
    assert_eq!(
        code(n.write_one(delete_version("h", "vh", 2_000, true)).await),
        Some(OutcomeCode::ObjectLocked)
    );
    n.write_one(hold(false)).await.expect("lift");
    n.write_one(delete_version("h", "vh", 2_000, false))
        .await
        .expect("deleted");
    assert_eq!(
        code(
            n.write_one(cmd(Op::SetLegalHold(SetLegalHoldCmd {
                bucket: "plain".into(),
                key: "x".into(),
                version_id: "v".into(),
                on: true,
            })))
            .await
        ),
        Some(OutcomeCode::NoObjectLock)
    );
}
