//! Object versions: what S3 versioning does to the catalogue.
//!
//! The current version of a key stays in `O`, so reads, listings,
//! placement and replication see only current versions, as before.
//! Older versions and delete markers live in `H` (newest first per key)
//! with a `J` entry to find each by version id. Invariant: when a key has
//! an `O` record, it is newer than every `H` entry of that key; when it
//! has none, its newest `H` entry (if any) is a delete marker.
//!
//! A noncurrent version keeps its complete replicas (still counted at their
//! sites, still referencing their chunks) and its pending ones only as
//! intentions: they stop counting and leave the pending index, so nothing
//! copies a version nobody reads by default. If it becomes current again
//! (the newer versions were deleted), they count again and the replication
//! job resumes them.

use meridian_proto::v1::{BucketRecord, DeleteObjectCmd, ObjectRecord, ReplicaState, Versioning};
use meridian_proto::RECORD_FORMAT;
use prost::Message;

use super::apply::{get, insert_object, is_pending, object_effects, reject, remove_object};
use super::keys::{self, NULL_VERSION};
use super::protection::{locked, protected};
use super::txn::Txn;
use crate::types::{Outcome, OutcomeCode};
use crate::MetaError;

const ENABLED: u32 = Versioning::Enabled as u32;
const SUSPENDED: u32 = Versioning::Suspended as u32;

/// The S3 version id of a version.
pub fn s3_version_id(rec: &ObjectRecord) -> &str {
    if rec.versioning == ENABLED {
        &rec.version_id
    } else {
        NULL_VERSION
    }
}

/// What a noncurrent version contributes: its complete replicas at their
/// sites, and chunk references from every replica not pending.
fn history_effects(txn: &mut Txn<'_>, rec: &ObjectRecord, sign: i64) -> Result<(), MetaError> {
    let mut sites = Vec::new();
    for r in &rec.replicas {
        if r.state == ReplicaState::Complete as i32 {
            super::apply::bump(
                txn,
                keys::site_counter(r.site),
                sign,
                sign * rec.size as i64,
            )?;
        }
        if !is_pending(r.state) {
            sites.push(r.site);
        }
    }
    super::refs::change(txn, &sites, &rec.chunks, sign)
}

fn next_seq(txn: &mut Txn<'_>) -> Result<u64, MetaError> {
    let k = keys::next_version_seq();
    let seq = match txn.get(&k)? {
        Some(v) => u64::from_be_bytes(v.as_slice().try_into().map_err(|_| MetaError::Corrupt {
            key: "N/version".into(),
            message: "sequence is not 8 bytes".into(),
        })?),
        None => 1,
    };
    txn.put(k, (seq + 1).to_be_bytes().to_vec());
    Ok(seq)
}

fn index_keys(bucket_id: u64, key: &str, rec: &ObjectRecord) -> Vec<Vec<u8>> {
    let mut v = vec![keys::version_index(bucket_id, key, &rec.version_id)];
    if rec.versioning != ENABLED {
        v.push(keys::version_index(bucket_id, key, NULL_VERSION));
    }
    v
}

/// Adds a noncurrent version or delete marker as the key's newest.
fn push_history(
    txn: &mut Txn<'_>,
    bucket_id: u64,
    key: &str,
    rec: &ObjectRecord,
) -> Result<(), MetaError> {
    let seq = next_seq(txn)?;
    history_effects(txn, rec, 1)?;
    for k in index_keys(bucket_id, key, rec) {
        txn.put(k, seq.to_be_bytes().to_vec());
    }
    txn.put(keys::history(bucket_id, key, seq), rec.encode_to_vec());
    Ok(())
}

fn drop_history(
    txn: &mut Txn<'_>,
    bucket_id: u64,
    key: &str,
    seq: u64,
    rec: &ObjectRecord,
) -> Result<(), MetaError> {
    history_effects(txn, rec, -1)?;
    for k in index_keys(bucket_id, key, rec) {
        txn.delete(k);
    }
    txn.delete(keys::history(bucket_id, key, seq));
    Ok(())
}

/// Moves the current version (if any) into the history.
fn archive_current(txn: &mut Txn<'_>, bucket_id: u64, key: &str) -> Result<(), MetaError> {
    let k = keys::object(bucket_id, key);
    let Some(cur) = get::<ObjectRecord>(txn, &k)? else {
        return Ok(());
    };
    // The history's references first, so chunks it keeps never touch zero.
    push_history(txn, bucket_id, key, &cur)?;
    object_effects(txn, bucket_id, key, &cur, -1)?;
    if cur.expires_ms > 0 {
        txn.delete(keys::expiry(cur.expires_ms, bucket_id, key));
    }
    txn.delete(k);
    Ok(())
}

