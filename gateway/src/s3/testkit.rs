//! In-memory catalogue and chunk store for the S3 front end's tests: enough of
//! the real contracts (listing with delimiters and resume points, uploads,
//! hash-checked chunks) to exercise every operation without a cluster.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use bytes::Bytes;
use meridian_core::records::{
    BucketRecord, MultipartUpload, ObjectRecord, PartRecord, Replica, ReplicaState,
};
use meridian_placement::Topology;

use meridian_core::catalogue::{Catalogue, ListEntry, ListPage, ListQuery, WriteCondition};
use meridian_core::chunks::{Chunk, ChunkHash, ChunkStore};
use meridian_core::clock::ManualClock;
use meridian_core::{CoreError, SharedClock};

use crate::Gateway;

pub const TOPOLOGY: &str = r#"
hub = "Alpha"
[[site]]
id = 1
name = "Alpha"
[[site]]
id = 2
name = "Beta"
[[link]]
from = "Alpha"
to = "Beta"
bandwidth_gbps = 1.0
"#;

/// The smallest chunk the core allows, so that small test bodies span chunks.
pub const CHUNK: usize = 64 * 1024;

#[derive(Default)]
struct State {
    buckets: BTreeMap<String, BucketRecord>,
    objects: BTreeMap<(String, String), ObjectRecord>,
    uploads: HashMap<String, MultipartUpload>,
    parts: HashMap<String, BTreeMap<u32, PartRecord>>,
    completed: HashMap<String, meridian_core::records::CompletedUpload>,
}

pub struct MemCatalogue {
    clock: SharedClock,
    state: Mutex<State>,
}

impl MemCatalogue {
    pub fn new(clock: SharedClock) -> Self {
        MemCatalogue {
            clock,
            state: Mutex::new(State::default()),
        }
    }
}

impl MemCatalogue {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().expect("catalogue lock poisoned")
    }
}

fn no_bucket(name: &str) -> CoreError {
    CoreError::NoSuchBucket(name.to_string())
}

#[async_trait]
impl Catalogue for MemCatalogue {
    async fn create_bucket(
        &self,
        name: &str,
        owner: &str,
        ingest_site: u32,
        new: &meridian_core::catalogue::NewBucket,
    ) -> Result<(), CoreError> {
        let mut st = self.lock();
        if st.buckets.contains_key(name) {
            return Err(CoreError::BucketExists(name.to_string()));
        }
        let id = st.buckets.len() as u64 + 1;
        st.buckets.insert(
            name.to_string(),
            BucketRecord {
                id,
                name: name.to_string(),
                created_ms: self.clock.now_ms(),
                owner: owner.to_string(),
                ingest_site,
                object_ownership: new.object_ownership,
                grants: new.acl.clone(),
                ..Default::default()
            },
        );
        Ok(())
    }

    async fn delete_bucket(&self, name: &str) -> Result<(), CoreError> {
        let mut st = self.lock();
        if !st.buckets.contains_key(name) {
            return Err(no_bucket(name));
        }
        if st.objects.keys().any(|(b, _)| b == name) {
            return Err(CoreError::BucketNotEmpty(name.to_string()));
        }
        let gone: Vec<String> = st
            .uploads
            .values()
            .filter(|u| u.bucket == name)
            .map(|u| u.upload_id.clone())
            .collect();
        for id in gone {
            st.uploads.remove(&id);
            st.parts.remove(&id);
        }
        st.buckets.remove(name);
        Ok(())
    }

    async fn bucket(&self, name: &str) -> Result<BucketRecord, CoreError> {
        self.lock()
            .buckets
            .get(name)
            .cloned()
            .ok_or_else(|| no_bucket(name))
    }

    async fn list_buckets(&self) -> Result<Vec<BucketRecord>, CoreError> {
        Ok(self.lock().buckets.values().cloned().collect())
    }

