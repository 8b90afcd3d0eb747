//! Datasets: their life, attachments and publication with kept files.

use super::*;
use crate::dataset::{
    manifest_hash, DatasetChange, DatasetKind, DatasetState, FileRef, MemberRule, MetadataDoc,
    NewDataset,
};

fn new(name: &str, rules: Vec<MemberRule>) -> NewDataset {
    NewDataset {
        name: name.into(),
        owner: "alice".into(),
        kind: DatasetKind::Project,
        description: "d".into(),
        rules,
    }
}

fn file(bucket: &str, key: &str) -> FileRef {
    FileRef {
        bucket: bucket.into(),
        key: key.into(),
    }
}

async fn change(c: &dyn Catalogue, name: &str, ch: DatasetChange) -> Result<(), CoreError> {
    c.change_dataset(name, ch, 0).await
}

pub(super) async fn datasets_live_open_closed_and_attach_stored_files(
    c: &dyn Catalogue,
    clock: &SharedClock,
) -> Outcome {
    bucket(c, "bkt").await?;
    put(c, clock, "bkt", "raw/1", 1).await?;
    put(c, clock, "bkt", "raw/2", 2).await?;
    c.create_dataset(new("run-42", vec![]))
        .await
        .map_err(|e| e.to_string())?;
    let again = c.create_dataset(new("run-42", vec![])).await;
    check!(
        matches!(again, Err(CoreError::DatasetExists(_))),
        "{}",
        err(&again)
    );
    let bad = c.create_dataset(new("x", vec![])).await;
    check!(
        matches!(bad, Err(CoreError::InvalidArgument(_))),
        "{}",
        err(&bad)
    );
    let missing = change(
        c,
        "run-42",
        DatasetChange::Attach(vec![file("bkt", "raw/1"), file("bkt", "nope")]),
    )
    .await;
    check!(
        matches!(missing, Err(CoreError::NoSuchKey(_))),
        "{}",
        err(&missing)
    );
    change(
        c,
        "run-42",
        DatasetChange::Attach(vec![file("bkt", "raw/1"), file("bkt", "raw/2")]),
    )
    .await
    .map_err(|e| e.to_string())?;
    let d = c.dataset("run-42").await.map_err(|e| e.to_string())?;
    check!(
        d.files == 2 && d.version == 2 && d.state == DatasetState::Open,
        "{d:?}"
    );
    let page = c
        .dataset_files("run-42", None, 1)
        .await
        .map_err(|e| e.to_string())?;
    check!(
        page.files == [file("bkt", "raw/1")] && page.next_after == Some(file("bkt", "raw/1")),
        "{page:?}"
    );
    let rest = c
        .dataset_files("run-42", page.next_after, 10)
        .await
        .map_err(|e| e.to_string())?;
    check!(
        rest.files == [file("bkt", "raw/2")] && rest.next_after.is_none(),
        "{rest:?}"
    );
    let of = c
        .file_datasets("bkt", "raw/1")
        .await
        .map_err(|e| e.to_string())?;
    check!(of == ["run-42"], "{of:?}");
    let stale = c.change_dataset("run-42", DatasetChange::Close, 1).await;
    check!(
        matches!(stale, Err(CoreError::PreconditionFailed(_))),
        "{}",
        err(&stale)
    );
    c.change_dataset("run-42", DatasetChange::Close, 2)
        .await
        .map_err(|e| e.to_string())?;
    let closed = change(
        c,
        "run-42",
        DatasetChange::Detach(vec![file("bkt", "raw/1")]),
    )
    .await;
    check!(
        matches!(closed, Err(CoreError::DatasetState(_))),
        "{}",
        err(&closed)
    );
    change(c, "run-42", DatasetChange::Reopen)
        .await
        .map_err(|e| e.to_string())?;
    change(
        c,
        "run-42",
        DatasetChange::Detach(vec![file("bkt", "raw/1")]),
    )
    .await
    .map_err(|e| e.to_string())?;
    let d = c.dataset("run-42").await.map_err(|e| e.to_string())?;
    check!(d.files == 1, "{d:?}");
    let names: Vec<String> = c
        .list_datasets("", 10)
        .await
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(|d| d.name)
        .collect();
    check!(names == ["run-42"], "{names:?}");
    change(c, "run-42", DatasetChange::Delete)
        .await
        .map_err(|e| e.to_string())?;
    let gone = c.dataset("run-42").await;
    check!(
        matches!(gone, Err(CoreError::NoSuchDataset(_))),
        "{}",
        err(&gone)
    );
    check!(
        c.file_datasets("bkt", "raw/2")
            .await
            .map_err(|e| e.to_string())?
            .is_empty(),
        "a deleted dataset's attachments went with it"
    );
    Ok(())
}

