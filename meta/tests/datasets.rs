//! Datasets through a real single-voter Raft node on RocksDB: creation and
//! its checks, the life (close, reopen), descriptions and rules, files
//! attached and detached in both indexes, all or none, and deletion.

use std::time::Duration;

use meridian_core::dataset::{DatasetKind, DatasetState};
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

fn code<T: std::fmt::Debug>(r: Result<T, MetaError>) -> Option<OutcomeCode> {
    match r {
        Err(MetaError::Rejected { code, .. }) => Some(code),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn create(name: &str, kind: &str, publication: &str) -> Command {
    cmd(Op::CreateDataset(CreateDatasetCmd {
        dataset: Some(DatasetRecord {
            name: name.into(),
            owner: "alice".into(),
            kind: kind.into(),
            publication: publication.into(),
            facility: "JUNO".into(),
            description: "run 42".into(),
            rules: vec![MemberRule {
                bucket: "juno".into(),
                prefix: "raw/run42/".into(),
            }],
            ..Default::default()
        }),
        now_ms: 1_000,
    }))
}

fn attach(name: &str, files: &[(&str, &str)], detach: bool) -> Command {
    cmd(Op::AttachFiles(AttachFilesCmd {
        name: name.into(),
        files: files
            .iter()
            .map(|(b, k)| FileRef {
                bucket: (*b).into(),
                key: (*k).into(),
            })
            .collect(),
        detach,
        now_ms: 2_000,
        if_version: 0,
    }))
}

fn state(name: &str, to: u32, if_version: u64) -> Command {
    cmd(Op::SetDatasetState(SetDatasetStateCmd {
        name: name.into(),
        state: to,
        if_version,
        now_ms: 3_000,
    }))
}

async fn seed_objects(n: &MetaNode) {
    n.write_one(cmd(Op::CreateBucket(CreateBucketCmd {
        name: "juno".into(),
        owner: "alice".into(),
        ingest_site: 1,
        now_ms: 1,
        ..Default::default()
    })))
    .await
    .expect("bucket");
    for key in ["raw/a", "raw/b", "raw/c"] {
        n.write_one(cmd(Op::PutObject(PutObjectCmd {
            bucket: "juno".into(),
            key: key.into(),
            record: Some(ObjectRecord {
                format: 1,
                size: 10,
                blake3: vec![0xB3; 32],
                version_id: format!("v-{key}"),
                ..Default::default()
            }),
            ..Default::default()
        })))
        .await
        .expect("object");
    }
}

#[tokio::test]
async fn datasets_are_created_checked_and_listed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let n = node(dir.path()).await;
    n.write_one(create("juno-run42", "facility", ""))
        .await
        .expect("create");
    n.write_one(create(
        "daya-bay-2012",
        "paper",
        "10.1103/PhysRevLett.108.171803",
    ))
    .await
    .expect("create paper");
    assert_eq!(
        code(n.write_one(create("juno-run42", "project", "")).await),
        Some(OutcomeCode::DatasetExists)
    );
    for bad in [
        create("x", "project", ""),
        create("has/slash", "project", ""),
        create("ok-name", "poster", ""),
        create("ok-name", "paper", "not-an-identifier"),
    ] {
        assert_eq!(code(n.write_one(bad).await), Some(OutcomeCode::Invalid));
    }
    let r = n.reader();
    let d = r.dataset("juno-run42").expect("read").expect("there");
    assert_eq!(
        (d.state, d.version, d.owner.as_str()),
        (DatasetState::Open, 1, "alice")
    );
    assert!(matches!(d.kind, DatasetKind::Facility { ref facility, .. } if facility == "JUNO"));
    assert!(d.rule_takes("juno", "raw/run42/f.root"));
    let names: Vec<String> = r
        .datasets("", 10)
        .expect("list")
        .into_iter()
        .map(|d| d.name)
        .collect();
    assert_eq!(names, ["daya-bay-2012", "juno-run42"]);
    let after: Vec<String> = r
        .datasets("daya-bay-2012", 10)
        .expect("list")
        .into_iter()
        .map(|d| d.name)
        .collect();
    assert_eq!(after, ["juno-run42"]);
    assert!(r.dataset("nope").expect("read").is_none());
}

#[tokio::test]
async fn files_join_and_leave_an_open_dataset_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let n = node(dir.path()).await;
    seed_objects(&n).await;
    n.write_one(create("juno-run42", "project", ""))
        .await
        .expect("create");
    n.write_one(attach(
        "juno-run42",
        &[("juno", "raw/a"), ("juno", "raw/b")],
        false,
    ))
    .await
    .expect("attach");
    // Again: nothing changes (no double count).
    n.write_one(attach("juno-run42", &[("juno", "raw/a")], false))
        .await
        .expect("attach again");
    // All or none: one missing object refuses the whole command.
    assert_eq!(
        code(
            n.write_one(attach(
                "juno-run42",
                &[("juno", "raw/c"), ("juno", "raw/missing")],
                false
            ))
            .await
        ),
        Some(OutcomeCode::NoSuchKey)
    );
    let r = n.reader();
    let d = r.dataset("juno-run42").expect("read").expect("there");
    assert_eq!((d.files, d.version, d.last_join_ms), (2, 2, 2_000));
    let page = r.dataset_files("juno-run42", None, 1).expect("files");
    assert_eq!(page.files, [("juno".to_string(), "raw/a".to_string())]);
    let rest = r
        .dataset_files(
            "juno-run42",
            page.next_after
                .as_ref()
                .map(|(b, k)| (b.as_str(), k.as_str())),
            10,
        )
        .expect("files");
    assert_eq!((rest.files.len(), rest.next_after), (1, None));
    assert_eq!(
        r.file_datasets("juno", "raw/a").expect("reverse"),
        ["juno-run42"]
    );
    assert!(r
        .file_datasets("juno", "raw/c")
        .expect("reverse")
        .is_empty());

    // Closed: no file joins or leaves; a stale version is refused.
    assert_eq!(
        code(n.write_one(state("juno-run42", 1, 1)).await),
        Some(OutcomeCode::PreconditionFailed)
    );
    n.write_one(state("juno-run42", 1, 2)).await.expect("close");
    assert_eq!(
        code(
            n.write_one(attach("juno-run42", &[("juno", "raw/c")], false))
                .await
        ),
        Some(OutcomeCode::DatasetState)
    );
    assert_eq!(
        code(
            n.write_one(attach("juno-run42", &[("juno", "raw/a")], true))
                .await
        ),
        Some(OutcomeCode::DatasetState)
    );
    assert_eq!(
        code(n.write_one(state("juno-run42", 1, 0)).await),
        Some(OutcomeCode::DatasetState),
        "already closed"
    );
    assert_eq!(
        code(n.write_one(state("juno-run42", 2, 0)).await),
        Some(OutcomeCode::Invalid),
        "publishing is its own command"
    );
    // Reopened: they may again.
    n.write_one(state("juno-run42", 0, 0))
        .await
        .expect("reopen");
    n.write_one(attach("juno-run42", &[("juno", "raw/a")], true))
        .await
        .expect("detach");
    let d = r.dataset("juno-run42").expect("read").expect("there");
    assert_eq!((d.files, d.state), (1, DatasetState::Open));
    assert!(r
        .file_datasets("juno", "raw/a")
        .expect("reverse")
        .is_empty());
}

