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
/// Days and years a default retention may have (AWS: 1..=36500 days, 100
/// years).
const MAX_RETENTION_DAYS: u32 = 36_500;
const MAX_RETENTION_YEARS: u32 = 100;
const DAY_MS: i64 = 86_400_000;

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
pub(super) fn merge_acl(grants: &[BucketGrant], acl: &[BucketGrant]) -> Vec<BucketGrant> {
    let mut out: Vec<BucketGrant> = grants
        .iter()
        .map(|g| BucketGrant {
            acl: 0,
            ..g.clone()
        })
        .collect();
    for a in acl.iter().filter(|a| a.acl != 0) {
        match out.iter_mut().find(|g| g.user == a.user) {
            Some(g) => g.acl |= a.acl,
            None => out.push(BucketGrant {
                user: a.user.clone(),
                level: 0,
                acl: a.acl,
            }),
        }
    }
    out.retain(|g| g.level != 0 || g.acl != 0);
    out.sort_by(|x, y| x.user.cmp(&y.user));
    out
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
    b.grants = merge_acl(&b.grants, &c.grants);
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
    if !c.enabled {
        return Some("Object Lock cannot be switched off".into());
    }
    let mode = LockMode::try_from(c.default_mode as i32).ok();
    match (mode, c.default_days, c.default_years) {
        (Some(LockMode::LockNone), 0, 0) => None,
        (Some(LockMode::LockNone), _, _) => Some("a default retention needs a mode".into()),
        (None, _, _) => Some(format!("unknown retention mode {}", c.default_mode)),
        (Some(_), d, y) if (d == 0) == (y == 0) => {
            Some("a default retention has Days or Years, one of them".into())
        }
        (Some(_), d, y) if d > MAX_RETENTION_DAYS || y > MAX_RETENTION_YEARS => Some(format!(
            "a default retention is at most {MAX_RETENTION_DAYS} days or {MAX_RETENTION_YEARS} years"
        )),
        _ => None,
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
pub fn protected(rec: &ObjectRecord, now_ms: i64, bypass_governance: bool) -> Option<String> {
    if rec.legal_hold {
        return Some("the version is under a legal hold".into());
    }
    if rec.lock_until_ms > now_ms {
        let mode = LockMode::try_from(rec.lock_mode as i32).unwrap_or(LockMode::LockNone);
        match mode {
            LockMode::LockCompliance => {
                return Some("the version is under COMPLIANCE retention".into())
            }
            LockMode::LockGovernance if !bypass_governance => {
                return Some("the version is under GOVERNANCE retention".into())
            }
            _ => {}
        }
    }
    None
}

/// The refusal of a removal `protected` stops.
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
    let Some(l) = b.object_lock.as_ref().filter(|l| l.enabled) else {
        return;
    };
    if rec.lock_mode != LockMode::LockNone as u32 || l.default_mode == LockMode::LockNone as u32 {
        return;
    }
    let days = i64::from(l.default_days) + 365 * i64::from(l.default_years);
    rec.lock_mode = l.default_mode;
    rec.lock_until_ms = rec.created_ms.saturating_add(days.saturating_mul(DAY_MS));
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
    let current = LockMode::try_from(rec.lock_mode as i32).unwrap_or(LockMode::LockNone);
    let in_force = current != LockMode::LockNone && rec.lock_until_ms > c.now_ms;
    let extends = mode == current && c.until_ms >= rec.lock_until_ms;
    if in_force && !extends {
        let allowed = current == LockMode::LockGovernance && c.bypass_governance;
        if !allowed {
            let what = if current == LockMode::LockCompliance {
                "COMPLIANCE retention cannot be shortened, removed or changed"
            } else {
                "GOVERNANCE retention is shortened, removed or changed only with x-amz-bypass-governance-retention"
            };
            return Ok(reject(OutcomeCode::ObjectLocked, what));
        }
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
        let after = merge_acl(&before, &[grant("carol", 0, 1), grant("alice", 0, 4)]);
        assert_eq!(
            after,
            vec![grant("alice", 1, 4), grant("carol", 0, 1)],
            "bob's ACL-only grant goes, alice keeps her level"
        );
        assert_eq!(merge_acl(&before, &[]), vec![grant("alice", 1, 0)]);
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
        assert_eq!(rec.lock_until_ms, 1000 + 2 * DAY_MS);
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
