//! The catalogue through a real single-voter Raft node on RocksDB.

use std::time::Duration;

use meridian_meta::catalogue::ListItem;
use meridian_meta::{MetaConfig, MetaError, MetaNode, OutcomeCode};
use meridian_proto::v1::command::Op;
use meridian_proto::v1::*;

fn cmd(op: Op) -> Command {
    meridian_meta::command(op)
}

fn create_bucket(name: &str) -> Command {
    cmd(Op::CreateBucket(CreateBucketCmd {
        name: name.into(),
        owner: "root".into(),
        ingest_site: 1,
        now_ms: 1,
        ..Default::default()
    }))
}

fn record(size: u64, version: &str, replicas: &[(u32, ReplicaState)]) -> ObjectRecord {
    ObjectRecord {
        blake3: vec![0xB3; 32],
        format: 1,
        size,
        version_id: version.into(),
        replicas: replicas
            .iter()
            .map(|(site, s)| Replica {
                site: *site,
                state: *s as i32,
                verified_at_ms: 0,
                reason: 0,
            })
            .collect(),
        ..Default::default()
    }
}

fn put(bucket: &str, key: &str, rec: ObjectRecord) -> Command {
    cmd(Op::PutObject(PutObjectCmd {
        bucket: bucket.into(),
        key: key.into(),
        record: Some(rec),
        ..Default::default()
    }))
}

async fn node(dir: &std::path::Path) -> MetaNode {
    let mut cfg = MetaConfig::new(dir.to_path_buf(), "127.0.0.1:0".into());
    cfg.leader_wait = Duration::from_secs(30);
    MetaNode::start(cfg).await.expect("meta node starts")
}

fn keys(items: &[ListItem]) -> Vec<String> {
    items
        .iter()
        .map(|i| match i {
            ListItem::Object { key, .. } => key.clone(),
            ListItem::Prefix(p) => format!("P:{p}"),
        })
        .collect()
}