#[tokio::test]
async fn a_deleted_dataset_takes_its_attachments_not_its_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let n = node(dir.path()).await;
    seed_objects(&n).await;
    for name in ["first-set", "second-set"] {
        n.write_one(create(name, "project", ""))
            .await
            .expect("create");
        n.write_one(attach(name, &[("juno", "raw/a"), ("juno", "raw/b")], false))
            .await
            .expect("attach");
    }
    let r = n.reader();
    assert_eq!(
        r.file_datasets("juno", "raw/a").expect("reverse"),
        ["first-set", "second-set"]
    );
    n.write_one(cmd(Op::DescribeDataset(DescribeDatasetCmd {
        name: "first-set".into(),
        description: "described".into(),
        rules: vec![],
        if_version: 0,
        now_ms: 5,
    })))
    .await
    .expect("describe");
    assert_eq!(
        r.dataset("first-set")
            .expect("read")
            .expect("there")
            .description,
        "described"
    );
    n.write_one(cmd(Op::DeleteDataset(DeleteDatasetCmd {
        name: "first-set".into(),
        if_version: 0,
    })))
    .await
    .expect("delete");
    assert!(r.dataset("first-set").expect("read").is_none());
    assert_eq!(
        r.file_datasets("juno", "raw/a").expect("reverse"),
        ["second-set"]
    );
    assert!(r
        .dataset_files("first-set", None, 10)
        .expect("files")
        .files
        .is_empty());
    assert!(r.bucket("juno").expect("bucket").is_some());
    assert_eq!(
        code(
            n.write_one(cmd(Op::DeleteDataset(DeleteDatasetCmd {
                name: "first-set".into(),
                if_version: 0,
            })))
            .await
        ),
        Some(OutcomeCode::NoSuchDataset)
    );
}

