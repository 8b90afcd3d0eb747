//! The conformance suite of the `Catalogue` contract, in the manner of
//! openraft's storage `Suite`: every case runs on a fresh catalogue from a
//! [`Builder`], and [`test_all`] fails naming every case that did not hold.
//! The in-memory catalogue and the real one (`meridian-node`'s, over Raft
//! and RocksDB) both run it, so what the protocols' fast tests see of the
//! former is what the latter does.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use async_trait::async_trait;

use crate::access::acl::{ALL_USERS, READ};
use crate::catalogue::{
    s3_version_id, BucketChange, Catalogue, CopySource, ListEntry, ListQuery, NewBucket,
    VersionChange, VersionEntry, VersionQuery, WriteCondition,
};
use crate::records::{
    BucketGrant, ChunkRef, CorsRule, LifecycleRule, LockMode, MultipartUpload, ObjectLockConfig,
    ObjectRecord, PartRecord, PublicAccessBlock, ReplicaState, Versioning,
};
use crate::{CoreError, SharedClock};

/// Makes the catalogues the cases run on.
#[async_trait]
pub trait Builder: Send + Sync {
    /// A fresh, empty catalogue and the clock its commands read. Records
    /// are ingested at [`SITE`], which the catalogue's topology must have.
    async fn build(&self) -> (Arc<dyn Catalogue>, SharedClock);
}

/// The site every case ingests at.
pub const SITE: u32 = 1;
const DAY_MS: i64 = 86_400_000;

type Outcome = Result<(), String>;
type Case = for<'a> fn(
    &'a dyn Catalogue,
    &'a SharedClock,
) -> Pin<Box<dyn Future<Output = Outcome> + Send + 'a>>;

macro_rules! check {
    ($cond:expr, $($arg:tt)+) => {
        if !$cond {
            return Err(format!($($arg)+));
        }
    };
}

macro_rules! case {
    ($name:ident) => {
        (stringify!($name), |c, k| {
            Box::pin($name(c, k)) as Pin<Box<_>>
        })
    };
}

/// Runs every case on a catalogue of its own; panics naming each failure.
pub async fn test_all<B: Builder>(builder: &B) {
    let cases: Vec<(&str, Case)> = vec![
        case!(buckets_are_created_read_listed_and_deleted),
        case!(a_bucket_keeps_its_objects_and_loses_its_uploads),
        case!(objects_are_committed_read_replaced_and_deleted),
        case!(writes_meet_their_conditions_or_change_nothing),
        case!(listings_page_group_and_resume),
        case!(versioning_keeps_every_version_and_marks_deletes),
        case!(a_suspended_bucket_replaces_the_null_version),
        case!(absent_versions_are_told_apart_from_markers),
        case!(bucket_settings_read_back),
        case!(uploads_complete_into_objects_and_remember_the_answer),
        case!(tags_change_only_the_version_named),
        case!(object_lock_keeps_versions_until_retention_ends),
        case!(retention_in_force_only_grows_without_the_bypass),
        case!(object_lock_needs_versioning_and_a_lock_enabled_bucket),
        case!(default_retention_applies_to_new_versions),
        case!(acls_and_ownership_exclude_each_other),
        case!(a_copy_needs_its_source_unchanged),
    ];
    let mut failed = Vec::new();
    for (name, case) in cases {
        let (catalogue, clock) = builder.build().await;
        if let Err(e) = case(catalogue.as_ref(), &clock).await {
            failed.push(format!("{name}: {e}"));
        }
    }
    assert!(
        failed.is_empty(),
        "catalogue conformance failed:\n  {}",
        failed.join("\n  ")
    );
}

fn hash_of(seed: u8) -> [u8; 32] {
    let mut h = [seed; 32];
    h[0] = 0xc0;
    h
}

/// A version of `size` bytes in one chunk, as a gateway would commit it.
fn version(clock: &SharedClock, seed: u8, size: u32) -> ObjectRecord {
    let now = clock.now_ms();
    ObjectRecord {
        size: u64::from(size),
        blake3: Some(hash_of(seed)),
        etag: format!("etag-{seed}"),
        content_type: "application/octet-stream".into(),
        owner: "alice".into(),
        chunks: vec![ChunkRef {
            hash: hash_of(seed),
            size,
        }],
        chunk_size: 1 << 20,
        created_ms: now,
        ingest_site: SITE,
        version_id: crate::ids::new_version_id(now),
        ..Default::default()
    }
}

async fn bucket(c: &dyn Catalogue, name: &str) -> Outcome {
    c.create_bucket(name, "alice", SITE, &NewBucket::default())
        .await
        .map_err(|e| format!("create {name}: {e}"))
}

