//! Multipart uploads' ends: completion (with the record of its answer that
//! a retried completion is given), abort, and the uploads a deleted bucket
//! takes with it.

use meridian_proto::v1::{
    AbortUploadCmd, CompleteUploadCmd, CompletedUpload, DeleteBucketCmd, MultipartUpload,
    PartRecord, PutPartCmd,
};
use meridian_proto::RECORD_FORMAT;
use prost::Message;

use super::apply::{bucket, get, reject};
use super::keys;
use super::txn::Txn;
use crate::types::{Outcome, OutcomeCode};
use crate::MetaError;

/// How long a completed upload's answer is kept for retries of its
/// completion.
pub const COMPLETED_KEPT_MS: i64 = 24 * 3600 * 1000;
/// Expired answers removed per completion: more than one, so that they
/// never pile up while completions go on.
const COMPLETED_EXPIRE_PER_APPLY: usize = 4;
/// A bucket deleted with its unfinished uploads removes at most this many
/// uploads and parts in one apply (larger ones are aborted one by one
/// first, by the caller).
pub const MAX_INLINE_UPLOADS: usize = 1000;
pub const MAX_INLINE_PARTS: usize = 100_000;

/// Removes an upload and its parts, and the parts' chunk references at
/// the upload's site.
fn remove_upload(
    txn: &mut Txn<'_>,
    bucket_id: u64,
    upload: &MultipartUpload,
    parts: &[u32],
) -> Result<(), MetaError> {
    let upload_id = &upload.upload_id;
    txn.delete(keys::upload(upload_id));
    txn.delete(keys::bucket_upload(bucket_id, upload_id));
    for p in parts {
        let k = keys::part(upload_id, *p);
        if let Some(part) = get::<PartRecord>(txn, &k)? {
            super::refs::change(txn, &[upload.ingest_site], &part.chunks, -1)?;
        }
        txn.delete(k);
    }
    Ok(())
}

/// Parts an upload may hold: S3's 10,000, or a session's chunks.
pub const MAX_PARTS: usize = {
    let s3 = 10_000;
    let session = meridian_core::session::MAX_SESSION_CHUNKS as usize;
    if s3 > session {
        s3
    } else {
        session
    }
};

/// Records a part whose chunks are durable. A session's part must be its
/// grid's chunk, and recording it is the session's sign of life.
pub(super) fn put_part(txn: &mut Txn<'_>, c: &PutPartCmd) -> Result<Outcome, MetaError> {
    let Some(part) = &c.part else {
        return Ok(reject(OutcomeCode::Invalid, "part without a record"));
    };
    let checked = match crate::records::part_checked(part) {
        Ok(p) => p,
        Err(why) => return Ok(reject(OutcomeCode::Invalid, why)),
    };
    let Some(mut u) = get::<MultipartUpload>(txn, &keys::upload(&c.upload_id))? else {
        return Ok(reject(OutcomeCode::NoSuchUpload, c.upload_id.clone()));
    };
    match u.session.as_mut() {
        Some(stored) => {
            let what = format_args!("upload {}", c.upload_id);
            let session = crate::records::session_from(&what, stored)?;
            if let Err(why) = session.check_part(&checked) {
                return Ok(reject(OutcomeCode::Invalid, why));
            }
            stored.touched_ms = stored.touched_ms.max(part.created_ms);
            txn.put(keys::upload(&c.upload_id), u.encode_to_vec());
        }
        None if checked.chaining_value.is_some() => {
            return Ok(reject(
                OutcomeCode::Invalid,
                "a chunk of an upload session sent to a multipart upload",
            ));
        }
        None => {}
    }
    let k = keys::part(&c.upload_id, part.part_number);
    // A part uploaded again replaces the earlier one (and its chunks).
    super::refs::change(txn, &[u.ingest_site], &part.chunks, 1)?;
    if let Some(old) = get::<PartRecord>(txn, &k)? {
        super::refs::change(txn, &[u.ingest_site], &old.chunks, -1)?;
    }
    txn.put(k, part.encode_to_vec());
    Ok(Outcome::Done)
}

/// Part numbers stored for an upload.
fn part_numbers(txn: &Txn<'_>, upload_id: &str) -> Result<Vec<u32>, MetaError> {
    let prefix = keys::part_prefix(upload_id);
    Ok(txn
        .keys_with_prefix(&prefix, MAX_PARTS + 1)?
        .iter()
        .filter_map(|k| <[u8; 4]>::try_from(&k[prefix.len()..]).ok())
        .map(u32::from_be_bytes)
        .collect())
}

