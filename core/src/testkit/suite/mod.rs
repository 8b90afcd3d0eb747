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

mod copies;
mod datasets;
mod objects;
mod protection;
mod search;
mod settings;
mod versions;

use copies::*;
use datasets::*;
use objects::*;
use protection::*;
use search::*;
use settings::*;
use versions::*;

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
        case!(datasets_live_open_closed_and_attach_stored_files),
        case!(a_published_dataset_keeps_its_files_as_its_manifest_says),
        case!(dataset_metadata_and_access_are_kept_as_the_state_allows),
        case!(searches_walk_their_indexes_and_check_every_filter),
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
