//! Chunk references per site and the queue of unreferenced chunks, through
//! a real single-voter Raft node on RocksDB.

use std::time::Duration;

use meridian_meta::{MetaConfig, MetaNode};
use meridian_proto::v1::command::Op;
use meridian_proto::v1::*;

fn cmd(op: Op) -> Command {
    meridian_meta::command(op)
}

fn h(n: u8) -> Vec<u8> {
    vec![n; 32]
}

fn chunk(n: u8, size: u32) -> ChunkRef {
    ChunkRef { hash: h(n), size }
}

fn record(version: &str, chunks: &[u8], sites: &[(u32, ReplicaState)]) -> ObjectRecord {
    ObjectRecord {
        blake3: vec![0xB3; 32],
        format: 1,
        size: chunks.len() as u64 * 100,
        version_id: version.into(),
        chunks: chunks.iter().map(|c| chunk(*c, 100)).collect(),
        replicas: sites
            .iter()
            .map(|(site, s)| Replica {
                site: *site,
                state: *s as i32,
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

fn put(key: &str, rec: ObjectRecord) -> Command {
    cmd(Op::PutObject(PutObjectCmd {
        bucket: "b".into(),
        key: key.into(),
        record: Some(rec),
        ..Default::default()
    }))
}

fn delete(key: &str) -> Command {
    cmd(Op::DeleteObject(DeleteObjectCmd {
        bucket: "b".into(),
        key: key.into(),
        ..Default::default()
    }))
}

async fn node(dir: &std::path::Path) -> MetaNode {
    let mut cfg = MetaConfig::new(dir.to_path_buf(), "127.0.0.1:0".into());
    cfg.leader_wait = Duration::from_secs(30);
    let n = MetaNode::start(cfg).await.expect("meta node starts");
    n.write_one(cmd(Op::CreateBucket(CreateBucketCmd {
        name: "b".into(),
        owner: "root".into(),
        ingest_site: 1,
        now_ms: 1,
        ..Default::default()
    })))
    .await
    .expect("bucket");
    n
}

/// (refs, queued) of chunk `c` at `site`.
fn state(n: &MetaNode, site: u32, c: u8) -> (u64, bool) {
    let r = n.reader();
    let refs = r.chunk_refs(site, &h(c)).expect("refs");
    let queued = r
        .gc_queue(site, None, 1000)
        .expect("queue")
        .iter()
        .any(|q| q.hash == [c; 32]);
    (refs, queued)
}

use ReplicaState::{Complete, Pending};

#[tokio::test]
async fn every_replica_references_its_chunks_until_the_record_goes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let n = node(dir.path()).await;
    // Two objects share chunk 1 at site 1; chunk 3 appears twice in one.
    n.write_one(put(
        "a",
        record("v1", &[1, 2], &[(1, Complete), (2, Pending)]),
    ))
    .await
    .expect("put a");
    n.write_one(put("b", record("v1", &[1, 3, 3], &[(1, Complete)])))
        .await
        .expect("put b");
    assert_eq!(state(&n, 1, 1), (2, false));
    assert_eq!(state(&n, 2, 1), (1, false), "a pending replica counts");
    assert_eq!(state(&n, 1, 3), (2, false));

    n.write_one(delete("a")).await.expect("delete a");
    assert_eq!(state(&n, 1, 1), (1, false), "still referenced by b");
    assert_eq!(state(&n, 1, 2), (0, true));
    assert_eq!(state(&n, 2, 1), (0, true));
    assert_eq!(state(&n, 2, 2), (0, true));
    let c = n.reader().gc_counter(1).expect("counter");
    assert_eq!((c.objects, c.bytes), (1, 100));

    // Overwriting b drops its old chunks, keeps the ones it lists again.
    n.write_one(put("b", record("v2", &[3, 4], &[(1, Complete)])))
        .await
        .expect("overwrite b");
    assert_eq!(state(&n, 1, 1), (0, true));
    assert_eq!(state(&n, 1, 3), (1, false));
    assert_eq!(state(&n, 1, 4), (1, false));

    // A queued chunk referenced again leaves the queue at once.
    n.write_one(put("c", record("v1", &[2], &[(1, Complete)])))
        .await
        .expect("put c");
    assert_eq!(state(&n, 1, 2), (1, false));
    let c = n.reader().gc_counter(1).expect("counter");
    assert_eq!((c.objects, c.bytes), (1, 100), "only chunk 1 is queued");
}

#[tokio::test]
async fn dropped_replicas_and_upload_parts_release_their_chunks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let n = node(dir.path()).await;
    n.write_one(put(
        "a",
        record("v1", &[1], &[(1, Complete), (2, Complete)]),
    ))
    .await
    .expect("put");
    n.write_one(cmd(Op::SetPlacement(SetPlacementCmd {
        bucket: "b".into(),
        key: "a".into(),
        version_id: "v1".into(),
        add: vec![3],
        drop: vec![2],
        min_complete: 1,
        ..Default::default()
    })))
    .await
    .expect("placement");
    assert_eq!(state(&n, 2, 1), (0, true));
    assert_eq!(state(&n, 3, 1), (1, false));
    assert_eq!(state(&n, 1, 1), (1, false));

    let upload = |id: &str| MultipartUpload {
        format: 1,
        upload_id: id.into(),
        bucket: "b".into(),
        key: "big".into(),
        ingest_site: 4,
        ..Default::default()
    };
    let part = |id: &str, number: u32, chunks: &[u8]| {
        cmd(Op::PutPart(PutPartCmd {
            upload_id: id.into(),
            part: Some(PartRecord {
                format: 1,
                part_number: number,
                chunks: chunks.iter().map(|c| chunk(*c, 100)).collect(),
                ..Default::default()
            }),
        }))
    };
    for id in ["u1", "u2"] {
        n.write_one(cmd(Op::CreateUpload(CreateUploadCmd {
            upload: Some(upload(id)),
        })))
        .await
        .expect("create upload");
    }
    n.write_one(part("u1", 1, &[10])).await.expect("part");
    n.write_one(part("u1", 2, &[11])).await.expect("part");
    // Part 2 uploaded again: its first chunks are released.
    n.write_one(part("u1", 2, &[12])).await.expect("part again");
    assert_eq!(state(&n, 4, 11), (0, true));
    assert_eq!(state(&n, 4, 12), (1, false));
    // A record listing a chunk of a replaced part is refused.
    let stale = n
        .write_one(cmd(Op::CompleteUpload(CompleteUploadCmd {
            upload_id: "u1".into(),
            record: Some(record("v1", &[10, 11], &[(4, Complete)])),
        })))
        .await;
    assert!(stale.is_err(), "{stale:?}");
    // Completed from part 1 only: part 2's chunk goes, part 1's moves to
    // the object without ever being queued.
    n.write_one(cmd(Op::CompleteUpload(CompleteUploadCmd {
        upload_id: "u1".into(),
        record: Some(record("v1", &[10], &[(4, Complete)])),
    })))
    .await
    .expect("complete");
    assert_eq!(state(&n, 4, 10), (1, false));
    assert_eq!(state(&n, 4, 12), (0, true));

    n.write_one(part("u2", 1, &[20])).await.expect("part");
    n.write_one(cmd(Op::AbortUpload(AbortUploadCmd {
        upload_id: "u2".into(),
    })))
    .await
    .expect("abort");
    assert_eq!(state(&n, 4, 20), (0, true));
}

#[tokio::test]
async fn a_node_clears_only_the_queue_entries_it_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let n = node(dir.path()).await;
    n.write_one(put("a", record("v1", &[1, 2], &[(1, Complete)])))
        .await
        .expect("put");
    n.write_one(delete("a")).await.expect("delete");
    let read = n.reader().gc_queue(1, None, 10).expect("queue");
    assert_eq!(read.len(), 2);
    // Paging resumes after a hash.
    let rest = n
        .reader()
        .gc_queue(1, Some(&read[0].hash), 10)
        .expect("page");
    assert_eq!(rest, read[1..].to_vec());

    // Chunk 2 is referenced and dropped again after the node read it: a new
    // entry, which the node's report must not clear.
    n.write_one(put("c", record("v1", &[2], &[(1, Complete)])))
        .await
        .expect("put c");
    n.write_one(delete("c")).await.expect("delete c");
    let entries = read
        .iter()
        .map(|q| GcEntry {
            hash: q.hash.to_vec(),
            queued_at: q.queued_at,
        })
        .collect();
    n.write_one(cmd(Op::GcDone(GcDoneCmd { site: 1, entries })))
        .await
        .expect("gc done");
    assert_eq!(state(&n, 1, 1), (0, false), "reclaimed");
    assert_eq!(state(&n, 1, 2), (0, true), "queued again, kept");
    let c = n.reader().gc_counter(1).expect("counter");
    assert_eq!((c.objects, c.bytes), (1, 100));
}

#[tokio::test]
async fn offered_chunks_are_queued_only_when_nothing_references_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let n = node(dir.path()).await;
    n.write_one(put("a", record("v1", &[1], &[(1, Complete)])))
        .await
        .expect("put");
    // A write that did not commit offers chunks 1 (referenced) and 2.
    n.write_one(cmd(Op::GcOffer(GcOfferCmd {
        site: 1,
        chunks: vec![chunk(1, 100), chunk(2, 100)],
    })))
    .await
    .expect("offer");
    assert_eq!(state(&n, 1, 1), (1, false));
    assert_eq!(state(&n, 1, 2), (0, true));
    // A later record referencing it takes it out of the queue.
    n.write_one(put("b", record("v1", &[2], &[(1, Complete)])))
        .await
        .expect("put b");
    assert_eq!(state(&n, 1, 2), (1, false));
}