/// A noncurrent version by internal id or "null": (seq, record).
fn find_history(
    txn: &Txn<'_>,
    bucket_id: u64,
    key: &str,
    version_id: &str,
) -> Result<Option<(u64, ObjectRecord)>, MetaError> {
    let ik = keys::version_index(bucket_id, key, version_id);
    let Some(v) = txn.get(&ik)? else {
        return Ok(None);
    };
    let seq = u64::from_be_bytes(v.as_slice().try_into().map_err(|_| MetaError::Corrupt {
        key: hex::encode(&ik),
        message: "version index value is not 8 bytes".into(),
    })?);
    let hk = keys::history(bucket_id, key, seq);
    Ok(get::<ObjectRecord>(txn, &hk)?.map(|r| (seq, r)))
}

/// The key's newest noncurrent entry.
fn newest_history(
    txn: &Txn<'_>,
    bucket_id: u64,
    key: &str,
) -> Result<Option<(u64, ObjectRecord)>, MetaError> {
    let Some(k) = txn.first_with_prefix(&keys::key_history(bucket_id, key))? else {
        return Ok(None);
    };
    let Some((_, seq)) = keys::parse_history(&k) else {
        return Err(MetaError::Corrupt {
            key: hex::encode(&k),
            message: "bad history key".into(),
        });
    };
    Ok(get::<ObjectRecord>(txn, &k)?.map(|r| (seq, r)))
}

/// Restores the invariant after a version was removed: with no current
/// version and a newest noncurrent one that is not a delete marker, that
/// one becomes current.
fn promote(txn: &mut Txn<'_>, bucket_id: u64, key: &str) -> Result<(), MetaError> {
    if txn.get(&keys::object(bucket_id, key))?.is_some() {
        return Ok(());
    }
    let Some((seq, rec)) = newest_history(txn, bucket_id, key)? else {
        return Ok(());
    };
    if rec.delete_marker {
        return Ok(());
    }
    insert_object(txn, bucket_id, key, &rec)?;
    drop_history(txn, bucket_id, key, seq, &rec)
}

/// Removes the key's null version wherever it is (current or noncurrent).
fn remove_null(txn: &mut Txn<'_>, bucket_id: u64, key: &str) -> Result<(), MetaError> {
    if let Some(cur) = get::<ObjectRecord>(txn, &keys::object(bucket_id, key))? {
        if cur.versioning != ENABLED {
            remove_object(txn, bucket_id, key)?;
        }
    }
    if let Some((seq, rec)) = find_history(txn, bucket_id, key, NULL_VERSION)? {
        drop_history(txn, bucket_id, key, seq, &rec)?;
    }
    Ok(())
}

fn written(rec: &ObjectRecord) -> Outcome {
    Outcome::Versioned {
        version_id: s3_version_id(rec).to_string(),
        delete_marker: rec.delete_marker,
    }
}

/// Writes `rec` as the key's current version, as the bucket's versioning
/// says: replacing it (off), adding a version (enabled), or replacing the
/// null version (suspended).
pub(super) fn put(
    txn: &mut Txn<'_>,
    b: &BucketRecord,
    key: &str,
    rec: &ObjectRecord,
) -> Result<Outcome, MetaError> {
    let mut rec = rec.clone();
    rec.versioning = b.versioning;
    rec.delete_marker = false;
    super::protection::apply_default_retention(b, &mut rec);
    match b.versioning {
        ENABLED => archive_current(txn, b.id, key)?,
        SUSPENDED => {
            remove_null(txn, b.id, key)?;
            archive_current(txn, b.id, key)?;
        }
        _ => {}
    }
    // With versioning off this replaces the current version.
    insert_object(txn, b.id, key, &rec)?;
    Ok(if b.versioning == 0 {
        Outcome::Done
    } else {
        written(&rec)
    })
}

