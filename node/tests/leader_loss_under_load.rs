//! The leader stops (as a crash would) while writers keep writing through
//! `MetaGroup`: a new leader is elected, every acknowledged write is
//! present, a retried non-idempotent write is not applied twice (it would
//! answer BucketExists), and no writer sees a failure that a retry against
//! the new leader would have avoided.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use meridian_node::metagroup::MetaGroup;
use meridian_proto::v1::command::Op;
use meridian_proto::v1::*;

fn create_bucket(name: &str) -> Command {
    meridian_meta::command(Op::CreateBucket(CreateBucketCmd {
        name: name.into(),
        owner: "test".into(),
        ingest_site: 1,
        now_ms: 0,
        ..Default::default()
    }))
}

fn put(key: &str) -> Command {
    meridian_meta::command(Op::PutObject(PutObjectCmd {
        bucket: "load".into(),
        key: key.into(),
        record: Some(ObjectRecord {
            blake3: vec![0xB3; 32],
            format: 1,
            size: 1,
            version_id: key.into(),
            replicas: vec![Replica {
                site: 1,
                state: ReplicaState::Complete as i32,
                verified_at_ms: 0,
                reason: 0,
            }],
            ..Default::default()
        }),
        ..Default::default()
    }))
}

/// Waits until the writers together have `at_least` puts acknowledged.
async fn wait_acked(acked: &AtomicUsize, at_least: usize) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while acked.load(Ordering::Relaxed) < at_least {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} of {at_least} puts acknowledged in 60 s",
            acked.load(Ordering::Relaxed)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_losing_the_leader() {
    let dir = tempfile::tempdir().expect("tempdir");
    let now = std::time::SystemTime::now();
    let tls = meridian_tls::ClusterCa::generate("test", now)
        .expect("ca")
        .identity("voters", &["127.0.0.1".into()], now)
        .expect("identity");
    let group = Arc::new(
        MetaGroup::local(dir.path(), 3, &tls)
            .await
            .expect("three voters"),
    );
    group
        .write_one(create_bucket("load"))
        .await
        .expect("bucket");

    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicUsize::new(0));
    let mut writers = Vec::new();
    for w in 0..8 {
        let (group, stop, acked) = (group.clone(), stop.clone(), acked.clone());
        writers.push(tokio::spawn(async move {
            let (mut keys, mut buckets) = (Vec::new(), Vec::new());
            for i in 0..100_000 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let key = format!("w{w}/k{i:05}");
                group
                    .write_one(put(&key))
                    .await
                    .expect("a put failed across the leader loss");
                keys.push(key);
                acked.fetch_add(1, Ordering::Relaxed);
                let bucket = format!("b-{w}-{i}");
                group
                    .write_one(create_bucket(&bucket))
                    .await
                    .expect("a CreateBucket failed, or was applied twice on retry");
                buckets.push(bucket);
            }
            (keys, buckets)
        }));
    }
    wait_acked(&acked, 50).await;
    let old = group.leader().status().node_id;
    group.stop_node(old).await.expect("stop the leader");
    // Writes go on under the new leader.
    wait_acked(&acked, acked.load(Ordering::Relaxed) + 100).await;
    stop.store(true, Ordering::Relaxed);
    let (mut keys, mut buckets) = (Vec::new(), Vec::new());
    for w in writers {
        let (k, b) = w.await.expect("writer");
        keys.extend(k);
        buckets.extend(b);
    }
    let new = group.leader().status().node_id;
    assert_ne!(new, old, "no new leader");
    assert!(
        keys.len() > 100,
        "too few writes to mean anything: {}",
        keys.len()
    );

    group.read_barrier().await.expect("barrier");
    let reader = group.reader();
    let bucket = reader.bucket("load").expect("read").expect("bucket");
    for key in &keys {
        assert!(
            reader.object(bucket.id, key).expect("read").is_some(),
            "acknowledged {key} is lost"
        );
    }
    for b in &buckets {
        assert!(
            reader.bucket(b).expect("read").is_some(),
            "acknowledged bucket {b} is lost"
        );
    }
    // Exactly the acknowledged objects exist: nothing lost, nothing phantom.
    let count = reader.bucket_counter(bucket.id).expect("counter").objects;
    assert_eq!(
        count,
        keys.len() as u64,
        "counter {count} for {} acknowledged puts",
        keys.len()
    );
    group.shutdown().await.expect("shutdown");
}