    async fn commit_object(
        &self,
        bucket: &str,
        key: &str,
        mut record: ObjectRecord,
        condition: &WriteCondition,
    ) -> Result<ObjectRecord, CoreError> {
        let mut st = self.lock();
        if !st.buckets.contains_key(bucket) {
            return Err(no_bucket(bucket));
        }
        let current = st.objects.get(&(bucket.to_string(), key.to_string()));
        match (condition, current) {
            (WriteCondition::IfAbsent, Some(_)) => {
                return Err(CoreError::PreconditionFailed(key.to_string()))
            }
            (WriteCondition::IfEtag(_), None) => return Err(CoreError::NoSuchKey(key.to_string())),
            (WriteCondition::IfEtag(e), Some(cur)) if cur.etag != *e => {
                return Err(CoreError::PreconditionFailed(key.to_string()))
            }
            _ => {}
        }
        record.replicas = vec![Replica {
            site: record.ingest_site,
            state: ReplicaState::Complete,
            verified_at_ms: 0,
            reason: 0,
        }];
        st.objects
            .insert((bucket.to_string(), key.to_string()), record.clone());
        Ok(record)
    }

    async fn object(&self, bucket: &str, key: &str) -> Result<ObjectRecord, CoreError> {
        let st = self.lock();
        if !st.buckets.contains_key(bucket) {
            return Err(no_bucket(bucket));
        }
        st.objects
            .get(&(bucket.to_string(), key.to_string()))
            .cloned()
            .ok_or_else(|| CoreError::NoSuchKey(key.to_string()))
    }

    async fn delete_object(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<meridian_core::catalogue::Deleted, CoreError> {
        self.lock()
            .objects
            .remove(&(bucket.to_string(), key.to_string()));
        Ok(Default::default())
    }

    async fn list_objects(&self, q: &ListQuery) -> Result<ListPage, CoreError> {
        let st = self.lock();
        let mut page = ListPage::default();
        let from = (q.bucket.clone(), q.prefix.clone());
        for ((b, key), record) in st.objects.range(from..) {
            if b != &q.bucket || !key.starts_with(&q.prefix) {
                break;
            }
            let entry = match q.delimiter.as_deref() {
                Some(d) => match key[q.prefix.len()..].find(d) {
                    Some(i) => ListEntry::Prefix(key[..q.prefix.len() + i + d.len()].to_string()),
                    None => ListEntry::Object {
                        key: key.clone(),
                        record: record.clone(),
                    },
                },
                None => ListEntry::Object {
                    key: key.clone(),
                    record: record.clone(),
                },
            };
            let name = match &entry {
                ListEntry::Object { key, .. } => key.clone(),
                ListEntry::Prefix(p) => p.clone(),
            };
            // Resuming after a common prefix skips every key under it.
            if let Some(after) = &q.start_after {
                if name.as_str() <= after.as_str() {
                    continue;
                }
            }
            if page.next_after.as_deref() == Some(name.as_str()) {
                continue;
            }
            if page.entries.len() == q.max_keys {
                page.truncated = true;
                break;
            }
            page.next_after = Some(name);
            page.entries.push(entry);
        }
        Ok(page)
    }

    async fn create_upload(&self, upload: MultipartUpload) -> Result<(), CoreError> {
        let mut st = self.lock();
        st.parts.insert(upload.upload_id.clone(), BTreeMap::new());
        st.uploads.insert(upload.upload_id.clone(), upload);
        Ok(())
    }

    async fn upload(&self, upload_id: &str) -> Result<MultipartUpload, CoreError> {
        self.lock()
            .uploads
            .get(upload_id)
            .cloned()
            .ok_or_else(|| CoreError::NoSuchUpload(upload_id.to_string()))
    }

    async fn put_part(&self, upload_id: &str, part: PartRecord) -> Result<(), CoreError> {
        let mut st = self.lock();
        let parts = st
            .parts
            .get_mut(upload_id)
            .ok_or_else(|| CoreError::NoSuchUpload(upload_id.to_string()))?;
        parts.insert(part.part_number, part);
        Ok(())
    }

    async fn list_parts(&self, upload_id: &str) -> Result<Vec<PartRecord>, CoreError> {
        let st = self.lock();
        let parts = st
            .parts
            .get(upload_id)
            .ok_or_else(|| CoreError::NoSuchUpload(upload_id.to_string()))?;
        Ok(parts.values().cloned().collect())
    }

    async fn complete_upload(
        &self,
        upload_id: &str,
        record: ObjectRecord,
    ) -> Result<ObjectRecord, CoreError> {
        let upload = {
            let mut st = self.lock();
            st.parts.remove(upload_id);
            st.uploads
                .remove(upload_id)
                .ok_or_else(|| CoreError::NoSuchUpload(upload_id.to_string()))?
        };
        let rec = self
            .commit_object(&upload.bucket, &upload.key, record, &WriteCondition::Always)
            .await?;
        self.lock().completed.insert(
            upload_id.to_string(),
            meridian_core::records::CompletedUpload {
                bucket: upload.bucket,
                key: upload.key,
                etag: rec.etag.clone(),
                version_id: rec.version_id.clone(),
                versioning: rec.versioning,
                checksums: rec.checksums.clone(),
                checksum_type: rec.checksum_type.clone(),
                completed_ms: rec.created_ms,
            },
        );
        Ok(rec)
    }

    async fn completed_upload(
        &self,
        upload_id: &str,
    ) -> Result<Option<meridian_core::records::CompletedUpload>, CoreError> {
        Ok(self.lock().completed.get(upload_id).cloned())
    }

    async fn abort_upload(&self, upload_id: &str) -> Result<(), CoreError> {
        let mut st = self.lock();
        st.parts.remove(upload_id);
        st.uploads
            .remove(upload_id)
            .map(|_| ())
            .ok_or_else(|| CoreError::NoSuchUpload(upload_id.to_string()))
    }

    async fn list_uploads(&self, bucket: &str) -> Result<Vec<MultipartUpload>, CoreError> {
        let st = self.lock();
        Ok(st
            .uploads
            .values()
            .filter(|u| u.bucket == bucket)
            .cloned()
            .collect())
    }
}

#[derive(Default)]
pub struct MemChunks {
    chunks: Mutex<HashMap<ChunkHash, Bytes>>,
    /// Makes every read fail as if no holder were reachable.
    pub fail_reads: AtomicBool,
    /// Makes every read take this long: a slow, distant replica.
    pub read_delay_ms: AtomicU64,
}

#[async_trait]
impl ChunkStore for MemChunks {
    async fn put_chunk(&self, _site: u32, chunk: Chunk) -> Result<(), CoreError> {
        self.chunks
            .lock()
            .expect("chunks lock poisoned")
            .insert(*chunk.hash(), chunk.into_data());
        Ok(())
    }