pub(super) async fn a_published_dataset_keeps_its_files_as_its_manifest_says(
    c: &dyn Catalogue,
    clock: &SharedClock,
) -> Outcome {
    bucket(c, "bkt").await?;
    let one = put(c, clock, "bkt", "raw/1", 1).await?;
    put(c, clock, "bkt", "run7/a", 3).await?;
    put(c, clock, "bkt", "other", 4).await?;
    let rule = MemberRule {
        bucket: "bkt".into(),
        prefix: "run7/".into(),
    };
    c.create_dataset(new("paper-set", vec![rule]))
        .await
        .map_err(|e| e.to_string())?;
    change(
        c,
        "paper-set",
        DatasetChange::Attach(vec![file("bkt", "raw/1")]),
    )
    .await
    .map_err(|e| e.to_string())?;
    let open = change(c, "paper-set", DatasetChange::Publish).await;
    check!(
        matches!(open, Err(CoreError::DatasetState(_))),
        "{}",
        err(&open)
    );
    change(c, "paper-set", DatasetChange::Close)
        .await
        .map_err(|e| e.to_string())?;
    change(c, "paper-set", DatasetChange::Publish)
        .await
        .map_err(|e| e.to_string())?;
    let m = c
        .manifest("paper-set", None, 10)
        .await
        .map_err(|e| e.to_string())?;
    let files: Vec<(&str, &str)> = m
        .iter()
        .map(|e| (e.bucket.as_str(), e.key.as_str()))
        .collect();
    check!(files == [("bkt", "raw/1"), ("bkt", "run7/a")], "{files:?}");
    check!(
        m[0].version_id == one.version_id && m[0].size == 100,
        "{:?}",
        m[0]
    );
    let d = c.dataset("paper-set").await.map_err(|e| e.to_string())?;
    let p = d.published.clone().ok_or("not published")?;
    check!(
        d.state == DatasetState::Published
            && p.files == 2
            && p.bytes == 200
            && Ok(p.manifest_hash) == manifest_hash(&m),
        "{d:?}"
    );
    let over = c
        .commit_object(
            "bkt",
            "run7/a",
            version(clock, 9, 10),
            &WriteCondition::Always,
        )
        .await;
    check!(
        matches!(over, Err(CoreError::DatasetState(_))),
        "overwrite: {}",
        err(&over)
    );
    let del = c.delete_object("bkt", "raw/1").await;
    check!(
        matches!(del, Err(CoreError::DatasetState(_))),
        "delete: {}",
        err(&del)
    );
    c.delete_object("bkt", "other")
        .await
        .map_err(|e| e.to_string())?;
    for ch in [
        DatasetChange::Reopen,
        DatasetChange::Delete,
        DatasetChange::Publish,
    ] {
        let r = change(c, "paper-set", ch).await;
        check!(matches!(r, Err(CoreError::DatasetState(_))), "{}", err(&r));
    }
    Ok(())
}

fn doc(package: &str, document: &str) -> DatasetChange {
    DatasetChange::SetMetadata(MetadataDoc {
        package: package.into(),
        schema_version: 1,
        document: document.into(),
        set_ms: 0,
    })
}

pub(super) async fn dataset_metadata_and_access_are_kept_as_the_state_allows(
    c: &dyn Catalogue,
    clock: &SharedClock,
) -> Outcome {
    bucket(c, "bkt").await?;
    put(c, clock, "bkt", "raw/1", 1).await?;
    c.create_dataset(new("described", vec![]))
        .await
        .map_err(|e| e.to_string())?;
    change(
        c,
        "described",
        DatasetChange::Attach(vec![file("bkt", "raw/1")]),
    )
    .await
    .map_err(|e| e.to_string())?;
    for (p, d) in [("sample", r#"{"s":1}"#), ("dataset", r#"{"d":1}"#)] {
        change(c, "described", doc(p, d))
            .await
            .map_err(|e| e.to_string())?;
    }
    let bad = change(c, "described", doc("colour", "{}")).await;
    check!(
        matches!(bad, Err(CoreError::InvalidArgument(_))),
        "{}",
        err(&bad)
    );
    let m = c
        .dataset_metadata("described")
        .await
        .map_err(|e| e.to_string())?;
    let got: Vec<(&str, &str)> = m
        .iter()
        .map(|m| (m.package.as_str(), m.document.as_str()))
        .collect();
    check!(
        got == [("dataset", r#"{"d":1}"#), ("sample", r#"{"s":1}"#)],
        "{got:?}"
    );
    change(c, "described", doc("sample", ""))
        .await
        .map_err(|e| e.to_string())?;
    let grants = vec![crate::testkit::level_grant(
        "bob",
        crate::access::Level::Read,
    )];
    change(c, "described", DatasetChange::Close)
        .await
        .map_err(|e| e.to_string())?;
    change(c, "described", DatasetChange::Publish)
        .await
        .map_err(|e| e.to_string())?;
    // Published: its metadata is fixed, who may read it is not.
    let late = change(c, "described", doc("results", r#"{"r":1}"#)).await;
    check!(
        matches!(late, Err(CoreError::DatasetState(_))),
        "{}",
        err(&late)
    );
    change(
        c,
        "described",
        DatasetChange::SetAccess {
            grants: grants.clone(),
            policy: String::new(),
        },
    )
    .await
    .map_err(|e| e.to_string())?;
    let d = c.dataset("described").await.map_err(|e| e.to_string())?;
    check!(d.grants == grants, "{:?}", d.grants);
    let m = c
        .dataset_metadata("described")
        .await
        .map_err(|e| e.to_string())?;
    check!(m.len() == 1 && m[0].package == "dataset", "{m:?}");
    let none = c.dataset_metadata("absent-set").await;
    check!(
        matches!(none, Err(CoreError::NoSuchDataset(_))),
        "{}",
        err(&none)
    );
    Ok(())
}
