//! Who may read a bucket and what may never be removed from it: S3 ACLs
//! (kept in the same grant list as Meridian's levels), object ownership,
//! public access blocks, Object Lock configuration, and each version's
//! retention and legal hold. Locks are enforced here, in the state
//! machine, so no gateway, job or leader change can remove a protected
//! version.

use meridian_proto::v1::{
    BucketGrant, BucketRecord, LockMode, ObjectRecord, SetBucketAclCmd, SetBucketOwnershipCmd,
    SetLegalHoldCmd, SetObjectAclCmd, SetObjectLockCmd, SetPublicAccessBlockCmd, SetRetentionCmd,
    Versioning,
};
use prost::Message;

use super::apply::{bucket, reject};
use super::keys;
use super::txn::Txn;
use crate::types::{Outcome, OutcomeCode};
use crate::MetaError;

/// S3 allows 100 grants in an ACL.
const MAX_ACL_GRANTS: usize = 100;
/// BucketOwnerEnforced: ACLs are disabled.
const OWNER_ENFORCED: u32 = 3;
/// The groups a grant may name (stored names; user names hold no colon).
const GROUPS: &[&str] = &["group:AllUsers", "group:AuthenticatedUsers"];

/// Refuses grants to users that do not exist (or to names that are
/// neither a user nor a known group), and too many grants.
pub(super) fn check_grants(
    txn: &Txn<'_>,
    grants: &[BucketGrant],
) -> Result<Option<Outcome>, MetaError> {
    if grants.len() > MAX_ACL_GRANTS {
        return Ok(Some(reject(
            OutcomeCode::Invalid,
            format!("an ACL has at most {MAX_ACL_GRANTS} grants"),
        )));
    }
    for g in grants.iter().filter(|g| g.acl != 0) {
        let known = if g.user.contains(':') {
            GROUPS.contains(&g.user.as_str())
        } else {
            txn.get(&keys::user(&g.user))?.is_some()
        };
        if !known {
            return Ok(Some(reject(OutcomeCode::NoSuchUser, g.user.clone())));
        }
    }
    Ok(None)
}

/// A bucket's grants with its S3 ACL replaced by `acl`: Meridian levels
/// stay, grants left with neither go.
pub(super) fn merge_acl(
    grants: &[BucketGrant],
    acl: &[BucketGrant],
) -> Result<Vec<BucketGrant>, MetaError> {
    let grants = crate::records::grants_from(&"the bucket's grants", grants)?;
    // An ACL's entries carry permission bits only; their level is not read
    // (a command's, so never a reason to stop the apply).
    let acl: Vec<_> = acl
        .iter()
        .map(|g| meridian_core::records::BucketGrant {
            user: g.user.clone(),
            level: None,
            acl: g.acl,
        })
        .collect();
    Ok(crate::records::grants_to(
        &meridian_core::access::acl::with_acl(&grants, &acl),
    ))
}

fn save(txn: &mut Txn<'_>, b: &BucketRecord) {
    txn.put(keys::bucket(&b.name), b.encode_to_vec());
}

pub(super) fn set_bucket_acl(txn: &mut Txn<'_>, c: &SetBucketAclCmd) -> Result<Outcome, MetaError> {
    let Some(mut b) = bucket(txn, &c.bucket)? else {
        return Ok(reject(OutcomeCode::NoSuchBucket, c.bucket.clone()));
    };
    if b.object_ownership == OWNER_ENFORCED {
        return Ok(reject(
            OutcomeCode::AclNotSupported,
            "The bucket does not allow ACLs",
        ));
    }
    if let Some(refused) = check_grants(txn, &c.grants)? {
        return Ok(refused);
    }
    b.grants = merge_acl(&b.grants, &c.grants)?;
    save(txn, &b);
    Ok(Outcome::Done)
}

pub(super) fn set_ownership(
    txn: &mut Txn<'_>,
    c: &SetBucketOwnershipCmd,
) -> Result<Outcome, MetaError> {
    let Some(mut b) = bucket(txn, &c.bucket)? else {
        return Ok(reject(OutcomeCode::NoSuchBucket, c.bucket.clone()));
    };
    if c.ownership > OWNER_ENFORCED {
        return Ok(reject(
            OutcomeCode::Invalid,
            format!("unknown object ownership {}", c.ownership),
        ));
    }
    if c.ownership == OWNER_ENFORCED && b.grants.iter().any(|g| g.acl != 0) {
        return Ok(reject(
            OutcomeCode::AclConflictsWithOwnership,
            "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting",
        ));
    }
    b.object_ownership = c.ownership;
    save(txn, &b);
    Ok(Outcome::Done)
}

pub(super) fn set_public_access_block(
    txn: &mut Txn<'_>,
    c: &SetPublicAccessBlockCmd,
) -> Result<Outcome, MetaError> {
    let Some(mut b) = bucket(txn, &c.bucket)? else {
        return Ok(reject(OutcomeCode::NoSuchBucket, c.bucket.clone()));
    };
    b.public_access_block = c.block;
    save(txn, &b);
    Ok(Outcome::Done)
}

