//! What the integrity jobs keep in the catalogue: the damaged index and its
//! counter follow replicas into and out of suspect and lost, and scrub
//! progress and audit requests never go backwards.

use std::time::Duration;

use meridian_meta::{MetaConfig, MetaNode, Outcome};
use meridian_proto::v1::command::Op;
use meridian_proto::v1::save_integrity_cmd::What;
use meridian_proto::v1::*;

fn cmd(op: Op) -> Command {
    meridian_meta::command(op)
}

async fn node(dir: &std::path::Path) -> MetaNode {
    let mut cfg = MetaConfig::new(dir.to_path_buf(), "127.0.0.1:0".into());
    cfg.leader_wait = Duration::from_secs(30);
    MetaNode::start(cfg).await.expect("meta node starts")
}

fn set(key: &str, site: u32, state: ReplicaState) -> Command {
    cmd(Op::SetReplicaState(SetReplicaStateCmd {
        bucket: "b".into(),
        key: key.into(),
        version_id: "v".into(),
        site,
        state: state as i32,
        now_ms: 5,
    }))
}

fn save(what: What) -> Command {
    cmd(Op::SaveIntegrity(SaveIntegrityCmd { what: Some(what) }))
}

#[tokio::test]
async fn damaged_replicas_are_indexed_until_repaired() {
    let dir = tempfile::tempdir().expect("tempdir");
    let n = node(dir.path()).await;
    n.write_one(cmd(Op::CreateBucket(CreateBucketCmd {
        name: "b".into(),
        owner: "root".into(),
        ingest_site: 1,
        now_ms: 1,
        ..Default::default()
    })))
    .await
    .expect("bucket");
    for key in ["k1", "k2"] {
        let rec = ObjectRecord {
            blake3: vec![0xB3; 32],
            format: 1,
            size: 100,
            version_id: "v".into(),
            chunks: vec![ChunkRef {
                hash: vec![key.as_bytes()[1]; 32],
                size: 100,
            }],
            replicas: [1, 2]
                .iter()
                .map(|&site| Replica {
                    site,
                    state: ReplicaState::Complete as i32,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        };
        n.write_one(cmd(Op::PutObject(PutObjectCmd {
            bucket: "b".into(),
            key: key.into(),
            record: Some(rec),
            ..Default::default()
        })))
        .await
        .expect("put");
    }
    let r = n.reader();
    assert_eq!(r.site_counter(2).expect("c").objects, 2);

    n.write_one(set("k1", 2, ReplicaState::Suspect))
        .await
        .expect("suspect");
    n.write_one(set("k2", 2, ReplicaState::Suspect))
        .await
        .expect("suspect");
    n.write_one(set("k2", 2, ReplicaState::Lost))
        .await
        .expect("lost");
    let bucket = r.bucket("b").expect("r").expect("bucket").id;
    assert_eq!(
        r.damaged(2, None, 10).expect("index"),
        vec![(bucket, "k1".to_string()), (bucket, "k2".to_string())]
    );
    assert_eq!(
        r.damaged(2, Some((bucket, "k1")), 10).expect("page").len(),
        1
    );
    assert_eq!(r.damaged_counter(2).expect("c").objects, 2);
    assert_eq!(r.damaged_counter(2).expect("c").bytes, 200);
    assert_eq!(
        r.site_counter(2).expect("c").objects,
        0,
        "not counted as held"
    );
    assert!(r.damaged(1, None, 10).expect("index").is_empty());
    // A damaged replica still references its chunks: nothing is queued
    // for reclaiming under a repair.
    assert_eq!(r.chunk_refs(2, &[b'1'; 32]).expect("refs"), 1);

    // Repair: suspect -> pending -> complete leaves the index.
    n.write_one(set("k1", 2, ReplicaState::Pending))
        .await
        .expect("pending");
    assert_eq!(r.pending_counter(2).expect("c").objects, 1);
    n.write_one(set("k1", 2, ReplicaState::Complete))
        .await
        .expect("complete");
    assert_eq!(
        r.damaged(2, None, 10).expect("index"),
        vec![(bucket, "k2".to_string())]
    );
    assert_eq!(r.damaged_counter(2).expect("c").objects, 1);
    assert_eq!(r.site_counter(2).expect("c").objects, 1);

    // Deleting the object takes its damaged replica out too.
    n.write_one(cmd(Op::DeleteObject(DeleteObjectCmd {
        bucket: "b".into(),
        key: "k2".into(),
        ..Default::default()
    })))
    .await
    .expect("delete");
    assert!(r.damaged(2, None, 10).expect("index").is_empty());
    assert_eq!(r.damaged_counter(2).expect("c").objects, 0);
    n.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn scrub_progress_and_audit_requests_never_go_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let n = node(dir.path()).await;
    let progress = |pass: u64, updated_ms: i64, cursor: &str| {
        save(What::Scrub(ScrubProgress {
            site: 3,
            pass,
            updated_ms,
            cursor_bucket: cursor.into(),
            ..Default::default()
        }))
    };
    assert_eq!(
        n.write_one(progress(2, 100, "b")).await.expect("save"),
        Outcome::Done
    );
    assert_eq!(
        n.write_one(progress(2, 50, "a")).await.expect("late"),
        Outcome::Stale
    );
    assert_eq!(
        n.write_one(progress(1, 500, "z")).await.expect("old pass"),
        Outcome::Stale
    );
    let p = n.reader().scrub_progress(3).expect("r").expect("saved");
    assert_eq!(
        (p.pass, p.updated_ms, p.cursor_bucket.as_str()),
        (2, 100, "b")
    );

    let request = |id: u64| {
        save(What::AuditRequest(AuditRequest {
            site: 3,
            bucket: String::new(),
            id,
            requested_ms: 1,
        }))
    };
    assert_eq!(n.write_one(request(10)).await.expect("ask"), Outcome::Done);
    assert_eq!(
        n.write_one(request(10)).await.expect("again"),
        Outcome::Stale
    );
    assert_eq!(
        n.reader().audit_request(3).expect("r").expect("asked").id,
        10
    );

    let report = |bucket: &str, examples: usize| {
        save(What::Audit(AuditReport {
            site: 3,
            bucket: bucket.into(),
            request: 10,
            lost_examples: vec!["x/y".into(); examples],
            ..Default::default()
        }))
    };
    n.write_one(report("", 3)).await.expect("site report");
    n.write_one(report("bkt", 0)).await.expect("bucket report");
    assert!(
        n.write_one(report("", 21)).await.is_err(),
        "bounded examples"
    );
    let all = n.reader().audit_reports(3, 10).expect("reports");
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].bucket, "");
    assert_eq!(all[0].lost_examples.len(), 3);
    n.shutdown().await.expect("shutdown");
}
