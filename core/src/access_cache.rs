//! What every S3 request asks before it runs: whose key signed it, and what
//! the bucket allows. Both come from the catalogue and are kept here for a
//! second, so a request does not pay two more linearizable reads; a key
//! revoked or a grant withdrawn therefore takes effect within
//! [`ACCESS_TTL`] on every gateway (at once on the one that made the
//! change).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::access::{BucketAccess, BucketPolicy, Grant, Grantee, Ownership, PublicBlock};
use crate::catalogue::{Catalogue, KeyOwner};
use crate::clock::SharedClock;
use crate::records::LockMode;
use crate::CoreError;

pub const ACCESS_TTL: Duration = Duration::from_secs(1);
/// Entries per map at most; a full map is emptied (and refilled on demand).
const MAX_ENTRIES: usize = 10_000;

struct Timed<T> {
    at: Instant,
    value: T,
}

struct Map<T>(Mutex<HashMap<String, Timed<T>>>);

impl<T: Clone> Map<T> {
    fn new() -> Self {
        Map(Mutex::new(HashMap::new()))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Timed<T>>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn get(&self, k: &str, now: Instant) -> Option<T> {
        self.lock()
            .get(k)
            .filter(|t| now.saturating_duration_since(t.at) < ACCESS_TTL)
            .map(|t| t.value.clone())
    }

    fn put(&self, k: &str, value: T, now: Instant) {
        let mut m = self.lock();
        if m.len() >= MAX_ENTRIES {
            m.clear();
        }
        m.insert(k.to_string(), Timed { at: now, value });
    }

    fn forget(&self, k: &str) {
        self.lock().remove(k);
    }
}

pub struct AccessCache {
    keys: Map<Option<KeyOwner>>,
    buckets: Map<Option<Arc<BucketAccess>>>,
    clock: SharedClock,
}

impl AccessCache {
    pub fn new(clock: SharedClock) -> Self {
        AccessCache {
            keys: Map::new(),
            buckets: Map::new(),
            clock,
        }
    }

    pub async fn key(
        &self,
        catalogue: &dyn Catalogue,
        access_key: &str,
    ) -> Result<Option<KeyOwner>, CoreError> {
        // Stamped before the read: nothing is kept longer than the TTL
        // after the catalogue answered.
        let now = self.clock.instant();
        if let Some(k) = self.keys.get(access_key, now) {
            return Ok(k);
        }
        let k = catalogue.access_key(access_key).await?;
        self.keys.put(access_key, k.clone(), now);
        Ok(k)
    }

    /// The bucket's permissions; `None` if there is no such bucket.
    pub async fn bucket(
        &self,
        catalogue: &dyn Catalogue,
        name: &str,
    ) -> Result<Option<Arc<BucketAccess>>, CoreError> {
        let now = self.clock.instant();
        if let Some(b) = self.buckets.get(name, now) {
            return Ok(b);
        }
        let b = match catalogue.bucket(name).await {
            Ok(rec) => {
                let policy = if rec.policy.is_empty() {
                    None
                } else {
                    match BucketPolicy::parse_stored(&rec.policy, name) {
                        Ok(p) => Some(p),
                        Err(e) => {
                            // Checked when set; one that no longer parses
                            // may have held denials, so it denies all.
                            tracing::error!(bucket = name, error = %e, "stored bucket policy does not parse; denying all but the administrator until it is replaced");
                            Some(BucketPolicy::deny_all())
                        }
                    }
                };
                Some(Arc::new(access_of(rec, policy)))
            }
            // Not kept: a bucket created a moment later (here or at
            // another gateway) must not stay unknown for a second.
            Err(CoreError::NoSuchBucket(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        self.buckets.put(name, b.clone(), now);
        Ok(b)
    }

    pub fn forget_bucket(&self, name: &str) {
        self.buckets.forget(name);
    }

    pub fn forget_key(&self, access_key: &str) {
        self.keys.forget(access_key);
    }
}

/// A bucket's permissions from its record (its policy parsed).
pub fn access_of(rec: crate::records::BucketRecord, policy: Option<BucketPolicy>) -> BucketAccess {
    let block = rec.public_access_block.unwrap_or_default();
    BucketAccess {
        name: rec.name,
        owner: rec.owner,
        site: rec.ingest_site,
        versioning: rec.versioning,
        grants: rec
            .grants
            .iter()
            .map(|g| Grant {
                grantee: Grantee::from_stored(&g.user),
                level: g.level,
                acl: g.acl,
            })
            .collect(),
        policy,
        ownership: Ownership::from_u32(rec.object_ownership),
        public_block: PublicBlock {
            block_public_acls: block.block_public_acls,
            ignore_public_acls: block.ignore_public_acls,
            block_public_policy: block.block_public_policy,
            restrict_public_buckets: block.restrict_public_buckets,
        },
        object_lock: rec.object_lock.as_ref().is_some_and(|l| l.enabled),
        default_retention: rec
            .object_lock
            .as_ref()
            .is_some_and(|l| l.enabled && l.default_mode != LockMode::None),
        cors: rec.cors,
        lifecycle: rec.lifecycle,
    }
}
