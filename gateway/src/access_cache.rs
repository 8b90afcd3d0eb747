//! What every S3 request asks before it runs: whose key signed it, and what
//! the bucket allows. Both come from the catalogue and are kept here for a
//! second, so a request does not pay two more linearizable reads; a key
//! revoked or a grant withdrawn therefore takes effect within
//! [`ACCESS_TTL`] on every gateway (at once on the one that made the
//! change).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::access::{BucketAccess, BucketPolicy, Level};
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
                    match BucketPolicy::parse(&rec.policy, name) {
                        Ok(p) => Some(p),
                        Err(e) => {
                            // Checked when set; a stored policy that no
                            // longer parses grants nothing.
                            tracing::error!(bucket = name, error = %e, "stored bucket policy does not parse; ignoring its statements");
                            None
                        }
                    }
                };
                Some(Arc::new(BucketAccess {
                    name: rec.name,
                    owner: rec.owner,
                    site: rec.ingest_site,
                    versioning: rec.versioning,
                    grants: rec
                        .grants
                        .iter()
                        .filter_map(|g| Level::from_i32(g.level).map(|l| (g.user.clone(), l)))
                        .collect(),
                    policy,
                    cors: rec.cors,
                    lifecycle: rec.lifecycle,
                }))
            }
            Err(GatewayError::NoSuchBucket(_)) => None,
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
