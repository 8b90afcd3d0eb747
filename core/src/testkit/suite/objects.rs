//! Buckets, objects, write conditions and listings.

use super::*;

pub(super) async fn buckets_are_created_read_listed_and_deleted(
    c: &dyn Catalogue,
    _: &SharedClock,
) -> Outcome {
    bucket(c, "alpha").await?;
    let again = c
        .create_bucket("alpha", "bob", SITE, &NewBucket::default())
        .await;
    check!(
        matches!(again, Err(CoreError::BucketExists(_))),
        "second create: {}",
        err(&again)
    );
    let b = c.bucket("alpha").await.map_err(|e| e.to_string())?;
    check!(
        b.name == "alpha" && b.owner == "alice" && b.ingest_site == SITE,
        "{b:?}"
    );
    check!(
        b.versioning == Versioning::Off && b.object_lock.is_none(),
        "{b:?}"
    );
    bucket(c, "beta").await?;
    let names: Vec<String> = c
        .list_buckets()
        .await
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(|b| b.name)
        .collect();
    check!(
        names.contains(&"alpha".into()) && names.contains(&"beta".into()),
        "{names:?}"
    );
    let (a, b) = (
        c.bucket("alpha").await.map_err(|e| e.to_string())?.id,
        c.bucket("beta").await.map_err(|e| e.to_string())?.id,
    );
    check!(a != b, "two buckets share id {a}");
    c.delete_bucket("alpha").await.map_err(|e| e.to_string())?;
    let gone = c.bucket("alpha").await;
    check!(
        matches!(gone, Err(CoreError::NoSuchBucket(_))),
        "read after delete: {}",
        err(&gone)
    );
    let twice = c.delete_bucket("alpha").await;
    check!(
        matches!(twice, Err(CoreError::NoSuchBucket(_))),
        "second delete: {}",
        err(&twice)
    );
    Ok(())
}

pub(super) async fn a_bucket_keeps_its_objects_and_loses_its_uploads(
    c: &dyn Catalogue,
    clock: &SharedClock,
) -> Outcome {
    bucket(c, "b").await?;
    put(c, clock, "b", "k", 1).await?;
    let busy = c.delete_bucket("b").await;
    check!(
        matches!(busy, Err(CoreError::BucketNotEmpty(_))),
        "with an object: {}",
        err(&busy)
    );
    c.delete_object("b", "k").await.map_err(|e| e.to_string())?;
    c.create_upload(upload("u1", "b", "big", clock))
        .await
        .map_err(|e| e.to_string())?;
    c.delete_bucket("b")
        .await
        .map_err(|e| format!("with an upload: {e}"))?;
    let u = c.upload("u1").await;
    check!(
        matches!(u, Err(CoreError::NoSuchUpload(_))),
        "the upload outlived its bucket: {}",
        err(&u)
    );
    Ok(())
}

pub(super) async fn objects_are_committed_read_replaced_and_deleted(
    c: &dyn Catalogue,
    clock: &SharedClock,
) -> Outcome {
    bucket(c, "b").await?;
    let missing = c
        .commit_object("nope", "k", version(clock, 1, 10), &WriteCondition::Always)
        .await;
    check!(
        matches!(missing, Err(CoreError::NoSuchBucket(_))),
        "{}",
        err(&missing)
    );
    let first = put(c, clock, "b", "k", 1).await?;
    let read = c.object("b", "k").await.map_err(|e| e.to_string())?;
    check!(
        read.version_id == first.version_id && read.etag == "etag-1" && read.size == 100,
        "{read:?}"
    );
    check!(
        read.chunks == first.chunks && read.blake3 == first.blake3,
        "{read:?}"
    );
    check!(
        read.replicas
            .iter()
            .any(|r| r.site == SITE && r.state == ReplicaState::Complete),
        "the ingest site holds no complete replica: {:?}",
        read.replicas
    );
    check!(
        s3_version_id(&read) == "null",
        "unversioned id {}",
        s3_version_id(&read)
    );
    put(c, clock, "b", "k", 2).await?;
    let read = c.object("b", "k").await.map_err(|e| e.to_string())?;
    check!(read.etag == "etag-2", "not replaced: {read:?}");
    let d = c.delete_object("b", "k").await.map_err(|e| e.to_string())?;
    check!(d.version_id.is_none() && !d.delete_marker, "{d:?}");
    let gone = c.object("b", "k").await;
    check!(
        matches!(gone, Err(CoreError::NoSuchKey(_))),
        "{}",
        err(&gone)
    );
    c.delete_object("b", "k")
        .await
        .map_err(|e| format!("deleting an absent key: {e}"))?;
    Ok(())
}

