//! Users, access keys and bucket grants through a real Raft node.

use std::time::Duration;

use meridian_meta::{MetaConfig, MetaError, MetaNode, OutcomeCode};
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

fn user(name: &str) -> Command {
    cmd(Op::CreateUser(CreateUserCmd {
        name: name.into(),
        now_ms: 1,
    }))
}

fn key(user: &str, id: &str) -> Command {
    cmd(Op::CreateKey(CreateKeyCmd {
        key: Some(AccessKeyRecord {
            format: 1,
            access_key: id.into(),
            user: user.into(),
            sealed_secret: vec![1; 40],
            created_ms: 1,
        }),
    }))
}

fn code(r: Result<Outcome, MetaError>) -> Option<OutcomeCode> {
    match r {
        Err(MetaError::Rejected { code, .. }) => Some(code),
        _ => None,
    }
}

use meridian_meta::Outcome;

#[tokio::test]
async fn users_keys_and_grants() {
    let dir = tempfile::tempdir().expect("tempdir");
    let n = node(dir.path()).await;
    n.write_one(user("alice")).await.expect("create");
    assert_eq!(
        code(n.write_one(user("alice")).await),
        Some(OutcomeCode::UserExists)
    );
    assert_eq!(
        code(n.write_one(user("no/slash")).await),
        Some(OutcomeCode::Invalid)
    );
    assert_eq!(
        code(n.write_one(key("bob", "MKBOB0000000000000")).await),
        Some(OutcomeCode::NoSuchUser)
    );
    n.write_one(key("alice", "MKALICE00000000001"))
        .await
        .expect("key");
    n.write_one(key("alice", "MKALICE00000000002"))
        .await
        .expect("key");
    assert_eq!(
        code(n.write_one(key("alice", "short")).await),
        Some(OutcomeCode::Invalid)
    );
    let r = n.reader();
    assert_eq!(r.keys_of("alice").expect("keys").len(), 2);
    assert_eq!(
        r.access_key("MKALICE00000000001")
            .expect("read")
            .map(|k| k.user),
        Some("alice".to_string())
    );

    n.write_one(cmd(Op::RevokeKey(RevokeKeyCmd {
        access_key: "MKALICE00000000001".into(),
    })))
    .await
    .expect("revoke");
    assert!(r.access_key("MKALICE00000000001").expect("read").is_none());
    assert_eq!(r.keys_of("alice").expect("keys").len(), 1);

    // Grants name existing users; a deleted user's grants and keys go.
    for (name, owner) in [("shared", "root"), ("hers", "alice")] {
        n.write_one(cmd(Op::CreateBucket(CreateBucketCmd {
            name: name.into(),
            owner: owner.into(),
            ingest_site: 1,
            now_ms: 1,
            ..Default::default()
        })))
        .await
        .expect("bucket");
    }
    let grant = |user: &str, level: GrantLevel| {
        cmd(Op::SetBucketGrant(SetBucketGrantCmd {
            bucket: "shared".into(),
            user: user.into(),
            level: level as i32,
        }))
    };
    assert_eq!(
        code(n.write_one(grant("nobody", GrantLevel::GrantRead)).await),
        Some(OutcomeCode::NoSuchUser)
    );
    n.write_one(grant("alice", GrantLevel::GrantWrite))
        .await
        .expect("grant");
    let b = r.bucket("shared").expect("read").expect("bucket");
    assert_eq!(b.grants.len(), 1);
    assert_eq!(b.grants[0].level, Some(meridian_core::access::Level::Write));

    let del = || {
        cmd(Op::DeleteUser(DeleteUserCmd {
            name: "alice".into(),
        }))
    };
    assert_eq!(code(n.write_one(del()).await), Some(OutcomeCode::Invalid));
    n.write_one(cmd(Op::DeleteBucket(DeleteBucketCmd {
        name: "hers".into(),
        ..Default::default()
    })))
    .await
    .expect("delete bucket");
    n.write_one(del()).await.expect("delete user");
    assert!(r.user("alice").expect("read").is_none());
    assert!(r.access_key("MKALICE00000000002").expect("read").is_none());
    assert!(r
        .bucket("shared")
        .expect("read")
        .expect("bucket")
        .grants
        .is_empty());
}
