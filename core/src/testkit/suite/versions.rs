//! Versioning: versions, null versions, delete markers, tags by version.

use super::*;

fn versions(page: &[VersionEntry]) -> Vec<(String, String, bool, bool)> {
    page.iter()
        .filter_map(|e| match e {
            VersionEntry::Version {
                key,
                record,
                latest,
            } => Some((
                key.clone(),
                s3_version_id(record).to_string(),
                record.delete_marker,
                *latest,
            )),
            VersionEntry::Prefix(_) => None,
        })
        .collect()
}

fn all_versions() -> VersionQuery {
    VersionQuery {
        bucket: "b".into(),
        max_keys: 1000,
        ..Default::default()
    }
}

pub(super) async fn versioning_keeps_every_version_and_marks_deletes(
    c: &dyn Catalogue,
    clock: &SharedClock,
) -> Outcome {
    bucket(c, "b").await?;
    let null = put(c, clock, "b", "k", 1).await?;
    c.set_versioning("b", Versioning::Enabled)
        .await
        .map_err(|e| e.to_string())?;
    let b = c.bucket("b").await.map_err(|e| e.to_string())?;
    check!(b.versioning == Versioning::Enabled, "{b:?}");
    let v1 = put(c, clock, "b", "k", 2).await?;
    let v2 = put(c, clock, "b", "k", 3).await?;
    check!(
        v2.versioning == Versioning::Enabled,
        "committed as {:?}",
        v2.versioning
    );
    check!(s3_version_id(&v2) == v2.version_id, "its S3 id");
    let cur = c.object("b", "k").await.map_err(|e| e.to_string())?;
    check!(cur.version_id == v2.version_id, "current {cur:?}");
    let old = c
        .object_version("b", "k", &v1.version_id)
        .await
        .map_err(|e| e.to_string())?;
    check!(old.etag == "etag-2", "{old:?}");
    let n = c
        .object_version("b", "k", "null")
        .await
        .map_err(|e| e.to_string())?;
    check!(
        n.version_id == null.version_id,
        "the pre-versioning object is the null version: {n:?}"
    );
    let listed = versions(
        &c.list_versions(&all_versions())
            .await
            .map_err(|e| e.to_string())?
            .entries,
    );
    let want = vec![
        ("k".to_string(), v2.version_id.clone(), false, true),
        ("k".to_string(), v1.version_id.clone(), false, false),
        ("k".to_string(), "null".to_string(), false, false),
    ];
    check!(listed == want, "{listed:?}");
    let d = c.delete_object("b", "k").await.map_err(|e| e.to_string())?;
    check!(d.delete_marker, "{d:?}");
    let marker = d
        .version_id
        .clone()
        .ok_or("a delete marker without an id")?;
    let gone = c.object("b", "k").await;
    check!(
        matches!(gone, Err(CoreError::NoSuchKey(_))),
        "behind a marker: {}",
        err(&gone)
    );
    let listed = versions(
        &c.list_versions(&all_versions())
            .await
            .map_err(|e| e.to_string())?
            .entries,
    );
    check!(
        listed.len() == 4 && listed[0] == ("k".into(), marker.clone(), true, true),
        "{listed:?}"
    );
    c.delete_version("b", "k", &marker, false)
        .await
        .map_err(|e| e.to_string())?;
    let back = c.object("b", "k").await.map_err(|e| e.to_string())?;
    check!(
        back.version_id == v2.version_id,
        "the marker's removal brings back {back:?}"
    );
    c.delete_version("b", "k", &v2.version_id, false)
        .await
        .map_err(|e| e.to_string())?;
    let back = c.object("b", "k").await.map_err(|e| e.to_string())?;
    check!(
        back.version_id == v1.version_id,
        "the next newest becomes current: {back:?}"
    );
    Ok(())
}

