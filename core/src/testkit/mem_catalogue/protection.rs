//! Access and protection settings of the in-memory catalogue: bucket ACLs,
//! ownership, public access blocks and Object Lock; a version's ACL,
//! retention and legal hold. The rules are the core's (`crate::protection`,
//! `crate::access::acl`), as the real catalogue applies them.

use crate::catalogue::{BucketChange, VersionChange};
use crate::protection::retention_change;
use crate::records::{LockMode, Versioning};
use crate::CoreError;

use super::rules::{check_grants, lock_enabled, OWNER_ENFORCED};
use super::State;

impl State {
    pub(super) fn update_bucket(
        &mut self,
        bucket: &str,
        change: BucketChange,
    ) -> Result<(), CoreError> {
        if let BucketChange::Acl(grants) = &change {
            check_grants(self, grants)?;
        }
        let b = &mut self.bucket_mut(bucket)?.rec;
        match change {
            BucketChange::Acl(grants) => {
                if b.object_ownership == OWNER_ENFORCED {
                    return Err(CoreError::AclNotSupported(
                        "The bucket does not allow ACLs".into(),
                    ));
                }
                b.grants = crate::access::acl::with_acl(&b.grants, &grants);
            }
            BucketChange::Ownership(o) => {
                if o > OWNER_ENFORCED {
                    return Err(CoreError::InvalidArgument(format!(
                        "unknown object ownership {o}"
                    )));
                }
                if o == OWNER_ENFORCED && b.grants.iter().any(|g| g.acl != 0) {
                    return Err(CoreError::AclConflictsWithOwnership(
                    "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting".into(),
                ));
                }
                b.object_ownership = o;
            }
            BucketChange::PublicAccessBlock(block) => b.public_access_block = block,
            BucketChange::ObjectLock(config) => {
                if let Some(m) = crate::protection::check_lock_config(&config) {
                    return Err(CoreError::InvalidArgument(m));
                }
                if b.versioning != Versioning::Enabled {
                    return Err(CoreError::InvalidBucketState(
                    "Versioning must be 'Enabled' on the bucket to apply a Object Lock configuration".into(),
                ));
                }
                b.object_lock = Some(config);
            }
        }
        Ok(())
    }

    pub(super) fn update_version(
        &mut self,
        now: i64,
        bucket: &str,
        key: &str,
        version_id: &str,
        change: VersionChange,
    ) -> Result<bool, CoreError> {
        if let VersionChange::Acl(grants) = &change {
            check_grants(self, grants)?;
        }
        let Some(b) = self.buckets.get_mut(bucket) else {
            return Ok(false);
        };
        let enforced = b.rec.object_ownership == OWNER_ENFORCED;
        let lock = lock_enabled(&b.rec);
        if let VersionChange::Retention { mode, until_ms, .. } = &change {
            if *mode != LockMode::None && *until_ms <= now {
                return Err(CoreError::InvalidArgument(
                    "The retain until date must be in the future!".into(),
                ));
            }
        }
        match &change {
            VersionChange::Acl(_) if enforced => {
                return Err(CoreError::AclNotSupported(
                    "The bucket does not allow ACLs".into(),
                ))
            }
            VersionChange::Retention { .. } | VersionChange::LegalHold(_) if !lock => {
                return Err(CoreError::NoObjectLock(
                    "Bucket is missing Object Lock Configuration".into(),
                ))
            }
            _ => {}
        }
        let Some(rec) = b.version_mut(key, version_id) else {
            return Ok(false);
        };
        match change {
            VersionChange::Acl(grants) => {
                rec.acl = grants.into_iter().filter(|g| g.acl != 0).collect();
            }
            VersionChange::Retention {
                mode,
                until_ms,
                bypass_governance,
            } => {
                retention_change(rec, mode, until_ms, now, bypass_governance)
                    .map_err(CoreError::ObjectLocked)?;
                rec.lock_mode = mode;
                rec.lock_until_ms = if mode == LockMode::None { 0 } else { until_ms };
            }
            VersionChange::LegalHold(on) => rec.legal_hold = on,
        }
        Ok(true)
    }
}
