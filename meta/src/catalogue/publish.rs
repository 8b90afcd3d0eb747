//! Publishing a dataset: the catalogue fixes its manifest (the files
//! attached to it and the files its rules take, each at its current
//! version), stores it (`z`), marks each file as kept (`k`) and records
//! the manifest's hash, in one apply. A kept file may not be overwritten or
//! deleted while the dataset that keeps it is published (for good).

use std::collections::BTreeMap;

use meridian_core::dataset::{self as core, Change, DatasetState, ManifestEntry, Publication};
use meridian_proto::v1::{self as pb, ObjectRecord, PublishDatasetCmd};
use prost::Message;

use super::apply::{bucket, get, reject};
use super::keys;
use super::txn::Txn;
use crate::types::{Outcome, OutcomeCode};
use crate::MetaError;

/// The most files a manifest holds: publishing is one apply, and an apply
/// must stay short. Larger collections are published as several datasets.
pub const MAX_MANIFEST: usize = 100_000;

pub(super) fn publish(txn: &mut Txn<'_>, c: &PublishDatasetCmd) -> Result<Outcome, MetaError> {
    let mut d = match super::datasets::for_change(txn, &c.name, c.if_version, Change::Publish)? {
        Ok(d) => d,
        Err(o) => return Ok(o),
    };
    let files = match members(txn, &d)? {
        Ok(f) => f,
        Err(o) => return Ok(o),
    };
    // Each file's record read once; bucket ids looked up once per bucket.
    let mut bucket_ids: BTreeMap<String, Option<u64>> = BTreeMap::new();
    let mut entries = Vec::with_capacity(files.len());
    for ((b, k), attached) in &files {
        let id = match bucket_ids.get(b) {
            Some(id) => *id,
            None => {
                let id = bucket(txn, b)?.map(|br| br.id);
                bucket_ids.insert(b.clone(), id);
                id
            }
        };
        let current = match id {
            Some(id) => get::<ObjectRecord>(txn, &keys::object(id, k))?,
            None => None,
        };
        let Some(rec) = current.filter(|r| !r.delete_marker) else {
            if !attached {
                // A rule's key whose current version is a delete marker: no file.
                continue;
            }
            return Ok(reject(
                OutcomeCode::DatasetState,
                format!(
                    "{}: {b}/{k} is attached but no longer stored: detach it, then publish",
                    c.name
                ),
            ));
        };
        let Ok(blake3) = <[u8; 32]>::try_from(rec.blake3.as_slice()) else {
            return Err(MetaError::Corrupt {
                key: format!("{b}/{k}"),
                message: "a stored object without its BLAKE3".into(),
            });
        };
        entries.push(ManifestEntry {
            bucket: b.clone(),
            key: k.clone(),
            version_id: rec.version_id,
            size: rec.size,
            blake3,
        });
    }
    if entries.is_empty() {
        return Ok(reject(
            OutcomeCode::DatasetState,
            format!(
                "{}: nothing to publish (no file is attached or taken by a rule)",
                c.name
            ),
        ));
    }
    let hash = core::manifest_hash(&entries).map_err(|e| MetaError::Corrupt {
        key: keys::describe(&keys::dataset(&c.name)),
        message: e.to_string(),
    })?;
    let bytes = entries.iter().map(|e| e.size).sum();
    for e in &entries {
        txn.put(
            keys::manifest_entry(&c.name, &e.bucket, &e.key),
            pb::ManifestEntry {
                version_id: e.version_id.clone(),
                size: e.size,
                blake3: e.blake3.to_vec(),
            }
            .encode_to_vec(),
        );
        let kept_key = keys::kept(&e.bucket, &e.key);
        let mut kept: pb::KeptBy = get(txn, &kept_key)?.unwrap_or_default();
        kept.datasets.push(c.name.clone());
        txn.put(kept_key, kept.encode_to_vec());
    }
    d.state = DatasetState::Published;
    d.published = Some(Publication {
        published_ms: c.now_ms,
        manifest_hash: hash,
        files: entries.len() as u64,
        bytes,
    });
    d.version += 1;
    d.updated_ms = c.now_ms;
    super::datasets::put(txn, &d)?;
    Ok(Outcome::Done)
}

/// (bucket, key) -> whether the file is attached (else a rule takes it).
type Members = BTreeMap<(String, String), bool>;

/// The dataset's files: keys only, bounded; their records are read by the
/// caller.
fn members(txn: &Txn<'_>, d: &core::DatasetRecord) -> Result<Result<Members, Outcome>, MetaError> {
    let mut files = BTreeMap::new();
    for k in txn.keys_with_prefix(&keys::dataset_files_prefix(&d.name), MAX_MANIFEST + 1)? {
        let Some((_, b, key)) = keys::parse_dataset_file(&k) else {
            return Err(MetaError::Corrupt {
                key: keys::describe(&k),
                message: "an attachment key that does not parse".into(),
            });
        };
        files.insert((b, key), true);
    }
    'rules: for rule in &d.rules {
        let Some(b) = bucket(txn, &rule.bucket)? else {
            continue;
        };
        let mut prefix = keys::object_prefix(b.id);
        let base = prefix.len();
        prefix.extend_from_slice(rule.prefix.as_bytes());
        for k in txn.keys_with_prefix(&prefix, MAX_MANIFEST + 1)? {
            let key = String::from_utf8(k[base..].to_vec()).map_err(|e| MetaError::Corrupt {
                key: keys::describe(&k),
                message: format!("an object key that is not UTF-8: {e}"),
            })?;
            files.entry((rule.bucket.clone(), key)).or_insert(false);
            if files.len() > MAX_MANIFEST {
                break 'rules;
            }
        }
    }
    if files.len() > MAX_MANIFEST {
        return Ok(Err(reject(
            OutcomeCode::DatasetState,
            format!(
                "{}: more than {MAX_MANIFEST} files; publish it as several datasets",
                d.name
            ),
        )));
    }
    Ok(Ok(files))
}

/// The refusal of a write or delete of `key` while a published dataset
/// keeps it; `None` if none does.
pub(super) fn kept_refusal(
    txn: &Txn<'_>,
    bucket: &str,
    key: &str,
) -> Result<Option<Outcome>, MetaError> {
    let kept: Option<pb::KeptBy> = get(txn, &keys::kept(bucket, key))?;
    Ok(kept.and_then(|k| k.datasets.into_iter().next()).map(|name| {
        reject(
            OutcomeCode::DatasetState,
            format!("{bucket}/{key} is a file of published dataset {name}: it may not be overwritten or deleted"),
        )
    }))
}
