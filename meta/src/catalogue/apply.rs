//! The apply function: one command in, mutations and an outcome out.
//!
//! Deterministic: it depends only on the catalogue's current contents and the
//! command (timestamps and ids travel inside the command), so every replica
//! that applies the same log reaches the same state.

use meridian_proto::v1::{command::Op, BucketRecord, Command, Counter, ObjectRecord, ReplicaState};
use meridian_proto::RECORD_FORMAT;
use prost::Message;

use super::keys;
use super::txn::Txn;
use crate::types::{Outcome, OutcomeCode};
use crate::MetaError;

pub(super) fn reject(code: OutcomeCode, message: impl Into<String>) -> Outcome {
    Outcome::Rejected {
        code,
        message: message.into(),
    }
}

pub(crate) fn decode<M: Message + Default>(key: &[u8], bytes: &[u8]) -> Result<M, MetaError> {
    M::decode(bytes).map_err(|e| MetaError::Corrupt {
        key: String::from_utf8_lossy(key).into_owned(),
        message: e.to_string(),
    })
}

pub(super) fn get<M: Message + Default>(txn: &Txn<'_>, key: &[u8]) -> Result<Option<M>, MetaError> {
    txn.get(key)?.map(|v| decode(key, &v)).transpose()
}

pub(super) fn bump(
    txn: &mut Txn<'_>,
    key: Vec<u8>,
    objects: i64,
    bytes: i64,
) -> Result<(), MetaError> {
    let mut c: Counter = get(txn, &key)?.unwrap_or_default();
    // A counter going below zero means the catalogue lost track of what it
    // counts: stop and say where, rather than clamp and carry on wrong.
    let underflow = |what: &str, was: u64, by: i64| MetaError::Corrupt {
        key: keys::describe(&key),
        message: format!("{what} counter at {was} cannot change by {by}"),
    };
    c.objects = c
        .objects
        .checked_add_signed(objects)
        .ok_or_else(|| underflow("objects", c.objects, objects))?;
    c.bytes = c
        .bytes
        .checked_add_signed(bytes)
        .ok_or_else(|| underflow("bytes", c.bytes, bytes))?;
    txn.put(key, c.encode_to_vec());
    Ok(())
}

/// Pending or being copied: not yet a replica to read from.
pub(super) fn is_pending(state: i32) -> bool {
    state == ReplicaState::Pending as i32 || state == ReplicaState::Copying as i32
}

/// Found suspect or lost by a scrub, an audit or a read: not read from, and
/// in the damaged index until repaired.
pub(super) fn is_damaged(state: i32) -> bool {
    state == ReplicaState::Suspect as i32 || state == ReplicaState::Lost as i32
}

/// Adds (sign = 1) or removes (sign = -1) what a replica contributes to
/// counters and to the pending index.
pub(super) fn replica_effects(
    txn: &mut Txn<'_>,
    bucket_id: u64,
    key: &str,
    rec: &ObjectRecord,
    site: u32,
    state: i32,
    sign: i64,
) -> Result<(), MetaError> {
    debug_assert!(sign == 1 || sign == -1, "a replica counts once, not {sign}");
    let size = rec.size as i64;
    if state == ReplicaState::Complete as i32 {
        bump(txn, keys::site_counter(site), sign, sign * size)?;
    } else if is_damaged(state) {
        bump(txn, keys::damaged_counter(site), sign, sign * size)?;
        let k = keys::damaged(site, bucket_id, key);
        if sign > 0 {
            txn.put(k, Vec::new());
        } else {
            txn.delete(k);
        }
    } else if is_pending(state) {
        bump(txn, keys::pending_counter(site), sign, sign * size)?;
        let k = keys::pending(site, bucket_id, key);
        if sign > 0 {
            // The key says all; the record holds the version.
            txn.put(k, Vec::new());
        } else {
            txn.delete(k);
        }
    }
    Ok(())
}