/// Checks an Object Lock configuration's default retention.
fn check_lock(c: &meridian_proto::v1::ObjectLockConfig) -> Option<String> {
    match crate::records::lock_config_from(&"command", c) {
        Ok(config) => meridian_core::protection::check_lock_config(&config),
        Err(_) => Some(format!("unknown retention mode {}", c.default_mode)),
    }
}

pub(super) fn set_object_lock(
    txn: &mut Txn<'_>,
    c: &SetObjectLockCmd,
) -> Result<Outcome, MetaError> {
    let Some(mut b) = bucket(txn, &c.bucket)? else {
        return Ok(reject(OutcomeCode::NoSuchBucket, c.bucket.clone()));
    };
    let Some(config) = &c.config else {
        return Ok(reject(OutcomeCode::Invalid, "no Object Lock configuration"));
    };
    if let Some(m) = check_lock(config) {
        return Ok(reject(OutcomeCode::Invalid, m));
    }
    if b.versioning != Versioning::Enabled as u32 {
        return Ok(reject(
            OutcomeCode::InvalidBucketState,
            "Versioning must be 'Enabled' on the bucket to apply a Object Lock configuration",
        ));
    }
    b.object_lock = Some(*config);
    save(txn, &b);
    Ok(Outcome::Done)
}

/// Whether a bucket has Object Lock enabled.
pub(super) fn lock_enabled(b: &BucketRecord) -> bool {
    b.object_lock.as_ref().is_some_and(|l| l.enabled)
}

/// What keeps a version from being removed at `now_ms`, if anything.
/// The stored record's retention, as the core's rules read it; an unknown
/// mode (which apply never writes) counts as none.
fn retention(rec: &ObjectRecord) -> meridian_core::protection::Retention {
    meridian_core::protection::Retention {
        mode: crate::records::lock_mode_from(&"record", rec.lock_mode)
            .unwrap_or(meridian_core::records::LockMode::None),
        until_ms: rec.lock_until_ms,
        legal_hold: rec.legal_hold,
    }
}

pub fn protected(rec: &ObjectRecord, now_ms: i64, bypass_governance: bool) -> Option<String> {
    retention(rec).protects(now_ms, bypass_governance)
}

pub(super) fn locked(why: String) -> Outcome {
    reject(
        OutcomeCode::ObjectLocked,
        format!("Access Denied because object protected by object lock: {why}"),
    )
}

/// Refuses a new version asking for retention or a legal hold in a bucket
/// without Object Lock (checked here, whatever the gateway believed).
pub(super) fn check_new_version(b: &BucketRecord, rec: &ObjectRecord) -> Option<Outcome> {
    let asks = rec.lock_mode != LockMode::LockNone as u32 || rec.legal_hold;
    (asks && !lock_enabled(b)).then(|| {
        reject(
            OutcomeCode::NoObjectLock,
            "Bucket is missing ObjectLockConfiguration",
        )
    })
}

/// The default retention a new version gets in `b`, from its creation.
pub(super) fn apply_default_retention(b: &BucketRecord, rec: &mut ObjectRecord) {
    let lock = b
        .object_lock
        .as_ref()
        .and_then(|l| crate::records::lock_config_from(&"bucket", l).ok());
    let asked = crate::records::lock_mode_from(&"record", rec.lock_mode)
        .unwrap_or(meridian_core::records::LockMode::None);
    if let Some((mode, until_ms)) =
        meridian_core::protection::default_retention(lock.as_ref(), asked, rec.created_ms)
    {
        rec.lock_mode = crate::records::lock_mode_to(mode);
        rec.lock_until_ms = until_ms;
    }
}

pub(super) fn set_object_acl(txn: &mut Txn<'_>, c: &SetObjectAclCmd) -> Result<Outcome, MetaError> {
    let Some(b) = bucket(txn, &c.bucket)? else {
        return Ok(Outcome::Stale);
    };
    if b.object_ownership == OWNER_ENFORCED {
        return Ok(reject(
            OutcomeCode::AclNotSupported,
            "The bucket does not allow ACLs",
        ));
    }
    let Some((k, mut rec)) = super::versions::record_key(txn, b.id, &c.key, &c.version_id)? else {
        return Ok(Outcome::Stale);
    };
    if let Some(refused) = check_grants(txn, &c.grants)? {
        return Ok(refused);
    }
    rec.acl = c.grants.iter().filter(|g| g.acl != 0).cloned().collect();
    txn.put(k, rec.encode_to_vec());
    Ok(Outcome::Done)
}