pub(super) fn delete_bucket(txn: &mut Txn<'_>, c: &DeleteBucketCmd) -> Result<Outcome, MetaError> {
    let Some(b) = bucket(txn, &c.name)? else {
        return Ok(reject(OutcomeCode::NoSuchBucket, c.name.clone()));
    };
    if txn.has_prefix(&keys::object_prefix(b.id))? || txn.has_prefix(&keys::history_prefix(b.id))? {
        return Ok(reject(
            OutcomeCode::BucketNotEmpty,
            format!("{} holds objects, versions or delete markers", c.name),
        ));
    }
    let prefix = keys::bucket_upload_prefix(b.id);
    let listed = txn.keys_with_prefix(&prefix, MAX_INLINE_UPLOADS + 1)?;
    if !listed.is_empty() && !c.abort_uploads {
        return Ok(reject(
            OutcomeCode::BucketNotEmpty,
            format!("{} has multipart uploads in progress", c.name),
        ));
    }
    if listed.len() > MAX_INLINE_UPLOADS {
        return Ok(reject(
            OutcomeCode::BucketNotEmpty,
            format!(
                "{} has more than {MAX_INLINE_UPLOADS} multipart uploads in progress; abort them first",
                c.name
            ),
        ));
    }
    // Everything is read before anything changes: a refusal changes nothing.
    let mut uploads = Vec::with_capacity(listed.len());
    let mut dangling = Vec::new();
    let mut part_count = 0usize;
    for k in &listed {
        let Ok(id) = std::str::from_utf8(&k[prefix.len()..]) else {
            return Err(MetaError::Corrupt {
                key: String::from_utf8_lossy(k).into_owned(),
                message: "upload id is not UTF-8".into(),
            });
        };
        let Some(u) = get::<MultipartUpload>(txn, &keys::upload(id))? else {
            // An index entry without its upload goes with the bucket.
            dangling.push(k.clone());
            continue;
        };
        let parts = part_numbers(txn, id)?;
        part_count += parts.len();
        uploads.push((u, parts));
    }
    if part_count > MAX_INLINE_PARTS {
        return Ok(reject(
            OutcomeCode::BucketNotEmpty,
            format!(
                "{} has more than {MAX_INLINE_PARTS} parts of unfinished uploads; abort them first",
                c.name
            ),
        ));
    }
    for (u, parts) in &uploads {
        remove_upload(txn, b.id, u, parts)?;
    }
    for k in dangling {
        txn.delete(k);
    }
    txn.delete(keys::bucket(&c.name));
    txn.delete(keys::bucket_id(b.id));
    txn.delete(keys::bucket_counter(b.id));
    Ok(Outcome::Done)
}

pub(super) fn complete(txn: &mut Txn<'_>, c: &CompleteUploadCmd) -> Result<Outcome, MetaError> {
    let Some(u) = get::<MultipartUpload>(txn, &keys::upload(&c.upload_id))? else {
        return Ok(reject(OutcomeCode::NoSuchUpload, c.upload_id.clone()));
    };
    let Some(rec) = &c.record else {
        return Ok(reject(OutcomeCode::Invalid, "complete without a record"));
    };
    if let Some(why) = crate::records::object_refused(rec) {
        return Ok(reject(OutcomeCode::Invalid, why));
    }
    let Some(b) = bucket(txn, &u.bucket)? else {
        return Ok(reject(OutcomeCode::NoSuchBucket, u.bucket.clone()));
    };
    if let Some(refused) = super::protection::check_new_version(&b, rec) {
        return Ok(refused);
    }
    if let Some(refused) = super::publish::kept_refusal(txn, &u.bucket, &u.key)? {
        return Ok(refused);
    }
    let parts = part_numbers(txn, &c.upload_id)?;
    // Every chunk the object lists must be a stored part's: a part
    // uploaded again while the gateway assembled the record has
    // released the chunks it read, which may be reclaimed.
    let mut stored = std::collections::HashSet::new();
    for p in &parts {
        if let Some(part) = get::<PartRecord>(txn, &keys::part(&c.upload_id, *p))? {
            stored.extend(part.chunks.into_iter().map(|c| c.hash));
        }
    }
    if let Some(missing) = rec.chunks.iter().find(|c| !stored.contains(&c.hash)) {
        return Ok(reject(
            OutcomeCode::Invalid,
            format!(
                "chunk {} is in no stored part of upload {} (a part was uploaded again meanwhile); complete again",
                hex::encode(&missing.hash),
                c.upload_id
            ),
        ));
    }
    // The record's references first: chunks moving from the parts
    // to the object never touch zero.
    let out = super::versions::put(txn, &b, &u.key, rec)?;
    remove_upload(txn, b.id, &u, &parts)?;
    expire_completed(txn, rec.created_ms)?;
    let answer = CompletedUpload {
        format: RECORD_FORMAT,
        bucket: u.bucket.clone(),
        key: u.key.clone(),
        etag: rec.etag.clone(),
        version_id: rec.version_id.clone(),
        versioning: b.versioning,
        checksums: rec.checksums.clone(),
        checksum_type: rec.checksum_type.clone(),
        completed_ms: rec.created_ms,
    };
    txn.put(keys::completed_upload(&c.upload_id), answer.encode_to_vec());
    txn.put(
        keys::completed_expiry(rec.created_ms, &c.upload_id),
        Vec::new(),
    );
    Ok(out)
}

/// Forgets the oldest completed uploads' answers kept longer than
/// [`COMPLETED_KEPT_MS`] before `now_ms` (a time the command carries, so
/// every replica forgets the same ones).
fn expire_completed(txn: &mut Txn<'_>, now_ms: i64) -> Result<(), MetaError> {
    let oldest =
        txn.keys_with_prefix(&keys::completed_expiry_prefix(), COMPLETED_EXPIRE_PER_APPLY)?;
    for k in oldest {
        let Some((at, id)) = keys::parse_completed_expiry(&k) else {
            return Err(MetaError::Corrupt {
                key: String::from_utf8_lossy(&k).into_owned(),
                message: "completed-upload expiry key does not parse".into(),
            });
        };
        if now_ms.saturating_sub(at) < COMPLETED_KEPT_MS {
            break;
        }
        txn.delete(keys::completed_upload(&id));
        txn.delete(k);
    }
    Ok(())
}

pub(super) fn abort(txn: &mut Txn<'_>, c: &AbortUploadCmd) -> Result<Outcome, MetaError> {
    let Some(u) = get::<MultipartUpload>(txn, &keys::upload(&c.upload_id))? else {
        return Ok(reject(OutcomeCode::NoSuchUpload, c.upload_id.clone()));
    };
    let bucket_id = bucket(txn, &u.bucket)?.map(|b| b.id).unwrap_or(0);
    let parts = part_numbers(txn, &c.upload_id)?;
    remove_upload(txn, bucket_id, &u, &parts)?;
    Ok(Outcome::Done)
}
