//! S3 versioning in the catalogue, through a real single-voter Raft node on
//! RocksDB: versions, delete markers, the null version, promotion when the
//! newest goes, listings and what noncurrent versions keep referencing.

use std::time::Duration;

use meridian_core::catalogue::s3_version_id;
use meridian_meta::catalogue::VersionItem;
use meridian_meta::{MetaConfig, MetaError, MetaNode, Outcome, OutcomeCode};
use meridian_proto::v1::command::Op;
use meridian_proto::v1::*;

const ENABLED: u32 = Versioning::Enabled as u32;
const SUSPENDED: u32 = Versioning::Suspended as u32;

fn cmd(op: Op) -> Command {
    meridian_meta::command(op)
}

fn record(version: &str, chunk: u8, sites: &[(u32, ReplicaState)]) -> ObjectRecord {
    ObjectRecord {
        blake3: vec![0xB3; 32],
        format: 1,
        size: 100,
        version_id: version.into(),
        chunks: vec![ChunkRef {
            hash: vec![chunk; 32],
            size: 100,
        }],
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

fn put(key: &str, version: &str, chunk: u8) -> Command {
    cmd(Op::PutObject(PutObjectCmd {
        bucket: "b".into(),
        key: key.into(),
        record: Some(record(
            version,
            chunk,
            &[(1, ReplicaState::Complete), (2, ReplicaState::Pending)],
        )),
        ..Default::default()
    }))
}

fn delete(key: &str, marker: &str) -> Command {
    cmd(Op::DeleteObject(DeleteObjectCmd {
        bucket: "b".into(),
        key: key.into(),
        marker_version_id: marker.into(),
        now_ms: 5,
        ..Default::default()
    }))
}

fn delete_version(key: &str, version: &str) -> Command {
    cmd(Op::DeleteObject(DeleteObjectCmd {
        bucket: "b".into(),
        key: key.into(),
        version_id: version.into(),
        ..Default::default()
    }))
}

fn versioning(state: u32) -> Command {
    cmd(Op::SetVersioning(SetVersioningCmd {
        bucket: "b".into(),
        versioning: state,
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

fn versioned(id: &str, marker: bool) -> Outcome {
    Outcome::Versioned {
        version_id: id.into(),
        delete_marker: marker,
    }
}

/// (key, S3 version id, delete marker, latest) of every entry.
fn listing(n: &MetaNode, prefix: &str, delim: Option<&str>) -> Vec<String> {
    let page = n
        .reader()
        .list_versions(1, prefix, delim, None, None, 1000)
        .expect("list");
    assert!(!page.truncated);
    page.items.iter().map(describe).collect()
}

fn describe(i: &VersionItem) -> String {
    match i {
        VersionItem::Version {
            key,
            record,
            latest,
        } => format!(
            "{key}@{}{}{}",
            s3_version_id(record),
            if record.delete_marker { " marker" } else { "" },
            if *latest { " latest" } else { "" }
        ),
        VersionItem::Prefix(p) => format!("P:{p}"),
    }
}

#[tokio::test]
async fn enabled_bucket_keeps_every_version_and_marker() {
    let dir = tempfile::tempdir().expect("tempdir");
    let n = node(dir.path()).await;
    // Written before versioning: the null version.
    assert_eq!(
        n.write_one(put("k", "v0", 1)).await.expect("put"),
        Outcome::Done
    );
    n.write_one(versioning(ENABLED)).await.expect("enable");
    assert_eq!(
        n.write_one(put("k", "v1", 2)).await.expect("put"),
        versioned("v1", false)
    );
    n.write_one(put("k", "v2", 3)).await.expect("put");
    let r = n.reader();
    assert_eq!(
        r.object(1, "k").expect("get").expect("current").version_id,
        "v2"
    );
    for (v, chunk) in [("null", 1u8), ("v1", 2), ("v2", 3)] {
        let rec = r.object_version(1, "k", v).expect("get").expect(v);
        assert_eq!(rec.chunks[0].hash, [chunk; 32], "{v}");
    }
    assert!(
        r.object_version(1, "k", "v0").expect("get").is_none(),
        "internal id of a null version"
    );
    // Noncurrent versions keep their complete replica's references at site
    // 1 and drop the pending one's at site 2.
    assert_eq!(r.chunk_refs(1, &[1; 32]).expect("refs"), 1);
    assert_eq!(r.chunk_refs(2, &[1; 32]).expect("refs"), 0);
    assert_eq!(r.chunk_refs(2, &[3; 32]).expect("refs"), 1);
    // Only the current version counts for the bucket and the pending index.
    assert_eq!(r.bucket_counter(1).expect("counter").objects, 1);
    assert_eq!(r.pending_counter(2).expect("counter").objects, 1);
    assert_eq!(r.site_counter(1).expect("counter").objects, 3);

    assert_eq!(
        n.write_one(delete("k", "m1")).await.expect("delete"),
        versioned("m1", true)
    );
    assert!(n.reader().object(1, "k").expect("get").is_none());
    assert_eq!(
        listing(&n, "", None),
        ["k@m1 marker latest", "k@v2", "k@v1", "k@null"]
    );
    assert_eq!(n.reader().bucket_counter(1).expect("counter").objects, 0);
    // A bucket with versions left is not empty.
    let full = n
        .write_one(cmd(Op::DeleteBucket(DeleteBucketCmd {
            name: "b".into(),
            ..Default::default()
        })))
        .await;
    assert!(matches!(
        full,
        Err(MetaError::Rejected {
            code: OutcomeCode::BucketNotEmpty,
            ..
        })
    ));

    // Removing the marker brings v2 back, its pending replica included.
    assert_eq!(
        n.write_one(delete_version("k", "m1"))
            .await
            .expect("delete"),
        versioned("m1", true)
    );
    let cur = n.reader().object(1, "k").expect("get").expect("v2 is back");
    assert_eq!(cur.version_id, "v2");
    assert_eq!(n.reader().pending_counter(2).expect("counter").objects, 1);
    assert_eq!(n.reader().pending(2, None, 10).expect("pending").len(), 1);
    assert_eq!(listing(&n, "", None), ["k@v2 latest", "k@v1", "k@null"]);

    // Removing the current version promotes the next; a noncurrent one
    // goes on its own.
    n.write_one(delete_version("k", "v2"))
        .await
        .expect("delete");
    n.write_one(delete_version("k", "null"))
        .await
        .expect("delete");
    assert_eq!(listing(&n, "", None), ["k@v1 latest"]);
    assert_eq!(n.reader().chunk_refs(1, &[1; 32]).expect("refs"), 0);
    assert_eq!(n.reader().chunk_refs(1, &[3; 32]).expect("refs"), 0);
    assert_eq!(n.reader().gc_queue(1, None, 10).expect("queue").len(), 2);
    // Unknown versions: success, nothing changes.
    assert_eq!(
        n.write_one(delete_version("k", "nope"))
            .await
            .expect("delete"),
        versioned("nope", false)
    );
    n.write_one(delete_version("k", "v1"))
        .await
        .expect("delete");
    assert!(listing(&n, "", None).is_empty());
    assert_eq!(n.reader().site_counter(1).expect("counter").objects, 0);
    n.write_one(cmd(Op::DeleteBucket(DeleteBucketCmd {
        name: "b".into(),
        ..Default::default()
    })))
    .await
    .expect("empty bucket goes");
}

#[tokio::test]
async fn suspended_bucket_replaces_the_null_version() {
    let dir = tempfile::tempdir().expect("tempdir");
    let n = node(dir.path()).await;
    n.write_one(versioning(ENABLED)).await.expect("enable");
    n.write_one(put("k", "v1", 1)).await.expect("put");
    n.write_one(versioning(SUSPENDED)).await.expect("suspend");
    assert_eq!(
        n.write_one(put("k", "v2", 2)).await.expect("put"),
        versioned("null", false)
    );
    n.write_one(put("k", "v3", 3)).await.expect("put");
    // v2 (null) was replaced by v3 (null); v1 stays.
    assert_eq!(listing(&n, "", None), ["k@null latest", "k@v1"]);
    assert_eq!(n.reader().chunk_refs(1, &[2; 32]).expect("refs"), 0);
    // A delete makes a null delete marker, replacing the null version.
    assert_eq!(
        n.write_one(delete("k", "m")).await.expect("delete"),
        versioned("null", true)
    );
    assert_eq!(listing(&n, "", None), ["k@null marker latest", "k@v1"]);
    assert_eq!(n.reader().chunk_refs(1, &[3; 32]).expect("refs"), 0);
    // Enabled again: new versions stack on the null marker.
    n.write_one(versioning(ENABLED)).await.expect("enable");
    n.write_one(put("k", "v4", 4)).await.expect("put");
    assert_eq!(
        listing(&n, "", None),
        ["k@v4 latest", "k@null marker", "k@v1"]
    );
    // Versioning cannot be switched off once on.
    let off = n.write_one(versioning(0)).await;
    assert!(matches!(
        off,
        Err(MetaError::Rejected {
            code: OutcomeCode::Invalid,
            ..
        })
    ));
}

#[tokio::test]
async fn version_listing_pages_and_groups() {
    let dir = tempfile::tempdir().expect("tempdir");
    let n = node(dir.path()).await;
    n.write_one(versioning(ENABLED)).await.expect("enable");
    for (key, versions) in [("a", 3), ("d/x", 2), ("d/y", 1), ("e", 2)] {
        for i in 0..versions {
            n.write_one(put(key, &format!("{key}{i}"), i as u8))
                .await
                .expect("put");
        }
    }
    n.write_one(delete("e", "em")).await.expect("delete");
    assert_eq!(
        listing(&n, "", Some("/")),
        [
            "a@a2 latest",
            "a@a1",
            "a@a0",
            "P:d/",
            "e@em marker latest",
            "e@e1",
            "e@e0"
        ]
    );
    assert_eq!(
        listing(&n, "d/", None),
        ["d/x@d/x1 latest", "d/x@d/x0", "d/y@d/y0 latest"]
    );
    // Pages of 2, resumed from the last entry's key and version.
    let mut all = Vec::new();
    let (mut km, mut vm): (Option<String>, Option<String>) = (None, None);
    for _ in 0..20 {
        let page = n
            .reader()
            .list_versions(1, "", Some("/"), km.as_deref(), vm.as_deref(), 2)
            .expect("list");
        all.extend(page.items.iter().map(describe));
        match page.items.last() {
            Some(VersionItem::Version { key, record, .. }) => {
                km = Some(key.clone());
                vm = Some(s3_version_id(record).to_string());
            }
            Some(VersionItem::Prefix(p)) => {
                km = Some(p.clone());
                vm = None;
            }
            None => break,
        }
        if !page.truncated {
            break;
        }
    }
    assert_eq!(all, listing(&n, "", Some("/")));
}

fn timed_put(key: &str, ms: i64) -> (Command, String) {
    let id = format!("{ms:x}{:08x}", 7);
    let mut rec = record(&id, 1, &[(1, ReplicaState::Complete)]);
    rec.created_ms = ms;
    let cmd = cmd(Op::PutObject(PutObjectCmd {
        bucket: "b".into(),
        key: key.into(),
        record: Some(rec),
        ..Default::default()
    }));
    (cmd, id)
}

#[tokio::test]
async fn a_listing_resumes_after_a_version_deleted_since() {
    let dir = tempfile::tempdir().expect("tempdir");
    let n = node(dir.path()).await;
    n.write_one(versioning(ENABLED)).await.expect("enable");
    let mut ids = Vec::new();
    for i in 0..6 {
        let (c, id) = timed_put("k", 1_800_000_000_000 + i);
        n.write_one(c).await.expect("put");
        ids.push(id);
    }
    ids.reverse(); // newest first, as listed
                   // A client deleting each page before asking for the next.
    let mut seen = Vec::new();
    let (mut km, mut vm): (Option<String>, Option<String>) = (None, None);
    for _ in 0..10 {
        let page = n
            .reader()
            .list_versions(1, "", None, km.as_deref(), vm.as_deref(), 2)
            .expect("list");
        for item in &page.items {
            if let VersionItem::Version { key, record, .. } = item {
                seen.push(record.version_id.clone());
                km = Some(key.clone());
                vm = Some(s3_version_id(record).to_string());
                n.write_one(delete_version(key, s3_version_id(record)))
                    .await
                    .expect("delete");
            }
        }
        if !page.truncated {
            break;
        }
    }
    assert_eq!(seen, ids, "every version listed once, none skipped");
    assert!(listing(&n, "", None).is_empty());
}

#[tokio::test]
async fn refused_and_internal_deletes_change_only_what_they_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let n = node(dir.path()).await;
    n.write_one(versioning(ENABLED)).await.expect("enable");
    n.write_one(put("k", "v1", 1)).await.expect("put");
    // A versioned delete without a marker id is refused and changes nothing.
    let refused = n
        .write_one(cmd(Op::DeleteObject(DeleteObjectCmd {
            bucket: "b".into(),
            key: "k".into(),
            ..Default::default()
        })))
        .await;
    assert!(matches!(
        refused,
        Err(MetaError::Rejected {
            code: OutcomeCode::Invalid,
            ..
        })
    ));
    assert_eq!(listing(&n, "", None), ["k@v1 latest"]);

    // The lifecycle's removal by internal id: never the current version.
    let internal = |id: &str| {
        cmd(Op::DeleteObject(DeleteObjectCmd {
            bucket: "b".into(),
            key: "k".into(),
            noncurrent_version_id: id.into(),
            ..Default::default()
        }))
    };
    assert_eq!(
        n.write_one(internal("v1")).await.expect("stale"),
        Outcome::Stale
    );
    n.write_one(versioning(SUSPENDED)).await.expect("suspend");
    n.write_one(put("k", "n1", 2)).await.expect("null version");
    n.write_one(versioning(ENABLED)).await.expect("enable");
    n.write_one(put("k", "v3", 3)).await.expect("put");
    // The null version (internal id n1) is noncurrent now; suspended
    // again, a new null version replaces it, and a removal naming n1 finds
    // nothing to remove, leaving the new one alone.
    n.write_one(versioning(SUSPENDED)).await.expect("suspend");
    n.write_one(put("k", "n2", 4)).await.expect("null again");
    assert_eq!(
        n.write_one(internal("n1")).await.expect("stale"),
        Outcome::Stale
    );
    assert_eq!(listing(&n, "", None), ["k@null latest", "k@v3", "k@v1"]);
    assert_eq!(
        n.write_one(internal("v1")).await.expect("removed"),
        versioned("v1", false)
    );
    assert_eq!(listing(&n, "", None), ["k@null latest", "k@v3"]);
}