pub(super) fn set_retention(txn: &mut Txn<'_>, c: &SetRetentionCmd) -> Result<Outcome, MetaError> {
    let Some(mode) = LockMode::try_from(c.mode as i32).ok() else {
        return Ok(reject(
            OutcomeCode::Invalid,
            format!("unknown retention mode {}", c.mode),
        ));
    };
    if mode != LockMode::LockNone && c.until_ms <= c.now_ms {
        return Ok(reject(
            OutcomeCode::Invalid,
            "The retain until date must be in the future!",
        ));
    }
    let (k, mut rec) = match lock_target(txn, &c.bucket, &c.key, &c.version_id)? {
        Ok(found) => found,
        Err(refused) => return Ok(refused),
    };
    let wanted = crate::records::lock_mode_from(&"command", mode as u32)
        .unwrap_or(meridian_core::records::LockMode::None);
    if let Err(why) = retention(&rec).may_become(wanted, c.until_ms, c.now_ms, c.bypass_governance)
    {
        return Ok(reject(OutcomeCode::ObjectLocked, why));
    }
    rec.lock_mode = mode as u32;
    rec.lock_until_ms = if mode == LockMode::LockNone {
        0
    } else {
        c.until_ms
    };
    txn.put(k, rec.encode_to_vec());
    Ok(Outcome::Done)
}

/// The record (and its key) of a version in a bucket with Object Lock, or
/// the outcome refusing the command.
fn lock_target(
    txn: &Txn<'_>,
    bucket_name: &str,
    key: &str,
    version_id: &str,
) -> Result<Result<(Vec<u8>, ObjectRecord), Outcome>, MetaError> {
    let Some(b) = bucket(txn, bucket_name)? else {
        return Ok(Err(Outcome::Stale));
    };
    if !lock_enabled(&b) {
        return Ok(Err(reject(
            OutcomeCode::NoObjectLock,
            "Bucket is missing Object Lock Configuration",
        )));
    }
    Ok(super::versions::record_key(txn, b.id, key, version_id)?.ok_or(Outcome::Stale))
}

pub(super) fn set_legal_hold(txn: &mut Txn<'_>, c: &SetLegalHoldCmd) -> Result<Outcome, MetaError> {
    let (k, mut rec) = match lock_target(txn, &c.bucket, &c.key, &c.version_id)? {
        Ok(found) => found,
        Err(refused) => return Ok(refused),
    };
    rec.legal_hold = c.on;
    txn.put(k, rec.encode_to_vec());
    Ok(Outcome::Done)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(user: &str, level: i32, acl: u32) -> BucketGrant {
        BucketGrant {
            user: user.into(),
            level,
            acl,
        }
    }

    #[test]
    fn a_new_acl_replaces_acl_bits_and_keeps_levels() {
        let before = vec![grant("alice", 1, 1), grant("bob", 0, 15)];
        let after =
            merge_acl(&before, &[grant("carol", 0, 1), grant("alice", 0, 4)]).expect("merge");
        assert_eq!(
            after,
            vec![grant("alice", 1, 4), grant("carol", 0, 1)],
            "bob's ACL-only grant goes, alice keeps her level"
        );
        assert_eq!(
            merge_acl(&before, &[]).expect("merge"),
            vec![grant("alice", 1, 0)]
        );
    }

    #[test]
    fn locks_protect_until_they_end() {
        let rec = |mode: LockMode, until: i64, hold: bool| ObjectRecord {
            lock_mode: mode as u32,
            lock_until_ms: until,
            legal_hold: hold,
            ..Default::default()
        };
        assert!(protected(&rec(LockMode::LockCompliance, 100, false), 50, true).is_some());
        assert!(protected(&rec(LockMode::LockCompliance, 100, false), 100, false).is_none());
        assert!(protected(&rec(LockMode::LockGovernance, 100, false), 50, false).is_some());
        assert!(protected(&rec(LockMode::LockGovernance, 100, false), 50, true).is_none());
        assert!(protected(&rec(LockMode::LockNone, 0, true), 50, true).is_some());
        assert!(protected(&rec(LockMode::LockNone, 0, false), 50, false).is_none());
    }

    #[test]
    fn default_retention_counts_from_creation() {
        let b = BucketRecord {
            object_lock: Some(meridian_proto::v1::ObjectLockConfig {
                enabled: true,
                default_mode: LockMode::LockGovernance as u32,
                default_days: 2,
                default_years: 0,
            }),
            ..Default::default()
        };
        let mut rec = ObjectRecord {
            created_ms: 1000,
            ..Default::default()
        };
        apply_default_retention(&b, &mut rec);
        assert_eq!(rec.lock_mode, LockMode::LockGovernance as u32);
        assert_eq!(rec.lock_until_ms, 1000 + 2 * 86_400_000);
        // An explicit retention is kept.
        let mut own = ObjectRecord {
            created_ms: 1000,
            lock_mode: LockMode::LockCompliance as u32,
            lock_until_ms: 5,
            ..Default::default()
        };
        apply_default_retention(&b, &mut own);
        assert_eq!(own.lock_until_ms, 5);
        let bad = meridian_proto::v1::ObjectLockConfig {
            enabled: true,
            default_mode: 1,
            default_days: 1,
            default_years: 1,
        };
        assert!(check_lock(&bad).is_some());
    }
}