fn publish(name: &str, if_version: u64) -> Command {
    cmd(Op::PublishDataset(PublishDatasetCmd {
        name: name.into(),
        if_version,
        now_ms: 9_000,
    }))
}

fn put_object(key: &str, version: &str) -> Command {
    cmd(Op::PutObject(PutObjectCmd {
        bucket: "juno".into(),
        key: key.into(),
        record: Some(ObjectRecord {
            format: 1,
            size: 77,
            blake3: vec![0xC4; 32],
            version_id: version.into(),
            ..Default::default()
        }),
        ..Default::default()
    }))
}

fn delete_object(key: &str) -> Command {
    cmd(Op::DeleteObject(DeleteObjectCmd {
        bucket: "juno".into(),
        key: key.into(),
        ..Default::default()
    }))
}

#[tokio::test]
async fn a_published_dataset_fixes_its_manifest_and_keeps_its_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let n = node(dir.path()).await;
    seed_objects(&n).await;
    n.write_one(put_object("raw/run42/f1", "v-f1"))
        .await
        .expect("rule file");
    n.write_one(put_object("other/x", "v-x"))
        .await
        .expect("other file");
    // Attached raw/a, and its rule (juno, raw/run42/) takes raw/run42/f1.
    n.write_one(create("juno-run42", "project", ""))
        .await
        .expect("create");
    n.write_one(attach("juno-run42", &[("juno", "raw/a")], false))
        .await
        .expect("attach");
    assert_eq!(
        code(n.write_one(publish("juno-run42", 0)).await),
        Some(OutcomeCode::DatasetState),
        "open: close it first"
    );
    n.write_one(state("juno-run42", 1, 0)).await.expect("close");
    let r = n.reader();
    let v = r
        .dataset("juno-run42")
        .expect("read")
        .expect("there")
        .version;
    assert_eq!(
        code(n.write_one(publish("juno-run42", v - 1)).await),
        Some(OutcomeCode::PreconditionFailed)
    );
    n.write_one(publish("juno-run42", v))
        .await
        .expect("publish");

    let d = r.dataset("juno-run42").expect("read").expect("there");
    assert_eq!(d.state, DatasetState::Published);
    let manifest = r.manifest("juno-run42", None, 10).expect("manifest");
    let files: Vec<(&str, &str, &str)> = manifest
        .iter()
        .map(|e| (e.bucket.as_str(), e.key.as_str(), e.version_id.as_str()))
        .collect();
    assert_eq!(
        files,
        [
            ("juno", "raw/a", "v-raw/a"),
            ("juno", "raw/run42/f1", "v-f1")
        ]
    );
    let p = d.published.as_ref().expect("publication");
    assert_eq!((p.files, p.bytes, p.published_ms), (2, 10 + 77, 9_000));
    assert_eq!(
        p.manifest_hash,
        meridian_core::dataset::manifest_hash(&manifest).expect("hash"),
        "the hash is the manifest's, recomputable by anyone"
    );
    // Paged.
    let rest = r
        .manifest("juno-run42", Some(("juno", "raw/a")), 10)
        .expect("page");
    assert_eq!(rest.len(), 1);

    // Its files are kept: no overwrite, no delete; others are free.
    assert_eq!(
        r.kept_by("juno", "raw/run42/f1").expect("kept"),
        ["juno-run42"]
    );
    for refused in [put_object("raw/a", "v-new"), delete_object("raw/run42/f1")] {
        assert_eq!(
            code(n.write_one(refused).await),
            Some(OutcomeCode::DatasetState)
        );
    }
    n.write_one(put_object("raw/b", "v-b2"))
        .await
        .expect("not in the manifest");
    n.write_one(delete_object("other/x"))
        .await
        .expect("not in the manifest");
    // A file joining the rule's prefix after publication is not in it.
    n.write_one(put_object("raw/run42/f2", "v-f2"))
        .await
        .expect("late file");
    assert_eq!(
        r.manifest("juno-run42", None, 10).expect("manifest").len(),
        2
    );
    // Immutable: nothing changes it, nor deletes it.
    for c in [
        attach("juno-run42", &[("juno", "raw/b")], false),
        state("juno-run42", 0, 0),
        publish("juno-run42", 0),
        cmd(Op::DeleteDataset(DeleteDatasetCmd {
            name: "juno-run42".into(),
            if_version: 0,
        })),
    ] {
        assert_eq!(code(n.write_one(c).await), Some(OutcomeCode::DatasetState));
    }
}

