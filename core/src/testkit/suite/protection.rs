//! Object Lock, retention, legal holds, ACLs and ownership.

use super::*;

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

pub(super) async fn object_lock_keeps_versions_until_retention_ends(
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

pub(super) async fn retention_in_force_only_grows_without_the_bypass(
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

pub(super) async fn object_lock_needs_versioning_and_a_lock_enabled_bucket(
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

pub(super) async fn default_retention_applies_to_new_versions(
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

pub(super) async fn acls_and_ownership_exclude_each_other(
    c: &dyn Catalogue,
    clock: &SharedClock,
) -> Outcome {
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
