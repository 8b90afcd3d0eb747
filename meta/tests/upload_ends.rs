//! How uploads end besides completion and abort: with their bucket, and
//! the answer a completed upload keeps for retries. Through a real
//! single-voter Raft node on RocksDB.

use std::time::Duration;

use meridian_meta::catalogue::uploads::COMPLETED_KEPT_MS;
use meridian_meta::{MetaConfig, MetaError, MetaNode, OutcomeCode};
use meridian_proto::v1::command::Op;
use meridian_proto::v1::*;

fn cmd(op: Op) -> Command {
    meridian_meta::command(op)
}

fn chunk(n: u8) -> ChunkRef {
    ChunkRef {
        hash: vec![n; 32],
        size: 100,
    }
}

async fn node(dir: &std::path::Path) -> MetaNode {
    let mut cfg = MetaConfig::new(dir.to_path_buf(), "127.0.0.1:0".into());
    cfg.leader_wait = Duration::from_secs(30);
    MetaNode::start(cfg).await.expect("meta node starts")
}

async fn bucket(n: &MetaNode, name: &str) {
    n.write_one(cmd(Op::CreateBucket(CreateBucketCmd {
        name: name.into(),
        owner: "root".into(),
        ingest_site: 1,
        now_ms: 1,
        ..Default::default()
    })))
    .await
    .expect("bucket");
}

async fn upload(n: &MetaNode, bucket: &str, id: &str, chunks: &[u8]) {
    n.write_one(cmd(Op::CreateUpload(CreateUploadCmd {
        upload: Some(MultipartUpload {
            format: 1,
            upload_id: id.into(),
            bucket: bucket.into(),
            key: format!("{id}.bin"),
            ingest_site: 1,
            ..Default::default()
        }),
    })))
    .await
    .expect("create upload");
    for (i, c) in chunks.iter().enumerate() {
        n.write_one(cmd(Op::PutPart(PutPartCmd {
            upload_id: id.into(),
            part: Some(PartRecord {
                format: 1,
                part_number: i as u32 + 1,
                chunks: vec![chunk(*c)],
                ..Default::default()
            }),
        })))
        .await
        .expect("part");
    }
}

fn delete_bucket(name: &str, abort_uploads: bool) -> Command {
    cmd(Op::DeleteBucket(DeleteBucketCmd {
        name: name.into(),
        abort_uploads,
    }))
}

fn not_empty(r: Result<meridian_meta::Outcome, MetaError>) -> bool {
    matches!(
        r,
        Err(MetaError::Rejected {
            code: OutcomeCode::BucketNotEmpty,
            ..
        })
    )
}

#[tokio::test]
async fn a_deleted_bucket_takes_its_unfinished_uploads_and_their_chunks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let n = node(dir.path()).await;
    bucket(&n, "b").await;
    upload(&n, "b", "u1", &[1, 2]).await;
    upload(&n, "b", "u2", &[3]).await;
    assert!(not_empty(n.write_one(delete_bucket("b", false)).await));
    assert!(n.reader().upload("u1").expect("read").is_some());

    n.write_one(delete_bucket("b", true))
        .await
        .expect("deleted with its uploads");
    let r = n.reader();
    assert!(r.bucket("b").expect("read").is_none());
    for id in ["u1", "u2"] {
        assert!(r.upload(id).expect("read").is_none(), "{id}");
        assert!(r.parts(id).expect("read").is_empty(), "{id}");
    }
    // The parts' chunks are nobody's now: queued for reclamation.
    for c in [1u8, 2, 3] {
        assert_eq!(r.chunk_refs(1, &[c; 32]).expect("refs"), 0);
        assert!(r
            .gc_queue(1, None, 100)
            .expect("queue")
            .iter()
            .any(|q| q.hash == [c; 32]));
    }
    // The name is free again, with nothing of the old bucket in it.
    bucket(&n, "b").await;
    let b = n.reader().bucket("b").expect("read").expect("bucket");
    assert!(n
        .reader()
        .bucket_uploads(b.id, 10)
        .expect("read")
        .is_empty());
}

#[tokio::test]
async fn uploads_never_go_while_objects_keep_the_bucket() {
    let dir = tempfile::tempdir().expect("tempdir");
    let n = node(dir.path()).await;
    bucket(&n, "b").await;
    upload(&n, "b", "u1", &[1]).await;
    n.write_one(cmd(Op::PutObject(PutObjectCmd {
        bucket: "b".into(),
        key: "k".into(),
        record: Some(ObjectRecord {
            blake3: vec![0xB3; 32],
            format: 1,
            size: 1,
            version_id: "v1".into(),
            ..Default::default()
        }),
        ..Default::default()
    })))
    .await
    .expect("put");
    assert!(not_empty(n.write_one(delete_bucket("b", true)).await));
    // Refused: nothing changed.
    assert!(n.reader().upload("u1").expect("read").is_some());
    assert_eq!(n.reader().chunk_refs(1, &[1; 32]).expect("refs"), 1);
}

fn complete(id: &str, etag: &str, chunks: &[u8], at_ms: i64) -> Command {
    cmd(Op::CompleteUpload(CompleteUploadCmd {
        upload_id: id.into(),
        record: Some(ObjectRecord {
            blake3: vec![0xB3; 32],
            format: 1,
            size: 100 * chunks.len() as u64,
            etag: etag.into(),
            version_id: format!("v-{id}"),
            chunks: chunks.iter().map(|c| chunk(*c)).collect(),
            created_ms: at_ms,
            checksums: [("CRC32".to_string(), "AAAAAA==".to_string())].into(),
            checksum_type: "COMPOSITE".into(),
            ..Default::default()
        }),
    }))
}

#[tokio::test]
async fn a_completed_upload_keeps_its_answer_for_a_day() {
    let dir = tempfile::tempdir().expect("tempdir");
    let n = node(dir.path()).await;
    bucket(&n, "b").await;
    upload(&n, "b", "u1", &[1]).await;
    let t0 = 1_000_000;
    n.write_one(complete("u1", "e1-1", &[1], t0))
        .await
        .expect("complete");
    let kept = n
        .reader()
        .completed_upload("u1")
        .expect("read")
        .expect("kept");
    assert_eq!(
        (kept.bucket.as_str(), kept.key.as_str(), kept.etag.as_str()),
        ("b", "u1.bin", "e1-1")
    );
    assert_eq!(kept.version_id, "v-u1");
    assert_eq!(kept.checksum_type, "COMPOSITE");
    // The upload itself is gone: a second completion is refused, and its
    // answer is what a retry gets.
    let again = n.write_one(complete("u1", "e1-1", &[1], t0 + 5)).await;
    assert!(
        matches!(
            again,
            Err(MetaError::Rejected {
                code: OutcomeCode::NoSuchUpload,
                ..
            })
        ),
        "{again:?}"
    );

    // Within the day it stays; completions after the day forget it.
    upload(&n, "b", "u2", &[2]).await;
    n.write_one(complete("u2", "e2-1", &[2], t0 + COMPLETED_KEPT_MS - 1))
        .await
        .expect("complete");
    assert!(n.reader().completed_upload("u1").expect("read").is_some());
    upload(&n, "b", "u3", &[3]).await;
    n.write_one(complete("u3", "e3-1", &[3], t0 + COMPLETED_KEPT_MS))
        .await
        .expect("complete");
    assert!(n.reader().completed_upload("u1").expect("read").is_none());
    assert!(n.reader().completed_upload("u2").expect("read").is_some());
    assert!(n.reader().completed_upload("u3").expect("read").is_some());
}