#[tokio::test]
async fn publishing_needs_files_that_are_all_still_stored() {
    let dir = tempfile::tempdir().expect("tempdir");
    let n = node(dir.path()).await;
    seed_objects(&n).await;
    n.write_one(create("empty-set", "project", ""))
        .await
        .expect("create");
    n.write_one(cmd(Op::DescribeDataset(DescribeDatasetCmd {
        name: "empty-set".into(),
        description: String::new(),
        rules: vec![],
        if_version: 0,
        now_ms: 5,
    })))
    .await
    .expect("no rules");
    n.write_one(state("empty-set", 1, 0)).await.expect("close");
    assert_eq!(
        code(n.write_one(publish("empty-set", 0)).await),
        Some(OutcomeCode::DatasetState),
        "nothing to publish"
    );
    n.write_one(create("gone-file", "project", ""))
        .await
        .expect("create");
    n.write_one(attach("gone-file", &[("juno", "raw/c")], false))
        .await
        .expect("attach");
    n.write_one(delete_object("raw/c"))
        .await
        .expect("an open dataset's file may go");
    n.write_one(state("gone-file", 1, 0)).await.expect("close");
    assert_eq!(
        code(n.write_one(publish("gone-file", 0)).await),
        Some(OutcomeCode::DatasetState),
        "an attached file that is no longer stored"
    );
    let r = n.reader();
    assert_eq!(
        r.dataset("gone-file").expect("read").expect("there").state,
        DatasetState::Closed,
        "a refused publication changes nothing"
    );
    assert!(r.kept_by("juno", "raw/c").expect("kept").is_empty());
}

#[tokio::test]
async fn a_kept_file_is_not_replaced_by_a_multipart_upload_either() {
    let dir = tempfile::tempdir().expect("tempdir");
    let n = node(dir.path()).await;
    seed_objects(&n).await;
    n.write_one(put_object("up1.bin", "v-up1"))
        .await
        .expect("file");
    n.write_one(create("kept-set", "project", ""))
        .await
        .expect("create");
    n.write_one(attach("kept-set", &[("juno", "up1.bin")], false))
        .await
        .expect("attach");
    n.write_one(state("kept-set", 1, 0)).await.expect("close");
    n.write_one(publish("kept-set", 0)).await.expect("publish");
    n.write_one(cmd(Op::CreateUpload(CreateUploadCmd {
        upload: Some(MultipartUpload {
            format: 1,
            upload_id: "up1".into(),
            bucket: "juno".into(),
            key: "up1.bin".into(),
            ingest_site: 1,
            ..Default::default()
        }),
    })))
    .await
    .expect("an upload may begin");
    let chunk = ChunkRef {
        hash: vec![7; 32],
        size: 100,
    };
    n.write_one(cmd(Op::PutPart(PutPartCmd {
        upload_id: "up1".into(),
        part: Some(PartRecord {
            format: 1,
            part_number: 1,
            chunks: vec![chunk.clone()],
            ..Default::default()
        }),
    })))
    .await
    .expect("part");
    let complete = cmd(Op::CompleteUpload(CompleteUploadCmd {
        upload_id: "up1".into(),
        record: Some(ObjectRecord {
            format: 1,
            blake3: vec![0xB3; 32],
            size: 100,
            version_id: "v-up1-new".into(),
            chunks: vec![chunk],
            ..Default::default()
        }),
    }));
    assert_eq!(
        code(n.write_one(complete).await),
        Some(OutcomeCode::DatasetState)
    );
    let m = n.reader().manifest("kept-set", None, 10).expect("manifest");
    assert_eq!(m[0].version_id, "v-up1");
}

