//! What every S3 request asks before it runs: whose key signed it, and what
//! the bucket allows. Both come from the catalogue and are kept here for a
//! second, so a request does not pay two more linearizable reads; a key
//! revoked or a grant withdrawn therefore takes effect within
//! [`ACCESS_TTL`] on every gateway (at once on the one that made the
//! change).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::access::{BucketAccess, BucketPolicy, Grant, Grantee, Level, Ownership, PublicBlock};
use crate::backend::Catalogue;
use crate::GatewayError;

pub const ACCESS_TTL: Duration = Duration::from_secs(1);
/// Entries per map at most; a full map is emptied (and refilled on demand).
const MAX_ENTRIES: usize = 10_000;

/// An access key's user and secret.
#[derive(Clone)]
pub struct KeyOwner {
    pub user: String,
    pub secret: String,
}

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

    fn get(&self, k: &str) -> Option<T> {
        self.lock()
            .get(k)
            .filter(|t| t.at.elapsed() < ACCESS_TTL)
            .map(|t| t.value.clone())
    }

    fn put(&self, k: &str, value: T) {
        let mut m = self.lock();
        if m.len() >= MAX_ENTRIES {
            m.clear();
        }
        m.insert(
            k.to_string(),
            Timed {
                at: Instant::now(),
                value,
            },
        );
    }

    fn forget(&self, k: &str) {
        self.lock().remove(k);
    }
}

pub struct AccessCache {
    keys: Map<Option<KeyOwner>>,
    buckets: Map<Option<Arc<BucketAccess>>>,
}

impl Default for AccessCache {
    fn default() -> Self {
        AccessCache {
            keys: Map::new(),
            buckets: Map::new(),
        }
    }
}

impl AccessCache {
    pub async fn key(
        &self,
        catalogue: &dyn Catalogue,
        access_key: &str,
    ) -> Result<Option<KeyOwner>, GatewayError> {
        if let Some(k) = self.keys.get(access_key) {
            return Ok(k);
        }
        let k = catalogue.access_key(access_key).await?;
        self.keys.put(access_key, k.clone());
        Ok(k)
    }

    /// The bucket's permissions; `None` if there is no such bucket.
    pub async fn bucket(
        &self,
        catalogue: &dyn Catalogue,
        name: &str,
    ) -> Result<Option<Arc<BucketAccess>>, GatewayError> {
        if let Some(b) = self.buckets.get(name) {
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
            Err(GatewayError::NoSuchBucket(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        self.buckets.put(name, b.clone());
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
pub fn access_of(
    rec: meridian_proto::v1::BucketRecord,
    policy: Option<BucketPolicy>,
) -> BucketAccess {
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
                level: Level::from_i32(g.level),
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
            .is_some_and(|l| l.enabled && l.default_mode != 0),
        cors: rec.cors,
        lifecycle: rec.lifecycle,
    }
}