pub(super) fn object_effects(
    txn: &mut Txn<'_>,
    bucket_id: u64,
    key: &str,
    rec: &ObjectRecord,
    sign: i64,
) -> Result<(), MetaError> {
    bump(
        txn,
        keys::bucket_counter(bucket_id),
        sign,
        sign * rec.size as i64,
    )?;
    for r in &rec.replicas {
        replica_effects(txn, bucket_id, key, rec, r.site, r.state, sign)?;
    }
    super::search_index::file(txn, bucket_id, key, rec, sign);
    super::refs::record(txn, rec, sign)
}

pub(super) fn remove_object(
    txn: &mut Txn<'_>,
    bucket_id: u64,
    key: &str,
) -> Result<bool, MetaError> {
    let k = keys::object(bucket_id, key);
    let Some(old) = get::<ObjectRecord>(txn, &k)? else {
        return Ok(false);
    };
    object_effects(txn, bucket_id, key, &old, -1)?;
    if old.expires_ms > 0 {
        txn.delete(keys::expiry(old.expires_ms, bucket_id, key));
    }
    txn.delete(k);
    Ok(true)
}

pub(super) fn insert_object(
    txn: &mut Txn<'_>,
    bucket_id: u64,
    key: &str,
    rec: &ObjectRecord,
) -> Result<(), MetaError> {
    remove_object(txn, bucket_id, key)?;
    object_effects(txn, bucket_id, key, rec, 1)?;
    if rec.expires_ms > 0 {
        txn.put(keys::expiry(rec.expires_ms, bucket_id, key), Vec::new());
    }
    txn.put(keys::object(bucket_id, key), rec.encode_to_vec());
    Ok(())
}

/// The bucket, the object's key and its record, if the object still holds
/// `version_id`; `None`: the command is stale.
pub(super) fn versioned(
    txn: &Txn<'_>,
    bucket_name: &str,
    key: &str,
    version_id: &str,
) -> Result<Option<(BucketRecord, Vec<u8>, ObjectRecord)>, MetaError> {
    let Some(b) = bucket(txn, bucket_name)? else {
        return Ok(None);
    };
    let k = keys::object(b.id, key);
    match get::<ObjectRecord>(txn, &k)? {
        Some(rec) if rec.version_id == version_id => Ok(Some((b, k, rec))),
        _ => Ok(None),
    }
}

fn copy_source_exists(
    txn: &Txn<'_>,
    c: &meridian_proto::v1::PutObjectCmd,
) -> Result<bool, MetaError> {
    let Some(b) = bucket(txn, &c.copy_source_bucket)? else {
        return Ok(false);
    };
    Ok(
        super::versions::record_key(txn, b.id, &c.copy_source_key, &c.copy_source_version)?
            .is_some(),
    )
}

pub(super) fn bucket(txn: &Txn<'_>, name: &str) -> Result<Option<BucketRecord>, MetaError> {
    get(txn, &keys::bucket(name))
}

/// Replica states only move forward: pending -> copying -> complete, a
/// complete replica may turn suspect or lost, and a suspect or lost one goes
/// back to pending for repair. A late or repeated update cannot undo progress.
fn transition_allowed(from: ReplicaState, to: ReplicaState) -> bool {
    use ReplicaState::*;
    (from == to && to != Unspecified)
        || matches!(
            (from, to),
            (Pending, Copying)
                | (Pending, Complete)
                | (Copying, Complete)
                | (Copying, Pending)
                | (Complete, Suspect)
                | (Complete, Lost)
                | (Suspect, Complete)
                | (Suspect, Lost)
                | (Suspect, Pending)
                | (Lost, Pending)
        )
}