#[tokio::test]
async fn membership_changes_are_logged_in_order_within_a_window() {
    use meridian_meta::catalogue::membership_log::RETAINED;
    let dir = tempfile::tempdir().expect("tempdir");
    let n = node(dir.path()).await;
    seed_objects(&n).await;
    let r = n.reader();
    assert_eq!(r.membership_changes(0, 10).expect("log").head, 0);
    n.write_one(create("set", "project", ""))
        .await
        .expect("create");
    n.write_one(attach(
        "set",
        &[("juno", "raw/a"), ("juno", "raw/b")],
        false,
    ))
    .await
    .expect("attach");
    // Attaching what is attached changes nothing and logs nothing.
    n.write_one(attach("set", &[("juno", "raw/a")], false))
        .await
        .expect("again");
    n.write_one(attach("set", &[("juno", "raw/b")], true))
        .await
        .expect("detach");
    n.write_one(cmd(Op::DescribeDataset(DescribeDatasetCmd {
        name: "set".into(),
        description: "no rules now".into(),
        rules: vec![],
        if_version: 0,
        now_ms: 5,
    })))
    .await
    .expect("describe");
    n.write_one(cmd(Op::DeleteDataset(DeleteDatasetCmd {
        name: "set".into(),
        if_version: 0,
    })))
    .await
    .expect("delete");
    let log = r.membership_changes(0, 100).expect("log");
    assert!(log.complete);
    assert_eq!(log.head, 5);
    type Seen = (u64, Vec<(String, String)>, Vec<String>);
    let seen: Vec<Seen> = log
        .changes
        .iter()
        .map(|c| {
            assert_eq!(c.dataset, "set");
            (
                c.seq,
                c.files.clone(),
                c.rules
                    .iter()
                    .map(|r| format!("{}/{}", r.bucket, r.prefix))
                    .collect(),
            )
        })
        .collect();
    let f = |k: &str| ("juno".to_string(), k.to_string());
    let run42 = || vec!["juno/raw/run42/".to_string()];
    assert_eq!(
        seen,
        vec![
            (1, vec![], run42()),
            (2, vec![f("raw/a"), f("raw/b")], vec![]),
            (3, vec![f("raw/b")], vec![]),
            (4, vec![], run42()),
            (5, vec![f("raw/a")], vec![]),
        ]
    );
    assert_eq!(r.membership_changes(3, 100).expect("log").changes.len(), 2);
    assert!(r
        .membership_changes(5, 100)
        .expect("log")
        .changes
        .is_empty());

    // Past the window, a reader that fell behind is told to look at all.
    n.write_one(create("busy", "project", ""))
        .await
        .expect("create");
    for i in 0..RETAINED {
        n.write_one(attach("busy", &[("juno", "raw/c")], i % 2 == 1))
            .await
            .expect("attach or detach");
    }
    let log = r.membership_changes(0, 10).expect("log");
    assert!(!log.complete);
    assert_eq!(log.head, 6 + RETAINED);
    let recent = r.membership_changes(log.head - 3, 10).expect("log");
    assert!(recent.complete);
    assert_eq!(recent.changes.len(), 3);
}