/// DeleteObject in all its forms.
pub(super) fn delete(
    txn: &mut Txn<'_>,
    b: &BucketRecord,
    c: &DeleteObjectCmd,
) -> Result<Outcome, MetaError> {
    let key = c.key.as_str();
    if !c.if_version_id.is_empty() {
        // Internal (a lifetime ending): that current version, for good.
        match get::<ObjectRecord>(txn, &keys::object(b.id, key))? {
            Some(cur) if cur.version_id == c.if_version_id => {
                if let Some(why) = protected(&cur, c.now_ms, false) {
                    return Ok(locked(why));
                }
            }
            _ => return Ok(Outcome::Stale),
        }
        remove_object(txn, b.id, key)?;
        promote(txn, b.id, key)?;
        return Ok(Outcome::Done);
    }
    if !c.version_id.is_empty() {
        return delete_version(txn, b, key, c);
    }
    if !c.noncurrent_version_id.is_empty() {
        // Internal (lifecycle): that noncurrent version or marker by its
        // own id, never the current version, nor a null version written
        // since the job looked.
        let Some((seq, rec)) = find_history(txn, b.id, key, &c.noncurrent_version_id)?
            .filter(|(_, r)| r.version_id == c.noncurrent_version_id)
        else {
            return Ok(Outcome::Stale);
        };
        if let Some(why) = protected(&rec, c.now_ms, false) {
            return Ok(locked(why));
        }
        drop_history(txn, b.id, key, seq, &rec)?;
        promote(txn, b.id, key)?;
        return Ok(written(&rec));
    }
    if !c.only_if_current.is_empty() {
        match get::<ObjectRecord>(txn, &keys::object(b.id, key))? {
            Some(cur) if cur.version_id == c.only_if_current => {}
            _ => return Ok(Outcome::Stale),
        }
    }
    match b.versioning {
        ENABLED | SUSPENDED => {
            // Refused before anything changes: a refused command's writes
            // are not rolled back.
            if c.marker_version_id.is_empty() {
                return Ok(reject(
                    OutcomeCode::Invalid,
                    "delete marker without a version id",
                ));
            }
            if b.versioning == SUSPENDED {
                remove_null(txn, b.id, key)?;
            }
            archive_current(txn, b.id, key)?;
            let marker = ObjectRecord {
                format: RECORD_FORMAT,
                version_id: c.marker_version_id.clone(),
                created_ms: c.now_ms,
                owner: c.owner.clone(),
                versioning: b.versioning,
                delete_marker: true,
                ..Default::default()
            };
            push_history(txn, b.id, key, &marker)?;
            Ok(written(&marker))
        }
        _ => {
            remove_object(txn, b.id, key)?;
            Ok(Outcome::Done)
        }
    }
}

/// Removes one version (or delete marker) for good, by S3 version id,
/// unless Object Lock protects it.
fn delete_version(
    txn: &mut Txn<'_>,
    b: &BucketRecord,
    key: &str,
    c: &DeleteObjectCmd,
) -> Result<Outcome, MetaError> {
    let version_id = c.version_id.as_str();
    let gone = Outcome::Versioned {
        version_id: version_id.to_string(),
        delete_marker: false,
    };
    if let Some(cur) = get::<ObjectRecord>(txn, &keys::object(b.id, key))? {
        if s3_version_id(&cur) == version_id {
            if let Some(why) = protected(&cur, c.now_ms, c.bypass_governance) {
                return Ok(locked(why));
            }
            remove_object(txn, b.id, key)?;
            promote(txn, b.id, key)?;
            return Ok(gone);
        }
    }
    match find_history(txn, b.id, key, version_id)? {
        // An internal id of a null version is not its S3 id.
        Some((seq, rec)) if s3_version_id(&rec) == version_id => {
            if let Some(why) = protected(&rec, c.now_ms, c.bypass_governance) {
                return Ok(locked(why));
            }
            drop_history(txn, b.id, key, seq, &rec)?;
            promote(txn, b.id, key)?;
            Ok(written(&rec))
        }
        // S3 answers success for a version that does not exist.
        _ => Ok(gone),
    }
}

/// The record a version-checked update applies to: the current version
/// if it is `version_id` (internal id), else that noncurrent version.
pub(super) fn record_key(
    txn: &Txn<'_>,
    bucket_id: u64,
    key: &str,
    version_id: &str,
) -> Result<Option<(Vec<u8>, ObjectRecord)>, MetaError> {
    let ok = keys::object(bucket_id, key);
    if let Some(cur) = get::<ObjectRecord>(txn, &ok)? {
        if cur.version_id == version_id {
            return Ok(Some((ok, cur)));
        }
    }
    Ok(find_history(txn, bucket_id, key, version_id)?
        .filter(|(_, r)| r.version_id == version_id && !r.delete_marker)
        .map(|(seq, r)| (keys::history(bucket_id, key, seq), r)))
}