/// Applies one command to the overlay. `Err` only for storage failures and
/// corrupt records; a refused command is an `Ok(Outcome::Rejected)`.
pub fn apply(txn: &mut Txn<'_>, cmd: &Command) -> Result<Outcome, MetaError> {
    let Some(op) = &cmd.op else {
        return Ok(reject(OutcomeCode::Invalid, "empty command"));
    };
    match op {
        Op::CreateBucket(c) => {
            if bucket(txn, &c.name)?.is_some() {
                return Ok(reject(OutcomeCode::BucketExists, c.name.clone()));
            }
            let seq_key = keys::next_bucket_id();
            let id = match txn.get(&seq_key)? {
                Some(v) => {
                    u64::from_be_bytes(v.as_slice().try_into().map_err(|_| MetaError::Corrupt {
                        key: "N/bucket".into(),
                        message: "sequence is not 8 bytes".into(),
                    })?)
                }
                None => 1,
            };
            if c.object_ownership == 3 && c.acl.iter().any(|g| g.acl != 0) {
                return Ok(reject(
                    OutcomeCode::AclConflictsWithOwnership,
                    "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting",
                ));
            }
            if let Some(refused) = super::protection::check_grants(txn, &c.acl)? {
                return Ok(refused);
            }
            txn.put(seq_key, (id + 1).to_be_bytes().to_vec());
            let lock = c.object_lock.then(|| meridian_proto::v1::ObjectLockConfig {
                enabled: true,
                ..Default::default()
            });
            let rec = BucketRecord {
                format: RECORD_FORMAT,
                id,
                name: c.name.clone(),
                created_ms: c.now_ms,
                owner: c.owner.clone(),
                ingest_site: c.ingest_site,
                object_ownership: c.object_ownership,
                // Object Lock comes with versioning, for good.
                versioning: if c.object_lock {
                    meridian_proto::v1::Versioning::Enabled as u32
                } else {
                    0
                },
                object_lock: lock,
                grants: super::protection::merge_acl(&[], &c.acl)?,
                ..Default::default()
            };
            txn.put(keys::bucket(&c.name), rec.encode_to_vec());
            txn.put(keys::bucket_id(id), c.name.as_bytes().to_vec());
            Ok(Outcome::Done)
        }
        Op::DeleteBucket(c) => super::uploads::delete_bucket(txn, c),
        Op::PutObject(c) => {
            let Some(b) = bucket(txn, &c.bucket)? else {
                return Ok(reject(OutcomeCode::NoSuchBucket, c.bucket.clone()));
            };
            let Some(rec) = &c.record else {
                return Ok(reject(OutcomeCode::Invalid, "put without a record"));
            };
            if let Some(why) = crate::records::object_refused(rec) {
                return Ok(reject(OutcomeCode::Invalid, why));
            }
            if let Some(refused) = super::protection::check_new_version(&b, rec) {
                return Ok(refused);
            }
            if let Some(refused) = super::publish::kept_refusal(txn, &c.bucket, &c.key)? {
                return Ok(refused);
            }
            // A source version, current or not, keeps its chunks referenced
            // while it exists.
            if !c.copy_source_version.is_empty() && !copy_source_exists(txn, c)? {
                return Ok(reject(
                    OutcomeCode::PreconditionFailed,
                    format!(
                        "the copy source {}/{} changed while copying",
                        c.copy_source_bucket, c.copy_source_key
                    ),
                ));
            }
            if c.if_absent || !c.if_etag.is_empty() {
                let current = get::<ObjectRecord>(txn, &keys::object(b.id, &c.key))?;
                match &current {
                    Some(_) if c.if_absent => {
                        return Ok(reject(
                            OutcomeCode::PreconditionFailed,
                            format!("{} exists (If-None-Match: *)", c.key),
                        ))
                    }
                    None if !c.if_etag.is_empty() => {
                        return Ok(reject(OutcomeCode::NoSuchKey, c.key.clone()))
                    }
                    Some(cur) if !c.if_etag.is_empty() && cur.etag != c.if_etag => {
                        return Ok(reject(
                            OutcomeCode::PreconditionFailed,
                            format!(
                                "{} has ETag {}, not {} (If-Match)",
                                c.key, cur.etag, c.if_etag
                            ),
                        ))
                    }
                    _ => {}
                }
            }
            super::versions::put(txn, &b, &c.key, rec)
        }
        Op::DeleteObject(c) => {
            let Some(b) = bucket(txn, &c.bucket)? else {
                return Ok(reject(OutcomeCode::NoSuchBucket, c.bucket.clone()));
            };
            if let Some(refused) = super::publish::kept_refusal(txn, &c.bucket, &c.key)? {
                return Ok(refused);
            }
            super::versions::delete(txn, &b, c)
        }
        Op::SetVersioning(c) => super::bucket_settings::set_versioning(txn, c),
        Op::SetBucketTags(c) => super::bucket_settings::set_bucket_tags(txn, c),
        Op::SetBucketCors(c) => super::bucket_settings::set_bucket_cors(txn, c),
        Op::SetBucketLifecycle(c) => super::bucket_settings::set_bucket_lifecycle(txn, c),
        Op::SetBucketAcl(c) => super::protection::set_bucket_acl(txn, c),
        Op::SetBucketOwnership(c) => super::protection::set_ownership(txn, c),
        Op::SetPublicAccessBlock(c) => super::protection::set_public_access_block(txn, c),
        Op::SetObjectLock(c) => super::protection::set_object_lock(txn, c),
        Op::SetObjectAcl(c) => super::protection::set_object_acl(txn, c),
        Op::SetRetention(c) => super::protection::set_retention(txn, c),
        Op::SetLegalHold(c) => super::protection::set_legal_hold(txn, c),
        Op::SetReplicaState(c) => {
            let Some((b, k, mut rec)) = versioned(txn, &c.bucket, &c.key, &c.version_id)? else {
                return Ok(Outcome::Stale);
            };
            let Ok(to) = ReplicaState::try_from(c.state) else {
                return Ok(reject(
                    OutcomeCode::Invalid,
                    format!("unknown replica state {}", c.state),
                ));
            };
            let Some(idx) = rec.replicas.iter().position(|r| r.site == c.site) else {
                return Ok(reject(
                    OutcomeCode::Invalid,
                    format!("site {} holds no replica of this object", c.site),
                ));
            };
            let old = rec.replicas[idx].state;
            let from = ReplicaState::try_from(old).unwrap_or(ReplicaState::Unspecified);
            if !transition_allowed(from, to) {
                return Ok(reject(
                    OutcomeCode::Invalid,
                    format!(
                        "replica at site {} cannot go from {from:?} to {to:?}",
                        c.site
                    ),
                ));
            }
            let before = rec.clone();
            replica_effects(txn, b.id, &c.key, &before, c.site, old, -1)?;
            rec.replicas[idx].state = c.state;
            if c.state == ReplicaState::Complete as i32 {
                rec.replicas[idx].verified_at_ms = c.now_ms;
            }
            replica_effects(txn, b.id, &c.key, &rec, c.site, c.state, 1)?;
            txn.put(k, rec.encode_to_vec());
            Ok(Outcome::Done)
        }
        Op::CreateUpload(c) => {
            let Some(u) = &c.upload else {
                return Ok(reject(OutcomeCode::Invalid, "upload without a record"));
            };
            if let Some(why) = crate::records::upload_refused(u) {
                return Ok(reject(OutcomeCode::Invalid, why));
            }
            let Some(b) = bucket(txn, &u.bucket)? else {
                return Ok(reject(OutcomeCode::NoSuchBucket, u.bucket.clone()));
            };
            txn.put(keys::upload(&u.upload_id), u.encode_to_vec());
            txn.put(keys::bucket_upload(b.id, &u.upload_id), Vec::new());
            Ok(Outcome::Done)
        }
        Op::PutPart(c) => super::uploads::put_part(txn, c),
        Op::CompleteUpload(c) => super::uploads::complete(txn, c),
        Op::SetPolicy(c) => super::placement_ops::set_policy(txn, c),
        Op::SetPlacement(c) => super::placement_ops::set_placement(txn, c),
        Op::SetOrders(c) => super::placement_ops::set_orders(txn, c),
        Op::OrderDone(c) => super::placement_ops::order_done(txn, c),
        Op::ClearOrders(c) => super::placement_ops::clear_orders(txn, c),
        Op::GcDone(c) => super::refs::gc_done(txn, c),
        Op::GcOffer(c) => super::refs::gc_offer(txn, c),
        Op::SetTags(c) => {
            let Some(b) = bucket(txn, &c.bucket)? else {
                return Ok(Outcome::Stale);
            };
            let Some((k, mut rec)) = super::versions::record_key(txn, b.id, &c.key, &c.version_id)?
            else {
                return Ok(Outcome::Stale);
            };
            if c.tags.len() > 10 {
                return Ok(reject(OutcomeCode::Invalid, "at most 10 tags per object"));
            }
            rec.tags = c.tags.clone();
            txn.put(k, rec.encode_to_vec());
            Ok(Outcome::Done)
        }
        Op::CreateUser(c) => super::users::create_user(txn, c),
        Op::DeleteUser(c) => super::users::delete_user(txn, c),
        Op::CreateKey(c) => super::users::create_key(txn, c),
        Op::RevokeKey(c) => super::users::revoke_key(txn, c),
        Op::SetBucketGrant(c) => super::users::set_grant(txn, c),
        Op::SetBucketPolicy(c) => super::users::set_policy(txn, c),
        Op::AbortUpload(c) => super::uploads::abort(txn, c),
        Op::CreateDataset(c) => super::datasets::create(txn, c),
        Op::SetDatasetState(c) => super::datasets::set_state(txn, c),
        Op::AttachFiles(c) => super::datasets::attach(txn, c),
        Op::DescribeDataset(c) => super::datasets::describe(txn, c),
        Op::DeleteDataset(c) => super::datasets::delete(txn, c),
        Op::PublishDataset(c) => super::publish::publish(txn, c),
        Op::SetDatasetAccess(c) => super::dataset_settings::set_access(txn, c),
        Op::SetDatasetMetadata(c) => super::dataset_settings::set_metadata(txn, c),
        Op::RecordAccess(c) => super::access_tallies::record(txn, c),
        Op::SaveIntegrity(c) => super::integrity::save(txn, c),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{open_db, CF_CATALOGUE};
    use meridian_proto::v1::ChunkRef;

    fn corrupt_key(r: Result<(), MetaError>) -> (String, String) {
        match r {
            Err(MetaError::Corrupt { key, message }) => (key, message),
            other => panic!("expected a corruption report, got {other:?}"),
        }
    }

    #[test]
    fn a_counter_going_below_zero_is_corruption_named_by_its_key() {
        let dir = tempfile::tempdir().expect("tmp");
        let db = open_db(dir.path()).expect("db");
        let cf = db.cf_handle(CF_CATALOGUE).expect("cf");
        let mut txn = Txn::new(&db, cf);
        bump(&mut txn, keys::site_counter(3), 1, 100).expect("up");
        bump(&mut txn, keys::site_counter(3), -1, -100).expect("back to zero");
        let (key, message) = corrupt_key(bump(&mut txn, keys::site_counter(3), -1, -100));
        assert_eq!(key, "counter of complete replicas at site 3");
        assert!(message.contains("at 0 cannot change by -1"), "{message}");
        // Bytes alone can break too.
        bump(&mut txn, keys::bucket_counter(7), 1, 10).expect("up");
        let (key, message) = corrupt_key(bump(&mut txn, keys::bucket_counter(7), 0, -11));
        assert_eq!(key, "counter of objects in bucket 7");
        assert!(message.starts_with("bytes counter at 10"), "{message}");
    }

    #[test]
    fn releasing_a_reference_never_counted_is_corruption() {
        let dir = tempfile::tempdir().expect("tmp");
        let db = open_db(dir.path()).expect("db");
        let cf = db.cf_handle(CF_CATALOGUE).expect("cf");
        let mut txn = Txn::new(&db, cf);
        let chunk = ChunkRef {
            hash: vec![5; 32],
            size: 10,
        };
        super::super::refs::change(&mut txn, &[1], std::slice::from_ref(&chunk), 1)
            .expect("reference at 1");
        let r = super::super::refs::change(&mut txn, &[2], std::slice::from_ref(&chunk), -1);
        let (key, message) = corrupt_key(r);
        assert_eq!(key, hex::encode(keys::refs(&chunk.hash)));
        assert!(message.contains("site 2"), "{message}");
    }
}