async fn put(
    c: &dyn Catalogue,
    clock: &SharedClock,
    b: &str,
    key: &str,
    seed: u8,
) -> Result<ObjectRecord, String> {
    c.commit_object(b, key, version(clock, seed, 100), &WriteCondition::Always)
        .await
        .map_err(|e| format!("put {b}/{key}: {e}"))
}

fn err<T: std::fmt::Debug>(r: &Result<T, CoreError>) -> String {
    format!("{r:?}")
}

async fn buckets_are_created_read_listed_and_deleted(
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

async fn a_bucket_keeps_its_objects_and_loses_its_uploads(
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

async fn objects_are_committed_read_replaced_and_deleted(
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

async fn writes_meet_their_conditions_or_change_nothing(
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

async fn listings_page_group_and_resume(c: &dyn Catalogue, clock: &SharedClock) -> Outcome {
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

async fn versioning_keeps_every_version_and_marks_deletes(
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

async fn a_suspended_bucket_replaces_the_null_version(
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

async fn absent_versions_are_told_apart_from_markers(
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

async fn bucket_settings_read_back(c: &dyn Catalogue, _: &SharedClock) -> Outcome {
    bucket(c, "b").await?;
    let cors = vec![CorsRule {
        id: "r".into(),
        allowed_origins: vec!["*".into()],
        allowed_methods: vec!["GET".into()],
        max_age_seconds: Some(60),
        ..Default::default()
    }];
    let rules = vec![LifecycleRule {
        id: "old".into(),
        enabled: true,
        prefix: "logs/".into(),
        expiration_days: 7,
        ..Default::default()
    }];
    let tags = HashMap::from([("team".to_string(), "juno".to_string())]);
    c.set_bucket_cors("b", cors.clone())
        .await
        .map_err(|e| e.to_string())?;
    c.set_bucket_lifecycle("b", rules.clone())
        .await
        .map_err(|e| e.to_string())?;
    c.set_bucket_tags("b", tags.clone())
        .await
        .map_err(|e| e.to_string())?;
    c.set_bucket_policy("b", "{\"Version\":\"2012-10-17\",\"Statement\":[]}")
        .await
        .map_err(|e| e.to_string())?;
    let b = c.bucket("b").await.map_err(|e| e.to_string())?;
    check!(
        b.cors == cors && b.lifecycle == rules && b.tags == tags,
        "{b:?}"
    );
    check!(b.policy.contains("2012-10-17"), "policy {:?}", b.policy);
    c.set_bucket_cors("b", Vec::new())
        .await
        .map_err(|e| e.to_string())?;
    c.set_bucket_policy("b", "")
        .await
        .map_err(|e| e.to_string())?;
    let b = c.bucket("b").await.map_err(|e| e.to_string())?;
    check!(
        b.cors.is_empty() && b.policy.is_empty() && !b.lifecycle.is_empty(),
        "{b:?}"
    );
    let r = c.set_bucket_tags("nope", HashMap::new()).await;
    check!(matches!(r, Err(CoreError::NoSuchBucket(_))), "{}", err(&r));
    Ok(())
}

fn upload(id: &str, bucket: &str, key: &str, clock: &SharedClock) -> MultipartUpload {
    MultipartUpload {
        upload_id: id.into(),
        bucket: bucket.into(),
        key: key.into(),
        created_ms: clock.now_ms(),
        ingest_site: SITE,
        owner: "alice".into(),
        ..Default::default()
    }
}

fn part(n: u32, seed: u8, clock: &SharedClock) -> PartRecord {
    PartRecord {
        part_number: n,
        etag: format!("part-{seed}"),
        size: 50,
        chunks: vec![ChunkRef {
            hash: hash_of(seed),
            size: 50,
        }],
        created_ms: clock.now_ms(),
        ..Default::default()
    }
}

async fn uploads_complete_into_objects_and_remember_the_answer(
    c: &dyn Catalogue,
    clock: &SharedClock,
) -> Outcome {
    bucket(c, "b").await?;
    c.create_upload(upload("u1", "b", "big", clock))
        .await
        .map_err(|e| e.to_string())?;
    c.create_upload(upload("u2", "b", "other", clock))
        .await
        .map_err(|e| e.to_string())?;
    check!(
        c.upload("u1").await.map(|u| u.key).ok().as_deref() == Some("big"),
        "upload read back"
    );
    c.put_part("u1", part(2, 20, clock))
        .await
        .map_err(|e| e.to_string())?;
    c.put_part("u1", part(1, 10, clock))
        .await
        .map_err(|e| e.to_string())?;
    c.put_part("u1", part(1, 11, clock))
        .await
        .map_err(|e| e.to_string())?;
    let parts = c.list_parts("u1").await.map_err(|e| e.to_string())?;
    let got: Vec<(u32, String)> = parts
        .iter()
        .map(|p| (p.part_number, p.etag.clone()))
        .collect();
    check!(
        got == [(1, "part-11".to_string()), (2, "part-20".to_string())],
        "{got:?}"
    );
    let mut listed: Vec<String> = c
        .list_uploads("b")
        .await
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(|u| u.upload_id)
        .collect();
    listed.sort();
    check!(listed == ["u1", "u2"], "{listed:?}");
    let r = c.put_part("none", part(1, 1, clock)).await;
    check!(matches!(r, Err(CoreError::NoSuchUpload(_))), "{}", err(&r));
    let mut rec = version(clock, 11, 50);
    rec.size = 100;
    rec.etag = "whole-2".into();
    rec.parts = 2;
    rec.chunks = vec![part(1, 11, clock).chunks[0], part(2, 20, clock).chunks[0]];
    let done = c
        .complete_upload("u1", rec.clone())
        .await
        .map_err(|e| e.to_string())?;
    let obj = c.object("b", "big").await.map_err(|e| e.to_string())?;
    check!(
        obj.etag == "whole-2" && obj.version_id == done.version_id && obj.parts == 2,
        "{obj:?}"
    );
    let u = c.upload("u1").await;
    check!(
        matches!(u, Err(CoreError::NoSuchUpload(_))),
        "the upload outlived its completion: {}",
        err(&u)
    );
    let answer = c
        .completed_upload("u1")
        .await
        .map_err(|e| e.to_string())?
        .ok_or("no remembered answer")?;
    check!(
        answer.etag == "whole-2" && answer.version_id == done.version_id && answer.key == "big",
        "{answer:?}"
    );
    c.abort_upload("u2").await.map_err(|e| e.to_string())?;
    let again = c.abort_upload("u2").await;
    check!(
        matches!(again, Err(CoreError::NoSuchUpload(_))),
        "{}",
        err(&again)
    );
    check!(
        c.completed_upload("u2")
            .await
            .map_err(|e| e.to_string())?
            .is_none(),
        "an aborted upload has no answer"
    );
    Ok(())
}

async fn tags_change_only_the_version_named(c: &dyn Catalogue, clock: &SharedClock) -> Outcome {
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

async fn lock_bucket(c: &dyn Catalogue, name: &str) -> Outcome {
    let new = NewBucket {
        object_lock: true,
        ..Default::default()
    };
    c.create_bucket(name, "alice", SITE, &new)
        .await
        .map_err(|e| e.to_string())
}

fn retained(clock: &SharedClock, seed: u8, mode: LockMode) -> ObjectRecord {
    let mut v = version(clock, seed, 10);
    v.lock_mode = mode;
    v.lock_until_ms = clock.now_ms() + DAY_MS;
    v
}

async fn object_lock_keeps_versions_until_retention_ends(
    c: &dyn Catalogue,
    clock: &SharedClock,
) -> Outcome {
    lock_bucket(c, "b").await?;
    let b = c.bucket("b").await.map_err(|e| e.to_string())?;
    check!(
        b.versioning == Versioning::Enabled && b.object_lock.is_some_and(|l| l.enabled),
        "{b:?}"
    );
    let g = c
        .commit_object(
            "b",
            "g",
            retained(clock, 1, LockMode::Governance),
            &WriteCondition::Always,
        )
        .await
        .map_err(|e| e.to_string())?;
    let r = c.delete_version("b", "g", &g.version_id, false).await;
    check!(
        matches!(r, Err(CoreError::ObjectLocked(_))),
        "governance: {}",
        err(&r)
    );
    c.delete_version("b", "g", &g.version_id, true)
        .await
        .map_err(|e| format!("bypassed: {e}"))?;
    let k = c
        .commit_object(
            "b",
            "c",
            retained(clock, 2, LockMode::Compliance),
            &WriteCondition::Always,
        )
        .await
        .map_err(|e| e.to_string())?;
    let r = c.delete_version("b", "c", &k.version_id, true).await;
    check!(
        matches!(r, Err(CoreError::ObjectLocked(_))),
        "compliance: {}",
        err(&r)
    );
    let h = put(c, clock, "b", "h", 3).await?;
    let held = c
        .update_version("b", "h", &h.version_id, VersionChange::LegalHold(true))
        .await
        .map_err(|e| e.to_string())?;
    check!(held, "legal hold on the current version");
    let r = c.delete_version("b", "h", &h.version_id, true).await;
    check!(
        matches!(r, Err(CoreError::ObjectLocked(_))),
        "legal hold: {}",
        err(&r)
    );
    c.update_version("b", "h", &h.version_id, VersionChange::LegalHold(false))
        .await
        .map_err(|e| e.to_string())?;
    c.delete_version("b", "h", &h.version_id, false)
        .await
        .map_err(|e| format!("hold lifted: {e}"))?;
    // A plain delete adds a marker: retention keeps versions, not keys.
    let d = c.delete_object("b", "c").await.map_err(|e| e.to_string())?;
    check!(d.delete_marker, "{d:?}");
    Ok(())
}

async fn retention_in_force_only_grows_without_the_bypass(
    c: &dyn Catalogue,
    clock: &SharedClock,
) -> Outcome {
    lock_bucket(c, "b").await?;
    let v = c
        .commit_object(
            "b",
            "k",
            retained(clock, 1, LockMode::Governance),
            &WriteCondition::Always,
        )
        .await
        .map_err(|e| e.to_string())?;
    let until = c
        .object("b", "k")
        .await
        .map_err(|e| e.to_string())?
        .lock_until_ms;
    let change = |until_ms, bypass| VersionChange::Retention {
        mode: LockMode::Governance,
        until_ms,
        bypass_governance: bypass,
    };
    let r = c
        .update_version("b", "k", &v.version_id, change(until - 1000, false))
        .await;
    check!(
        matches!(r, Err(CoreError::ObjectLocked(_))),
        "shortened: {}",
        err(&r)
    );
    let longer = c
        .update_version("b", "k", &v.version_id, change(until + DAY_MS, false))
        .await
        .map_err(|e| e.to_string())?;
    check!(longer, "extending");
    let read = c.object("b", "k").await.map_err(|e| e.to_string())?;
    check!(
        read.lock_until_ms == until + DAY_MS && read.lock_mode == LockMode::Governance,
        "{read:?}"
    );
    c.update_version("b", "k", &v.version_id, change(until, true))
        .await
        .map_err(|e| format!("shortened with the bypass: {e}"))?;
    let past = c
        .update_version("b", "k", &v.version_id, change(clock.now_ms() - 1, true))
        .await;
    check!(
        matches!(past, Err(CoreError::InvalidArgument(_))),
        "retention in the past: {}",
        err(&past)
    );
    Ok(())
}

async fn object_lock_needs_versioning_and_a_lock_enabled_bucket(
    c: &dyn Catalogue,
    clock: &SharedClock,
) -> Outcome {
    bucket(c, "plain").await?;
    let on = ObjectLockConfig {
        enabled: true,
        ..Default::default()
    };
    let r = c.update_bucket("plain", BucketChange::ObjectLock(on)).await;
    check!(
        matches!(r, Err(CoreError::InvalidBucketState(_))),
        "lock without versioning: {}",
        err(&r)
    );
    let r = c
        .commit_object(
            "plain",
            "k",
            retained(clock, 1, LockMode::Governance),
            &WriteCondition::Always,
        )
        .await;
    check!(
        matches!(r, Err(CoreError::NoObjectLock(_))),
        "retention without a lock: {}",
        err(&r)
    );
    let v = put(c, clock, "plain", "k", 2).await?;
    let r = c
        .update_version("plain", "k", &v.version_id, VersionChange::LegalHold(true))
        .await;
    check!(
        matches!(r, Err(CoreError::NoObjectLock(_))),
        "hold without a lock: {}",
        err(&r)
    );
    c.set_versioning("plain", Versioning::Enabled)
        .await
        .map_err(|e| e.to_string())?;
    c.update_bucket("plain", BucketChange::ObjectLock(on))
        .await
        .map_err(|e| e.to_string())?;
    let off = ObjectLockConfig::default();
    let r = c
        .update_bucket("plain", BucketChange::ObjectLock(off))
        .await;
    check!(
        matches!(r, Err(CoreError::InvalidArgument(_))),
        "switched off: {}",
        err(&r)
    );
    let r = c.set_versioning("plain", Versioning::Suspended).await;
    check!(
        matches!(r, Err(CoreError::InvalidBucketState(_))),
        "suspended under a lock: {}",
        err(&r)
    );
    Ok(())
}

async fn default_retention_applies_to_new_versions(
    c: &dyn Catalogue,
    clock: &SharedClock,
) -> Outcome {
    lock_bucket(c, "b").await?;
    let config = ObjectLockConfig {
        enabled: true,
        default_mode: LockMode::Governance,
        default_days: 2,
        default_years: 0,
    };
    c.update_bucket("b", BucketChange::ObjectLock(config))
        .await
        .map_err(|e| e.to_string())?;
    let v = put(c, clock, "b", "k", 1).await?;
    let read = c.object("b", "k").await.map_err(|e| e.to_string())?;
    check!(read.lock_mode == LockMode::Governance, "{read:?}");
    check!(
        read.lock_until_ms == v.created_ms + 2 * DAY_MS,
        "until {} for created {}",
        read.lock_until_ms,
        v.created_ms
    );
    let asked = c
        .commit_object(
            "b",
            "m",
            retained(clock, 2, LockMode::Compliance),
            &WriteCondition::Always,
        )
        .await
        .map_err(|e| e.to_string())?;
    let read = c.object("b", "m").await.map_err(|e| e.to_string())?;
    check!(
        read.lock_mode == LockMode::Compliance && read.lock_until_ms == asked.lock_until_ms,
        "asked retention kept: {read:?}"
    );
    Ok(())
}

async fn acls_and_ownership_exclude_each_other(c: &dyn Catalogue, clock: &SharedClock) -> Outcome {
    bucket(c, "b").await?;
    let public = vec![BucketGrant {
        user: ALL_USERS.into(),
        level: None,
        acl: READ,
    }];
    c.update_bucket("b", BucketChange::Acl(public.clone()))
        .await
        .map_err(|e| e.to_string())?;
    let b = c.bucket("b").await.map_err(|e| e.to_string())?;
    check!(b.grants == public, "{:?}", b.grants);
    let r = c.update_bucket("b", BucketChange::Ownership(3)).await;
    check!(
        matches!(r, Err(CoreError::AclConflictsWithOwnership(_))),
        "{}",
        err(&r)
    );
    c.update_bucket("b", BucketChange::Acl(Vec::new()))
        .await
        .map_err(|e| e.to_string())?;
    c.update_bucket("b", BucketChange::Ownership(3))
        .await
        .map_err(|e| e.to_string())?;
    let r = c
        .update_bucket("b", BucketChange::Acl(public.clone()))
        .await;
    check!(
        matches!(r, Err(CoreError::AclNotSupported(_))),
        "{}",
        err(&r)
    );
    let block = PublicAccessBlock {
        block_public_acls: true,
        restrict_public_buckets: true,
        ..Default::default()
    };
    c.update_bucket("b", BucketChange::PublicAccessBlock(Some(block)))
        .await
        .map_err(|e| e.to_string())?;
    let b = c.bucket("b").await.map_err(|e| e.to_string())?;
    check!(
        b.public_access_block == Some(block) && b.object_ownership == 3,
        "{b:?}"
    );
    bucket(c, "acl").await?;
    let v = put(c, clock, "acl", "k", 1).await?;
    let done = c
        .update_version(
            "acl",
            "k",
            &v.version_id,
            VersionChange::Acl(public.clone()),
        )
        .await
        .map_err(|e| e.to_string())?;
    check!(done, "object ACL");
    let read = c.object("acl", "k").await.map_err(|e| e.to_string())?;
    check!(read.acl == public, "{:?}", read.acl);
    let stranger = vec![BucketGrant {
        user: "nobody-by-that-name".into(),
        level: None,
        acl: READ,
    }];
    let r = c.update_bucket("acl", BucketChange::Acl(stranger)).await;
    check!(
        matches!(r, Err(CoreError::InvalidArgument(_))),
        "an unknown grantee: {}",
        err(&r)
    );
    Ok(())
}

async fn a_copy_needs_its_source_unchanged(c: &dyn Catalogue, clock: &SharedClock) -> Outcome {
    bucket(c, "b").await?;
    let src = put(c, clock, "b", "src", 1).await?;
    let from = CopySource {
        bucket: "b".into(),
        key: "src".into(),
        version_id: src.version_id.clone(),
    };
    let mut copy = version(clock, 1, 100);
    copy.chunks = src.chunks.clone();
    c.commit_copy("b", "dst", copy.clone(), &WriteCondition::Always, &from)
        .await
        .map_err(|e| format!("copy of an unchanged source: {e}"))?;
    put(c, clock, "b", "src", 2).await?;
    let mut again = version(clock, 1, 100);
    again.chunks = src.chunks.clone();
    let r = c
        .commit_copy("b", "dst2", again, &WriteCondition::Always, &from)
        .await;
    check!(
        matches!(r, Err(CoreError::PreconditionFailed(_))),
        "a replaced source: {}",
        err(&r)
    );
    let dst = c.object("b", "dst").await.map_err(|e| e.to_string())?;
    check!(dst.chunks == src.chunks, "{dst:?}");
    Ok(())
}