#[tokio::test]
async fn buckets_objects_counters_and_pending_index() {
    let dir = tempfile::tempdir().expect("tempdir");
    let n = node(dir.path()).await;
    n.write_one(create_bucket("data")).await.expect("create");
    let dup = n.write_one(create_bucket("data")).await;
    assert!(
        matches!(
            dup,
            Err(MetaError::Rejected {
                code: OutcomeCode::BucketExists,
                ..
            })
        ),
        "{dup:?}"
    );

    use ReplicaState::*;
    n.write_one(put(
        "data",
        "a/1",
        record(10, "v1", &[(5, Complete), (1, Pending), (2, Pending)]),
    ))
    .await
    .expect("put");
    n.write_one(put(
        "data",
        "a/2",
        record(20, "v2", &[(1, Complete), (2, Pending)]),
    ))
    .await
    .expect("put");
    let r = n.reader();
    assert_eq!(r.site_counter(5).expect("c").objects, 1);
    assert_eq!(r.site_counter(1).expect("c").bytes, 20);
    assert_eq!(r.pending_counter(2).expect("c").objects, 2);
    assert_eq!(r.pending_counter(2).expect("c").bytes, 30);
    let pend = r.pending(2, None, 10).expect("pending");
    assert_eq!(
        pend.iter().map(|p| p.key.as_str()).collect::<Vec<_>>(),
        ["a/1", "a/2"]
    );
    // Paged scan of the index resumes after the cursor.
    let page2 = r.pending(2, Some(&pend[0].cursor), 10).expect("pending");
    assert_eq!(page2.len(), 1);

    // A stale version is ignored; the current one moves pending -> complete.
    let set = |v: &str| {
        cmd(Op::SetReplicaState(SetReplicaStateCmd {
            bucket: "data".into(),
            key: "a/1".into(),
            version_id: v.into(),
            site: 2,
            state: Complete as i32,
            now_ms: 7,
        }))
    };
    assert_eq!(
        n.write_one(set("old")).await.expect("stale"),
        meridian_meta::Outcome::Stale
    );
    n.write_one(set("v1")).await.expect("complete");
    let r = n.reader();
    assert_eq!(r.pending_counter(2).expect("c").objects, 1);
    assert_eq!(r.site_counter(2).expect("c").objects, 1);
    assert_eq!(r.pending(2, None, 10).expect("p").len(), 1);

    // Overwrite replaces the counters of the old version.
    n.write_one(put("data", "a/1", record(100, "v3", &[(5, Complete)])))
        .await
        .expect("overwrite");
    assert_eq!(r.site_counter(5).expect("c").bytes, 100);
    assert_eq!(r.site_counter(2).expect("c").objects, 0);
    assert_eq!(r.pending_counter(1).expect("c").objects, 0);

    let del = n
        .write_one(cmd(Op::DeleteBucket(DeleteBucketCmd {
            name: "data".into(),
            ..Default::default()
        })))
        .await;
    assert!(
        matches!(
            del,
            Err(MetaError::Rejected {
                code: OutcomeCode::BucketNotEmpty,
                ..
            })
        ),
        "{del:?}"
    );
    for k in ["a/1", "a/2"] {
        n.write_one(cmd(Op::DeleteObject(DeleteObjectCmd {
            bucket: "data".into(),
            key: k.into(),
            ..Default::default()
        })))
        .await
        .expect("delete");
    }
    assert_eq!(r.site_counter(1).expect("c").objects, 0);
    n.write_one(cmd(Op::DeleteBucket(DeleteBucketCmd {
        name: "data".into(),
        ..Default::default()
    })))
    .await
    .expect("delete empty bucket");
    assert!(r.bucket("data").expect("read").is_none());
    n.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn listing_order_delimiter_and_pages_over_unusual_keys() {
    let dir = tempfile::tempdir().expect("tempdir");
    let n = node(dir.path()).await;
    n.write_one(create_bucket("b")).await.expect("create");
    let mut all = vec![
        "a/b/c", "a/b/d", "a/c", "a//x", "a%2Fb", "../etc", "z", "\u{1}ctl", "é", "a/", "b", "b/x",
    ];
    let long = "k".repeat(1024);
    all.push(&long);
    for k in &all {
        n.write_one(put("b", k, record(1, k, &[(1, ReplicaState::Complete)])))
            .await
            .expect("put");
    }
    let bid = n.reader().bucket("b").expect("r").expect("bucket").id;
    let r = n.reader();
    let everything = r.list(bid, "", None, None, 1000).expect("list");
    let mut sorted: Vec<String> = all.iter().map(|s| s.to_string()).collect();
    sorted.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    assert_eq!(keys(&everything.items), sorted);
    assert!(!everything.truncated);

    let d = r.list(bid, "a/", Some("/"), None, 1000).expect("list");
    assert_eq!(keys(&d.items), ["a/", "P:a//", "P:a/b/", "a/c"]);

    let top = r.list(bid, "", Some("/"), None, 1000).expect("list");
    assert_eq!(
        keys(&top.items),
        ["\u{1}ctl", "P:../", "a%2Fb", "P:a/", "b", "P:b/", &long, "z", "é"]
    );

    // Pages of 2, resuming after the last entry (object or common prefix).
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    for _ in 0..20 {
        let p = r
            .list(bid, "", Some("/"), after.as_deref(), 2)
            .expect("page");
        let ks = keys(&p.items);
        seen.extend(ks.clone());
        after = p.items.last().map(|i| match i {
            ListItem::Object { key, .. } => key.clone(),
            ListItem::Prefix(p) => p.clone(),
        });
        if !p.truncated {
            break;
        }
    }
    assert_eq!(seen, keys(&top.items));
    n.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn restart_keeps_committed_state() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let n = node(dir.path()).await;
        n.write_one(create_bucket("keep")).await.expect("create");
        n.write_one(put(
            "keep",
            "k",
            record(5, "v", &[(1, ReplicaState::Complete)]),
        ))
        .await
        .expect("put");
        n.shutdown().await.expect("shutdown");
    }
    let n = node(dir.path()).await;
    n.read_barrier().await.expect("barrier");
    let b = n
        .reader()
        .bucket("keep")
        .expect("r")
        .expect("bucket survives");
    assert_eq!(
        n.reader()
            .object(b.id, "k")
            .expect("r")
            .expect("object survives")
            .size,
        5
    );
    n.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn a_retried_command_is_applied_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let n = node(dir.path()).await;
    let first = create_bucket("once");
    n.write_one(first.clone()).await.expect("create");
    // The same request again (a client retry): the first outcome, no error.
    assert_eq!(
        n.write_one(first.clone()).await.expect("retry"),
        meridian_meta::Outcome::Done
    );
    // A new request for the same thing is refused as usual.
    let again = n.write_one(create_bucket("once")).await;
    assert!(
        matches!(
            again,
            Err(MetaError::Rejected {
                code: OutcomeCode::BucketExists,
                ..
            })
        ),
        "{again:?}"
    );
    // An object put retried after a later overwrite does not bring back the old version.
    n.write_one(put(
        "once",
        "k",
        record(1, "v1", &[(1, ReplicaState::Complete)]),
    ))
    .await
    .expect("v1");
    let v2 = put("once", "k", record(2, "v2", &[(1, ReplicaState::Complete)]));
    n.write_one(v2.clone()).await.expect("v2");
    let v1_retry = put("once", "k", record(1, "v1", &[(1, ReplicaState::Complete)]));
    n.write_one(v1_retry).await.expect("fresh id applies");
    n.write_one(v2).await.expect("v2 retry is deduplicated");
    let b = n.reader().bucket("once").expect("r").expect("bucket");
    assert_eq!(
        n.reader()
            .object(b.id, "k")
            .expect("r")
            .expect("obj")
            .version_id,
        "v1"
    );
    n.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_share_raft_entries() {
    let dir = tempfile::tempdir().expect("tempdir");
    let n = std::sync::Arc::new(node(dir.path()).await);
    n.write_one(create_bucket("many")).await.expect("create");
    let (cmds0, batches0) = n.commit_stats();
    let mut tasks = Vec::new();
    for i in 0..400 {
        let n = n.clone();
        tasks.push(tokio::spawn(async move {
            n.write_one(put(
                "many",
                &format!("k{i:04}"),
                record(10, &format!("v{i}"), &[(1, ReplicaState::Complete)]),
            ))
            .await
        }));
    }
    for t in tasks {
        t.await.expect("join").expect("write");
    }
    let (cmds, batches) = n.commit_stats();
    assert_eq!(cmds - cmds0, 400);
    assert!(
        batches - batches0 < 400,
        "no batching: {} entries for 400 writes",
        batches - batches0
    );
    let b = n.reader().bucket("many").expect("r").expect("bucket");
    assert_eq!(n.reader().bucket_counter(b.id).expect("c").objects, 400);
    assert_eq!(
        n.reader()
            .list(b.id, "", None, None, 1000)
            .expect("list")
            .items
            .len(),
        400
    );
    n.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn replica_states_only_move_forward_and_ids_are_not_reused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let n = node(dir.path()).await;
    n.write_one(create_bucket("fwd")).await.expect("create");
    n.write_one(put(
        "fwd",
        "k",
        record(
            1,
            "v",
            &[(1, ReplicaState::Complete), (2, ReplicaState::Pending)],
        ),
    ))
    .await
    .expect("put");
    let set = |state: i32| {
        cmd(Op::SetReplicaState(SetReplicaStateCmd {
            bucket: "fwd".into(),
            key: "k".into(),
            version_id: "v".into(),
            site: 2,
            state,
            now_ms: 1,
        }))
    };
    n.write_one(set(ReplicaState::Complete as i32))
        .await
        .expect("pending -> complete");
    let back = n.write_one(set(ReplicaState::Copying as i32)).await;
    assert!(
        matches!(
            back,
            Err(MetaError::Rejected {
                code: OutcomeCode::Invalid,
                ..
            })
        ),
        "{back:?}"
    );
    let bogus = n.write_one(set(99)).await;
    assert!(
        matches!(
            bogus,
            Err(MetaError::Rejected {
                code: OutcomeCode::Invalid,
                ..
            })
        ),
        "{bogus:?}"
    );
    assert_eq!(n.reader().pending_counter(2).expect("c").objects, 0);
    assert_eq!(n.reader().site_counter(2).expect("c").objects, 1);

    // One request id, two different commands: the second is refused.
    let mut a = create_bucket("id-a");
    let mut b = create_bucket("id-b");
    a.request_id = b"fixed-id".to_vec();
    b.request_id = b"fixed-id".to_vec();
    n.write_one(a).await.expect("first use");
    let reused = n.write_one(b).await;
    assert!(
        matches!(
            reused,
            Err(MetaError::Rejected {
                code: OutcomeCode::Invalid,
                ..
            })
        ),
        "{reused:?}"
    );
    assert!(n.reader().bucket("id-b").expect("r").is_none());
    n.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_readers_see_every_write_acknowledged_before_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let n = std::sync::Arc::new(node(dir.path()).await);
    n.write_one(create_bucket("reads")).await.expect("create");
    let bid = n.reader().bucket("reads").expect("r").expect("bucket").id;
    // Each writer acknowledges a key, then 8 readers that start after the
    // acknowledgement must all find it, however their barriers coalesce.
    let mut tasks = Vec::new();
    for i in 0..50 {
        let n = n.clone();
        tasks.push(tokio::spawn(async move {
            let key = format!("k{i}");
            n.write_one(put(
                "reads",
                &key,
                record(1, &key, &[(1, ReplicaState::Complete)]),
            ))
            .await
            .expect("write");
            let mut readers = Vec::new();
            for _ in 0..8 {
                let (n, key) = (n.clone(), key.clone());
                readers.push(tokio::spawn(async move {
                    n.read_barrier().await.expect("barrier");
                    n.reader().object(bid, &key).expect("read").is_some()
                }));
            }
            for r in readers {
                assert!(r.await.expect("join"), "a read after the write missed it");
            }
        }));
    }
    for t in tasks {
        t.await.expect("join");
    }
    n.shutdown().await.expect("shutdown");
}

fn set_placement(key: &str, version: &str, add: &[u32], drop: &[u32], min: u32) -> Command {
    cmd(Op::SetPlacement(SetPlacementCmd {
        bucket: "data".into(),
        key: key.into(),
        version_id: version.into(),
        rule: "moved".into(),
        add: add.to_vec(),
        drop: drop.to_vec(),
        min_complete: min,
    }))
}

#[tokio::test]
async fn placement_changes_never_leave_fewer_complete_replicas_than_asked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let n = node(dir.path()).await;
    n.write_one(create_bucket("data")).await.expect("create");
    let rec = record(
        100,
        "v1",
        &[(1, ReplicaState::Complete), (2, ReplicaState::Complete)],
    );
    n.write_one(put("data", "k", rec)).await.expect("put");
    let r = n.reader();

    // Add site 3 and drop site 2 at once: only site 1 would stay complete.
    let refused = n.write_one(set_placement("k", "v1", &[3], &[2], 2)).await;
    assert!(
        matches!(
            refused,
            Err(MetaError::Rejected {
                code: OutcomeCode::Invalid,
                ..
            })
        ),
        "{refused:?}"
    );
    // Nothing changed.
    let b = r.buckets().expect("buckets")[0].id;
    let held = r.object(b, "k").expect("read").expect("object");
    assert_eq!(held.replicas.len(), 2);
    assert_eq!(r.pending_counter(3).expect("counter").objects, 0);

    // Copy first: site 3 pending, in the index and the counters.
    n.write_one(set_placement("k", "v1", &[3], &[], 2))
        .await
        .expect("add");
    assert_eq!(r.pending(3, None, 10).expect("pending").len(), 1);
    assert_eq!(r.pending_counter(3).expect("counter").bytes, 100);
    n.write_one(cmd(Op::SetReplicaState(SetReplicaStateCmd {
        bucket: "data".into(),
        key: "k".into(),
        version_id: "v1".into(),
        site: 3,
        state: ReplicaState::Complete as i32,
        now_ms: 2,
    })))
    .await
    .expect("complete");
    // Then drop: two complete replicas remain.
    n.write_one(set_placement("k", "v1", &[], &[2], 2))
        .await
        .expect("drop");
    let held = r.object(b, "k").expect("read").expect("object");
    let sites: Vec<u32> = held.replicas.iter().map(|x| x.site).collect();
    assert_eq!(sites, vec![1, 3]);
    assert_eq!(held.policy, "moved");
    assert_eq!(r.site_counter(2).expect("counter").objects, 0);
    assert_eq!(r.site_counter(3).expect("counter").objects, 1);
    // A stale version changes nothing.
    let stale = n
        .write_one(set_placement("k", "v0", &[2], &[], 1))
        .await
        .expect("stale is not an error");
    assert_eq!(stale, meridian_meta::Outcome::Stale);
    n.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn an_applied_policy_is_versioned() {
    let dir = tempfile::tempdir().expect("tempdir");
    let n = node(dir.path()).await;
    assert!(n.reader().policy().expect("read").is_none());
    for text in ["[default]\ncopies = 2\n", "[default]\ncopies = 3\n"] {
        n.write_one(cmd(Op::SetPolicy(SetPolicyCmd {
            text: text.into(),
            origin: "p.toml".into(),
            drained: vec![4],
            now_ms: 1,
        })))
        .await
        .expect("set");
    }
    let p = n.reader().policy().expect("read").expect("policy");
    assert_eq!(
        (p.version, p.text.as_str(), p.drained.as_slice()),
        (2, "[default]\ncopies = 3\n", &[4u32][..])
    );
    n.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn lifetimes_are_indexed_by_time_and_deletes_can_name_a_version() {
    let dir = tempfile::tempdir().expect("tempdir");
    let n = node(dir.path()).await;
    n.write_one(create_bucket("data")).await.expect("create");
    let mut rec = record(10, "v1", &[(1, ReplicaState::Complete)]);
    rec.expires_ms = 5_000;
    n.write_one(put("data", "a", rec.clone()))
        .await
        .expect("put");
    rec.expires_ms = 9_000;
    n.write_one(put("data", "b", rec.clone()))
        .await
        .expect("put");
    let r = n.reader();
    let b = r.buckets().expect("buckets")[0].id;
    assert!(r.expired(4_999, 10).expect("scan").is_empty());
    assert_eq!(
        r.expired(6_000, 10).expect("scan"),
        vec![(b, "a".to_string(), 5_000)]
    );
    // Overwritten with no lifetime: no longer due.
    n.write_one(put(
        "data",
        "a",
        record(10, "v2", &[(1, ReplicaState::Complete)]),
    ))
    .await
    .expect("overwrite");
    assert_eq!(r.expired(10_000, 10).expect("scan").len(), 1);
    // A delete naming an old version changes nothing.
    let del = |v: &str| {
        cmd(Op::DeleteObject(DeleteObjectCmd {
            bucket: "data".into(),
            key: "b".into(),
            if_version_id: v.into(),
            ..Default::default()
        }))
    };
    let stale = n.write_one(del("v0")).await.expect("stale is not an error");
    assert_eq!(stale, meridian_meta::Outcome::Stale);
    assert!(r.object(b, "b").expect("read").is_some());
    n.write_one(del("v1")).await.expect("delete");
    assert!(r.object(b, "b").expect("read").is_none());
    assert!(r.expired(i64::MAX, 10).expect("scan").is_empty());
    n.shutdown().await.expect("shutdown");
}

fn order(round: u64, index: u32, to: u32, after: u32) -> TransferOrder {
    TransferOrder {
        round,
        index,
        hash: vec![index as u8; 32],
        size: 10,
        from: 1,
        to,
        link: 0,
        keep: true,
        after,
        ..Default::default()
    }
}

#[tokio::test]
async fn transfer_orders_outlive_their_writer_and_finish_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let n = node(dir.path()).await;
    let orders = vec![order(7, 0, 2, 0), order(7, 1, 3, 1), order(7, 2, 2, 0)];
    n.write_one(cmd(Op::SetOrders(SetOrdersCmd { orders })))
        .await
        .expect("set");
    let r = n.reader();
    let for2: Vec<u32> = r
        .orders_for(2, 10)
        .expect("read")
        .iter()
        .map(|o| o.index)
        .collect();
    assert_eq!(for2, vec![0, 2]);
    assert_eq!(r.order_rounds(10).expect("rounds"), vec![7]);
    let done = |index: u32, ok: bool| {
        cmd(Op::OrderDone(OrderDoneCmd {
            round: 7,
            index,
            ok,
            error: if ok {
                String::new()
            } else {
                "source gone".into()
            },
            bytes: 10,
        }))
    };
    n.write_one(done(0, true)).await.expect("done");
    // A second outcome for the same order changes nothing.
    n.write_one(done(0, false)).await.expect("again");
    let o = r.order(7, 0).expect("read").expect("order");
    assert_eq!(o.state, OrderState::OrderDone as i32);
    assert_eq!(r.orders_for(2, 10).expect("read").len(), 1);
    n.write_one(done(2, false)).await.expect("failed");
    assert_eq!(
        r.order(7, 2).expect("read").expect("order").error,
        "source gone"
    );
    assert!(r.orders_for(2, 10).expect("read").is_empty());
    assert_eq!(r.orders_of(7).expect("read").len(), 3);
    // An outcome for an order that is gone is stale.
    n.write_one(cmd(Op::ClearOrders(ClearOrdersCmd { round: 7, limit: 2 })))
        .await
        .expect("clear");
    assert_eq!(r.orders_of(7).expect("read").len(), 1);
    n.write_one(cmd(Op::ClearOrders(ClearOrdersCmd { round: 7, limit: 2 })))
        .await
        .expect("clear");
    assert!(r.order_rounds(10).expect("rounds").is_empty());
    assert!(r.orders_for(3, 10).expect("read").is_empty());
    assert_eq!(
        n.write_one(done(1, true)).await.expect("stale"),
        meridian_meta::Outcome::Stale
    );
    n.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn a_record_that_would_not_read_back_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let n = node(dir.path()).await;
    n.write_one(create_bucket("data")).await.expect("bucket");
    let good = record(10, "v1", &[(1, ReplicaState::Complete)]);
    n.write_one(put("data", "k", good.clone()))
        .await
        .expect("put");
    let mut short_hash = record(10, "v2", &[(1, ReplicaState::Complete)]);
    short_hash.blake3 = vec![1; 31];
    let mut bad_chunk = record(10, "v3", &[(1, ReplicaState::Complete)]);
    bad_chunk.chunks = vec![ChunkRef {
        hash: vec![2; 16],
        size: 10,
    }];
    let mut bad_state = record(10, "v4", &[(1, ReplicaState::Complete)]);
    bad_state.replicas[0].state = 99;
    for (what, rec) in [
        ("short hash", short_hash),
        ("short chunk hash", bad_chunk),
        ("unknown state", bad_state),
    ] {
        match n.write_one(put("data", "k", rec)).await {
            Err(MetaError::Rejected {
                code: OutcomeCode::Invalid,
                message,
            }) => assert!(message.contains("the record"), "{what}: {message}"),
            other => panic!("{what}: {other:?}"),
        }
    }
    let r = n.reader();
    let id = r.bucket("data").expect("read").expect("bucket").id;
    let kept = r.object(id, "k").expect("read").expect("object");
    assert_eq!(kept.version_id, "v1", "the refused writes changed nothing");
    assert_eq!(r.bucket_counter(id).expect("counter").objects, 1);
}
