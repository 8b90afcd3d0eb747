//! The checks the in-memory catalogue makes before it changes anything,
//! and its chunk references, each as the real catalogue makes or counts it.

use crate::catalogue::WriteCondition;
use crate::chunks::ChunkHash;
use crate::records::{BucketGrant, BucketRecord, ChunkRef, LockMode, ObjectRecord};
use crate::CoreError;

use super::State;

/// S3's BucketOwnerEnforced object ownership: no ACLs.
pub(super) const OWNER_ENFORCED: u32 = 3;
/// Groups an ACL may name besides users.
pub(super) const GROUPS: [&str; 2] = [
    crate::access::acl::ALL_USERS,
    crate::access::acl::AUTHENTICATED_USERS,
];
/// The real catalogue's bounds on what a record may hold.
pub(super) const MAX_ACL_GRANTS: usize = 100;
pub(super) const MAX_BUCKET_TAGS: usize = 50;
pub(super) const MAX_CORS_RULES: usize = 100;
pub(super) const MAX_LIFECYCLE_RULES: usize = 1000;

pub(super) fn no_bucket(name: &str) -> CoreError {
    CoreError::NoSuchBucket(name.to_string())
}

pub(super) fn locked(why: String) -> CoreError {
    CoreError::ObjectLocked(format!(
        "Access Denied because object protected by object lock: {why}"
    ))
}

pub(super) fn count_references(st: &State, site: u32, hash: &ChunkHash) -> u64 {
    let lists = |r: &ObjectRecord| r.chunks.iter().filter(|c| &c.hash == hash).count() as u64;
    let mut n = 0;
    for b in st.buckets.values() {
        for r in b.current.values() {
            n += r.replicas.iter().filter(|x| x.site == site).count() as u64 * lists(r);
        }
        for r in b.history.values().flatten() {
            let held = r
                .replicas
                .iter()
                .filter(|x| x.site == site && !x.state.is_pending())
                .count() as u64;
            n += held * lists(r);
        }
    }
    for (id, parts) in &st.parts {
        if st.uploads.get(id).is_some_and(|u| u.ingest_site == site) {
            for p in parts.values() {
                n += p.chunks.iter().filter(|c| &c.hash == hash).count() as u64;
            }
        }
    }
    n
}

pub(super) fn note_chunks(st: &mut State, site: u32, chunks: &[ChunkRef]) {
    for c in chunks {
        st.seen.insert((site, c.hash));
    }
}

pub(super) fn check_grants(st: &State, grants: &[BucketGrant]) -> Result<(), CoreError> {
    if grants.len() > MAX_ACL_GRANTS {
        return Err(CoreError::InvalidArgument(format!(
            "an ACL has at most {MAX_ACL_GRANTS} grants"
        )));
    }
    for g in grants.iter().filter(|g| g.acl != 0) {
        let known = if g.user.contains(':') {
            GROUPS.contains(&g.user.as_str())
        } else {
            st.users.contains(&g.user)
        };
        if !known {
            return Err(CoreError::InvalidArgument(format!(
                "Invalid id: {}",
                g.user
            )));
        }
    }
    Ok(())
}

pub(super) fn lock_enabled(b: &BucketRecord) -> bool {
    b.object_lock.is_some_and(|l| l.enabled)
}

pub(super) fn check_condition(
    cur: Option<&ObjectRecord>,
    key: &str,
    condition: &WriteCondition,
) -> Result<(), CoreError> {
    match (condition, cur) {
        (WriteCondition::IfAbsent, Some(_)) => Err(CoreError::PreconditionFailed(format!(
            "{key} exists (If-None-Match: *)"
        ))),
        (WriteCondition::IfEtag(_), None) => Err(CoreError::NoSuchKey(key.to_string())),
        (WriteCondition::IfEtag(e), Some(c)) if &c.etag != e => Err(CoreError::PreconditionFailed(
            format!("{key} has ETag {}, not {e} (If-Match)", c.etag),
        )),
        _ => Ok(()),
    }
}

pub(super) fn check_new_version(b: &BucketRecord, rec: &ObjectRecord) -> Result<(), CoreError> {
    if (rec.lock_mode != LockMode::None || rec.legal_hold) && !lock_enabled(b) {
        return Err(CoreError::NoObjectLock(
            "Bucket is missing ObjectLockConfiguration".into(),
        ));
    }
    Ok(())
}