pub(super) async fn a_suspended_bucket_replaces_the_null_version(
    c: &dyn Catalogue,
    clock: &SharedClock,
) -> Outcome {
    bucket(c, "b").await?;
    c.set_versioning("b", Versioning::Enabled)
        .await
        .map_err(|e| e.to_string())?;
    let kept = put(c, clock, "b", "k", 1).await?;
    c.set_versioning("b", Versioning::Suspended)
        .await
        .map_err(|e| e.to_string())?;
    let n1 = put(c, clock, "b", "k", 2).await?;
    check!(
        s3_version_id(&n1) == "null",
        "a suspended bucket's write is the null version"
    );
    put(c, clock, "b", "k", 3).await?;
    let listed = versions(
        &c.list_versions(&all_versions())
            .await
            .map_err(|e| e.to_string())?
            .entries,
    );
    let ids: Vec<&str> = listed.iter().map(|v| v.1.as_str()).collect();
    check!(ids == ["null", kept.version_id.as_str()], "{listed:?}");
    let d = c.delete_object("b", "k").await.map_err(|e| e.to_string())?;
    check!(
        d.delete_marker && d.version_id.as_deref() == Some("null"),
        "{d:?}"
    );
    let listed = versions(
        &c.list_versions(&all_versions())
            .await
            .map_err(|e| e.to_string())?
            .entries,
    );
    check!(
        listed.len() == 2 && listed[0].2,
        "the marker replaced the null version: {listed:?}"
    );
    let off = c.set_versioning("b", Versioning::Off).await;
    check!(
        matches!(off, Err(CoreError::InvalidArgument(_))),
        "versioning switched off: {}",
        err(&off)
    );
    Ok(())
}

pub(super) async fn absent_versions_are_told_apart_from_markers(
    c: &dyn Catalogue,
    clock: &SharedClock,
) -> Outcome {
    bucket(c, "b").await?;
    c.set_versioning("b", Versioning::Enabled)
        .await
        .map_err(|e| e.to_string())?;
    put(c, clock, "b", "k", 1).await?;
    let marker = c
        .delete_object("b", "k")
        .await
        .map_err(|e| e.to_string())?
        .version_id
        .unwrap_or_default();
    let r = c.object_version("b", "k", &marker).await;
    check!(
        matches!(r, Err(CoreError::DeleteMarker(_))),
        "a marker read: {}",
        err(&r)
    );
    let r = c.object_version("b", "k", "0000000000000000").await;
    check!(
        matches!(r, Err(CoreError::NoSuchVersion(_))),
        "an absent version: {}",
        err(&r)
    );
    let d = c.delete_version("b", "k", "0000000000000000", false).await;
    check!(
        d.is_ok(),
        "deleting an absent version is not an error: {}",
        err(&d)
    );
    Ok(())
}

pub(super) async fn tags_change_only_the_version_named(
    c: &dyn Catalogue,
    clock: &SharedClock,
) -> Outcome {
    bucket(c, "b").await?;
    c.set_versioning("b", Versioning::Enabled)
        .await
        .map_err(|e| e.to_string())?;
    let v1 = put(c, clock, "b", "k", 1).await?;
    let v2 = put(c, clock, "b", "k", 2).await?;
    let tags = HashMap::from([("a".to_string(), "1".to_string())]);
    let done = c
        .set_tags("b", "k", &v1.version_id, tags.clone())
        .await
        .map_err(|e| e.to_string())?;
    check!(done, "tagging a noncurrent version");
    let old = c
        .object_version("b", "k", &v1.version_id)
        .await
        .map_err(|e| e.to_string())?;
    let cur = c.object("b", "k").await.map_err(|e| e.to_string())?;
    check!(
        old.tags == tags && cur.tags.is_empty() && cur.version_id == v2.version_id,
        "{old:?} {cur:?}"
    );
    let stale = c
        .set_tags("b", "k", "0000000000000000", tags)
        .await
        .map_err(|e| e.to_string())?;
    check!(!stale, "a version that does not exist was tagged");
    Ok(())
}