pub(super) async fn writes_meet_their_conditions_or_change_nothing(
    c: &dyn Catalogue,
    clock: &SharedClock,
) -> Outcome {
    bucket(c, "b").await?;
    let v = version(clock, 1, 10);
    c.commit_object("b", "k", v.clone(), &WriteCondition::IfAbsent)
        .await
        .map_err(|e| format!("if absent on an absent key: {e}"))?;
    let r = c
        .commit_object("b", "k", version(clock, 2, 10), &WriteCondition::IfAbsent)
        .await;
    check!(
        matches!(r, Err(CoreError::PreconditionFailed(_))),
        "if absent: {}",
        err(&r)
    );
    let r = c
        .commit_object(
            "b",
            "k",
            version(clock, 3, 10),
            &WriteCondition::IfEtag("other".into()),
        )
        .await;
    check!(
        matches!(r, Err(CoreError::PreconditionFailed(_))),
        "if etag: {}",
        err(&r)
    );
    let r = c
        .commit_object(
            "b",
            "none",
            version(clock, 3, 10),
            &WriteCondition::IfEtag("etag-1".into()),
        )
        .await;
    check!(
        matches!(r, Err(CoreError::NoSuchKey(_))),
        "if etag on an absent key: {}",
        err(&r)
    );
    let now = c.object("b", "k").await.map_err(|e| e.to_string())?;
    check!(
        now.version_id == v.version_id,
        "a refused write changed the key: {now:?}"
    );
    c.commit_object(
        "b",
        "k",
        version(clock, 4, 10),
        &WriteCondition::IfEtag("etag-1".into()),
    )
    .await
    .map_err(|e| format!("if etag, matching: {e}"))?;
    Ok(())
}

fn names(page: &[ListEntry]) -> Vec<String> {
    page.iter()
        .map(|e| match e {
            ListEntry::Object { key, .. } => key.clone(),
            ListEntry::Prefix(p) => p.clone(),
        })
        .collect()
}

pub(super) async fn listings_page_group_and_resume(
    c: &dyn Catalogue,
    clock: &SharedClock,
) -> Outcome {
    bucket(c, "b").await?;
    for (i, k) in ["a/1", "a/2", "b/1", "c", "d"].iter().enumerate() {
        put(c, clock, "b", k, i as u8).await?;
    }
    let q = |prefix: &str, delimiter: Option<&str>, after: Option<&str>, max| ListQuery {
        bucket: "b".into(),
        prefix: prefix.into(),
        delimiter: delimiter.map(str::to_string),
        start_after: after.map(str::to_string),
        max_keys: max,
    };
    let all = c
        .list_objects(&q("", None, None, 1000))
        .await
        .map_err(|e| e.to_string())?;
    check!(
        names(&all.entries) == ["a/1", "a/2", "b/1", "c", "d"] && !all.truncated,
        "{:?}",
        names(&all.entries)
    );
    let grouped = c
        .list_objects(&q("", Some("/"), None, 1000))
        .await
        .map_err(|e| e.to_string())?;
    check!(
        names(&grouped.entries) == ["a/", "b/", "c", "d"],
        "{:?}",
        names(&grouped.entries)
    );
    let first = c
        .list_objects(&q("", Some("/"), None, 2))
        .await
        .map_err(|e| e.to_string())?;
    check!(
        names(&first.entries) == ["a/", "b/"] && first.truncated,
        "{:?} {}",
        names(&first.entries),
        first.truncated
    );
    check!(
        first.next_after.as_deref() == Some("b/"),
        "next after {:?}",
        first.next_after
    );
    let rest = c
        .list_objects(&q("", Some("/"), Some("b/"), 2))
        .await
        .map_err(|e| e.to_string())?;
    check!(
        names(&rest.entries) == ["c", "d"] && !rest.truncated,
        "{:?} {}",
        names(&rest.entries),
        rest.truncated
    );
    let under = c
        .list_objects(&q("a/", None, None, 1000))
        .await
        .map_err(|e| e.to_string())?;
    check!(
        names(&under.entries) == ["a/1", "a/2"],
        "{:?}",
        names(&under.entries)
    );
    Ok(())
}