    async fn read_chunk(
        &self,
        _reader: u32,
        holders: &[u32],
        hash: &ChunkHash,
        size: u32,
    ) -> Result<Bytes, CoreError> {
        let delay_ms = self.read_delay_ms.load(Ordering::SeqCst);
        if delay_ms > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(delay_ms)).await;
        }
        if self.fail_reads.load(Ordering::SeqCst) || holders.is_empty() {
            return Err(CoreError::Unavailable("no holder reachable".into()));
        }
        let data = self
            .chunks
            .lock()
            .expect("chunks lock poisoned")
            .get(hash)
            .cloned()
            .ok_or_else(|| CoreError::Unavailable("chunk missing".into()))?;
        assert_eq!(data.len(), size as usize, "chunk size in record");
        Ok(data)
    }
}

pub struct Fixture {
    pub gateway: Arc<Gateway>,
    pub chunks: Arc<MemChunks>,
    /// The gateway's clock, which moves only when a test moves it.
    pub clock: Arc<ManualClock>,
}

pub fn fixture() -> Fixture {
    let topology = Topology::from_toml(TOPOLOGY, "test").expect("test topology");
    let clock = ManualClock::starting_now();
    let catalogue = Arc::new(MemCatalogue::new(clock.clone()));
    let chunks = Arc::new(MemChunks::default());
    let gateway = Arc::new(Gateway::new(
        catalogue.clone(),
        chunks.clone(),
        Arc::new(topology),
        CHUNK,
        clock.clone(),
    ));
    Fixture {
        gateway,
        chunks,
        clock,
    }
}

/// Deterministic, non-repeating-looking test bytes.
pub fn bytes_of(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 8) as u8)
        .collect()
}
