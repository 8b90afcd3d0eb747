//! The protocol-independent core of the gateway: turning a byte stream into
//! durable chunks and a committed record, and a record back into verified bytes.
//! The S3 and gRPC front ends are thin adapters over [`Objects`].

use std::collections::HashMap;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures::future::{BoxFuture, FutureExt};
use futures::stream::{self, BoxStream, FuturesOrdered};
use futures::{Stream, StreamExt, TryStreamExt};
use md5::{Digest, Md5};
use meridian_core::records::{
    ChunkRef, LockMode, MultipartUpload, ObjectRecord, PartRecord, ReplicaState, Versioning,
};
use meridian_placement::{SiteId, Topology};

use meridian_core::catalogue::Catalogue;
use meridian_core::chunks::{Chunk, ChunkHash, ChunkStore};
use meridian_core::names::{check_bucket_name, check_key};
use meridian_core::{CoreError, SharedClock};

/// Chunk writes in flight per upload: enough to overlap hashing with fsync,
/// few enough to bound memory at `chunk_size * (WRITES_IN_FLIGHT + 1)`.
const WRITES_IN_FLIGHT: usize = 3;
/// Chunk reads ahead of the client per download.
const READS_AHEAD: usize = 2;
/// S3's smallest part, except the last.
pub const MIN_PART_BYTES: u64 = 5 * 1024 * 1024;
/// S3's part-number range.
pub const MAX_PART_NUMBER: u32 = 10_000;

/// What writing a body produced.
#[derive(Debug, Clone)]
pub struct Ingested {
    pub size: u64,
    pub blake3: [u8; 32],
    pub md5: [u8; 16],
    pub chunks: Vec<ChunkRef>,
    /// The format the first bytes show (empty: none recognised).
    pub file_format: String,
}

use meridian_metadata::formats::HEAD_BYTES;

/// The name of the format `head` (a file's first bytes) shows; empty if
/// none is recognised.
pub fn file_format(head: &[u8]) -> String {
    meridian_metadata::formats::detect(head)
        .map(|f| f.name.to_string())
        .unwrap_or_default()
}

/// Checksums of an upload by algorithm name (base64 values), filled by
/// the front end once the body has been read and checked: the core copies
/// them into the record it commits.
pub type BodyChecksums = Arc<std::sync::Mutex<std::collections::BTreeMap<String, String>>>;

/// Makes a multipart object's checksum (algorithm, value, type) from its
/// upload and the parts completion uses, in order; the front end knows
/// the protocol's rules.
pub type ObjectChecksum = Box<
    dyn FnOnce(
            &MultipartUpload,
            &[&PartRecord],
        ) -> Result<Option<(String, String, String)>, CoreError>
        + Send,
>;

/// Verified bytes of one chunk of an object, as a read yields them.
#[derive(Debug, Clone)]
pub struct Piece {
    pub chunk: ChunkRef,
    /// Where the chunk begins in the object.
    pub chunk_offset: u64,
    /// Where `data` begins in the object.
    pub offset: u64,
    pub data: Bytes,
}

/// Caller-supplied metadata of a new object.
#[derive(Debug, Clone, Default)]
pub struct NewObject {
    pub bucket: String,
    pub key: String,
    pub content_type: String,
    pub user_meta: HashMap<String, String>,
    pub owner: String,
    /// Checked when the record commits (and once before the body is read).
    pub condition: meridian_core::catalogue::WriteCondition,
    pub checksums: BodyChecksums,
    /// Object tags (checked by the front end: at most 10).
    pub tags: HashMap<String, String>,
    /// Multipart: the checksum its parts carry, and how the object's is
    /// made of theirs (COMPOSITE or FULL_OBJECT).
    pub checksum_algorithm: String,
    pub checksum_type: String,
    /// Its ACL, retention and legal hold as the request asked.
    pub protection: Protection,
}

/// What a new object is written with besides its bytes and metadata: its
/// S3 ACL grants (ACL bits), and its Object Lock retention and legal hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Protection {
    pub acl: Vec<meridian_core::records::BucketGrant>,
    pub lock_mode: LockMode,
    pub lock_until_ms: i64,
    pub legal_hold: bool,
}

impl Protection {
    /// Sets `record`'s protection fields.
    pub fn apply(&self, record: &mut ObjectRecord) {
        record.acl = self.acl.clone();
        record.lock_mode = self.lock_mode;
        record.lock_until_ms = self.lock_until_ms;
        record.legal_hold = self.legal_hold;
    }
}

pub struct Objects {
    pub(crate) catalogue: Arc<dyn Catalogue>,
    pub(crate) chunks: Arc<dyn ChunkStore>,
    pub(crate) topology: Arc<Topology>,
    pub(crate) chunk_size: usize,
    access: Arc<meridian_core::access_cache::AccessCache>,
    pub(crate) clock: SharedClock,
    /// Where object requests are tracked (`None`: not tracked).
    access_log: Option<Arc<crate::access_log::AccessLog>>,
}

impl Objects {
    pub fn new(
        catalogue: Arc<dyn Catalogue>,
        chunks: Arc<dyn ChunkStore>,
        topology: Arc<Topology>,
        chunk_size: usize,
        clock: SharedClock,
    ) -> Self {
        assert!(chunk_size >= 64 * 1024, "chunk size below 64 KiB");
        Objects {
            catalogue,
            chunks,
            topology,
            chunk_size,
            access: Arc::new(meridian_core::access_cache::AccessCache::new(clock.clone())),
            clock,
            access_log: None,
        }
    }

    /// The clock every decision by time in this gateway reads.
    pub fn clock(&self) -> &SharedClock {
        &self.clock
    }

    /// Object requests are tracked in `log`.
    pub fn with_access_log(mut self, log: Arc<crate::access_log::AccessLog>) -> Self {
        self.access_log = Some(log);
        self
    }

    pub fn access_log(&self) -> Option<&Arc<crate::access_log::AccessLog>> {
        self.access_log.as_ref()
    }

    /// Tracks one object request (queued, never waited for).
    pub fn track(&self, e: meridian_core::tracking::AccessEvent) {
        if let Some(l) = &self.access_log {
            l.record(e);
        }
    }

    /// Whether requests are tracked (so a caller can skip building events).
    pub fn tracking(&self) -> bool {
        self.access_log.is_some()
    }

    /// The service clock's time, ms since the Unix epoch.
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// A new version id at the clock's time.
    pub fn new_version_id(&self) -> String {
        meridian_core::ids::new_version_id(self.now_ms())
    }

    /// An access key's user and secret (kept for a second).
    pub async fn access_key(
        &self,
        access_key: &str,
    ) -> Result<Option<meridian_core::catalogue::KeyOwner>, CoreError> {
        self.access.key(self.catalogue.as_ref(), access_key).await
    }

    /// A bucket's owner, grants and policy (kept for a second); `None` if
    /// there is no such bucket.
    pub async fn bucket_access(
        &self,
        bucket: &str,
    ) -> Result<Option<Arc<meridian_core::access::BucketAccess>>, CoreError> {
        self.access.bucket(self.catalogue.as_ref(), bucket).await
    }

    /// `NoSuchBucket` unless the bucket exists, from the access record the
    /// request's authorization fetched (kept for a second): a write reads
    /// the bucket once. A bucket deleted within that second is caught at
    /// commit, which the catalogue refuses for a missing bucket.
    pub(crate) async fn require_bucket(&self, bucket: &str) -> Result<(), CoreError> {
        match self.bucket_access(bucket).await? {
            Some(_) => Ok(()),
            None => Err(CoreError::NoSuchBucket(bucket.to_string())),
        }
    }

    /// Drops what this gateway keeps about a bucket's permissions (after
    /// changing them here).
    /// The access records this gateway keeps (shared with the admin API,
    /// which drops what it changes).
    pub fn access_cache(&self) -> &Arc<meridian_core::access_cache::AccessCache> {
        &self.access
    }

    pub fn forget_access(&self, bucket: &str) {
        self.access.forget_bucket(bucket);
    }

    pub fn forget_key(&self, access_key: &str) {
        self.access.forget_key(access_key);
    }

    pub fn catalogue(&self) -> &Arc<dyn Catalogue> {
        &self.catalogue
    }

    pub fn topology(&self) -> &Arc<Topology> {
        &self.topology
    }

    pub fn chunk_size(&self) -> usize {
        self.chunk_size
    }

    /// Resolves a site name; empty means the hub.
    pub fn site_id(&self, name: &str) -> Result<u32, CoreError> {
        if name.is_empty() {
            return Ok(self.topology.hub().0);
        }
        self.topology
            .site_by_name(name)
            .map(|s| s.id.0)
            .ok_or_else(|| CoreError::UnknownSite(name.to_string()))
    }

    pub fn site_name(&self, id: u32) -> String {
        self.topology.name(SiteId(id))
    }

    pub async fn create_bucket(
        &self,
        name: &str,
        owner: &str,
        site: u32,
        new: &meridian_core::catalogue::NewBucket,
    ) -> Result<(), CoreError> {
        check_bucket_name(name)?;
        let made = self.catalogue.create_bucket(name, owner, site, new).await;
        self.forget_access(name);
        made
    }

    /// Splits `body` into chunks, stores each durably at `site`, and hashes
    /// the whole content (BLAKE3 and MD5) on the way. Nothing is committed
    /// here; the chunks of a failed ingest are never visible, and are handed
    /// to chunk reclamation.
    pub async fn ingest<S, E>(
        &self,
        site: u32,
        body: S,
        expected_len: Option<u64>,
    ) -> Result<Ingested, CoreError>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: std::fmt::Display,
    {
        let mut chunks = Vec::new();
        let mut writes = FuturesOrdered::new();
        let r = self
            .ingest_into(site, body, expected_len, &mut chunks, &mut writes)
            .await;
        if r.is_err() {
            // Let the writes in flight finish, so that what they stored is
            // released too.
            while let Some(w) = writes.next().await {
                if let Ok(c) = w {
                    chunks.push(c);
                }
            }
            self.catalogue.release_chunks(site, &chunks).await;
        }
        r
    }

    async fn ingest_into<S, E>(
        &self,
        site: u32,
        body: S,
        expected_len: Option<u64>,
        chunks: &mut Vec<ChunkRef>,
        writes: &mut FuturesOrdered<BoxFuture<'static, Result<ChunkRef, CoreError>>>,
    ) -> Result<Ingested, CoreError>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: std::fmt::Display,
    {
        let mut body = std::pin::pin!(body);
        let mut whole = blake3::Hasher::new();
        // MD5 (the ETag) is the slowest hash of an upload: for all but small
        // bodies it runs beside the rest (whole-object BLAKE3, the SigV4
        // payload hash, chunk hashing and writes) instead of after them.
        let mut md5 = if expected_len.is_none_or(|n| n >= crate::etag::MD5_LANE_MIN) {
            crate::etag::Md5Sink::lane()
        } else {
            crate::etag::Md5Sink::inline()
        };
        let mut size: u64 = 0;
        // The first bytes, for the format (harvested, never typed in).
        let mut head = Vec::new();
        let mut buf = BytesMut::with_capacity(self.chunk_size);
        loop {
            let frame = body
                .next()
                .await
                .transpose()
                .map_err(|e| CoreError::IncompleteBody(format!("body stream failed: {e}")))?;
            let end = frame.is_none();
            if let Some(mut data) = frame {
                size += data.len() as u64;
                if let Some(want) = expected_len {
                    if size > want {
                        return Err(CoreError::BadDigest(format!(
                            "body longer than its declared {want} bytes"
                        )));
                    }
                }
                whole.update(&data);
                md5.update(&data).await?;
                if head.len() < HEAD_BYTES {
                    let take = (HEAD_BYTES - head.len()).min(data.len());
                    head.extend_from_slice(&data[..take]);
                }
                while !data.is_empty() {
                    let take = (self.chunk_size - buf.len()).min(data.len());
                    buf.extend_from_slice(&data.split_to(take));
                    if buf.len() == self.chunk_size {
                        let chunk =
                            std::mem::replace(&mut buf, BytesMut::with_capacity(self.chunk_size))
                                .freeze();
                        writes.push_back(self.write_chunk(site, chunk).boxed());
                        if writes.len() >= WRITES_IN_FLIGHT {
                            if let Some(r) = writes.next().await {
                                chunks.push(r?);
                            }
                        }
                    }
                }
            }
            if end {
                break;
            }
        }
        if let Some(want) = expected_len {
            if size != want {
                return Err(CoreError::IncompleteBody(format!(
                    "got {size} of {want} bytes"
                )));
            }
        }
        if !buf.is_empty() {
            writes.push_back(self.write_chunk(site, buf.freeze()).boxed());
        }
        while let Some(r) = writes.next().await {
            chunks.push(r?);
        }
        debug_assert_eq!(
            chunks.iter().map(|c| u64::from(c.size)).sum::<u64>(),
            size,
            "the chunks of an ingest add up to its size"
        );
        Ok(Ingested {
            size,
            blake3: *whole.finalize().as_bytes(),
            md5: md5.finish().await?,
            chunks: std::mem::take(chunks),
            file_format: file_format(&head),
        })
    }

    fn write_chunk(
        &self,
        site: u32,
        data: Bytes,
    ) -> impl std::future::Future<Output = Result<ChunkRef, CoreError>> + Send + 'static {
        let store = self.chunks.clone();
        async move {
            // Hashed once, here, off the async threads (a 4 MiB BLAKE3 is
            // ~1 ms of CPU); the store takes the hash with the bytes.
            let chunk = tokio::task::spawn_blocking(move || Chunk::hash_of(data))
                .await
                .map_err(|e| CoreError::Internal(format!("hash task: {e}")))?;
            let r = ChunkRef {
                hash: *chunk.hash(),
                size: chunk.len() as u32,
            };
            store.put_chunk(site, chunk).await?;
            Ok(r)
        }
    }

    /// Writes a whole object at `site` and commits it. The answer comes once
    /// the chunks are durable at `site` and the record is committed.
    pub async fn put_object<S, E>(
        &self,
        site: u32,
        obj: NewObject,
        body: S,
        expected_len: Option<u64>,
    ) -> Result<ObjectRecord, CoreError>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: std::fmt::Display,
    {
        self.put_object_checked(site, obj, body, expected_len, None)
            .await
    }

    /// As [`Objects::put_object`], and refuses (commits nothing) if the
    /// content's BLAKE3 differs from `expected_blake3`.
    pub async fn put_object_checked<S, E>(
        &self,
        site: u32,
        obj: NewObject,
        body: S,
        expected_len: Option<u64>,
        expected_blake3: Option<Vec<u8>>,
    ) -> Result<ObjectRecord, CoreError>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: std::fmt::Display,
    {
        check_key(&obj.key)?;
        if self.topology.site(SiteId(site)).is_none() {
            return Err(CoreError::UnknownSite(format!("site {site}")));
        }
        // Fail before reading the body if the bucket is missing. A write
        // condition is checked only at commit, after the body: answering
        // early leaves the body unread on the connection (boto3 sends
        // `Expect: 100-continue` and may send the body anyway).
        self.require_bucket(&obj.bucket).await?;
        let written = self.clock.instant();
        let ing = self.ingest(site, body, expected_len).await?;
        if let Some(want) = expected_blake3 {
            if want.as_slice() != ing.blake3.as_slice() {
                self.catalogue.release_chunks(site, &ing.chunks).await;
                return Err(CoreError::BadDigest(format!(
                    "content hashes to {}, the client expected {}",
                    hex::encode(ing.blake3),
                    hex::encode(want)
                )));
            }
        }
        let mut record = ObjectRecord {
            size: ing.size,
            blake3: Some(ing.blake3),
            etag: hex::encode(ing.md5),
            content_type: obj.content_type,
            user_meta: obj.user_meta,
            owner: obj.owner,
            chunks: ing.chunks,
            chunk_size: self.chunk_size as u32,
            policy: String::new(),
            replicas: Vec::new(),
            created_ms: self.now_ms(),
            ingest_site: site,
            version_id: self.new_version_id(),
            parts: 0,
            expires_ms: 0, // set by placement from the rule's lifetime
            tags: obj.tags,
            checksums: obj
                .checksums
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone()
                .into_iter()
                .collect(),
            versioning: Versioning::Off, // the state machine's to decide
            delete_marker: false,
            part_sizes: Vec::new(),
            checksum_type: String::new(),
            file_format: ing.file_format,
            ..Default::default()
        };
        obj.protection.apply(&mut record);
        let chunks = record.chunks.clone();
        let committed = match self.keep_fresh(site, &record.chunks, written).await {
            Ok(()) => {
                self.catalogue
                    .commit_object(&obj.bucket, &obj.key, record, &obj.condition)
                    .await
            }
            Err(e) => Err(e),
        };
        if committed.is_err() {
            // Safe even if the commit did land: only chunks nothing
            // references are queued, and a reference dequeues them.
            self.catalogue.release_chunks(site, &chunks).await;
        }
        committed
    }

    async fn keep_fresh(
        &self,
        site: u32,
        chunks: &[ChunkRef],
        written: std::time::Instant,
    ) -> Result<(), CoreError> {
        let hashes: Vec<ChunkHash> = chunks
            .iter()
            .filter_map(|c| c.hash.as_slice().try_into().ok())
            .collect();
        self.chunks.keep_fresh(site, &hashes, written).await
    }

    /// The verified bytes `[start, end)` of an object, for a reader at `site`.
    pub fn read(
        &self,
        site: u32,
        record: ObjectRecord,
        start: u64,
        end: u64,
    ) -> BoxStream<'static, Result<Bytes, CoreError>> {
        self.read_pieces(site, record, start, end)
            .map_ok(|p| p.data)
            .boxed()
    }

    /// As [`Objects::read`], each piece with the chunk it comes from.
    pub fn read_pieces(
        &self,
        site: u32,
        record: ObjectRecord,
        start: u64,
        end: u64,
    ) -> BoxStream<'static, Result<Piece, CoreError>> {
        let holders: Vec<u32> = record
            .replicas
            .iter()
            .filter(|r| r.state == ReplicaState::Complete)
            .map(|r| r.site)
            .collect();
        // A record read from the catalogue whose chunks do not add up to
        // its size would stream a short or long body under a Content-Length
        // already sent: refuse it before the first byte.
        let listed: u64 = record.chunks.iter().map(|c| u64::from(c.size)).sum();
        if listed != record.size {
            let e = CoreError::Corrupt(format!(
                "the record of version {} lists {listed} bytes of chunks for an object of {}",
                record.version_id, record.size
            ));
            return stream::once(async move { Err(e) }).boxed();
        }
        let end = end.min(record.size);
        // Chunk i covers [offsets[i], offsets[i] + size).
        let mut pieces = Vec::new();
        let mut off = 0u64;
        for c in record.chunks {
            let len = u64::from(c.size);
            let (cs, ce) = (off, off + len);
            off = ce;
            if ce <= start || cs >= end {
                continue;
            }
            let from = start.saturating_sub(cs) as usize;
            let to = (end.min(ce) - cs) as usize;
            pieces.push((c, cs, from, to));
        }
        let chunks = self.chunks.clone();
        let holders = Arc::new(holders);
        stream::iter(pieces)
            .map(move |(c, chunk_offset, from, to)| {
                let chunks = chunks.clone();
                let holders = holders.clone();
                async move {
                    let data = chunks.read_chunk(site, &holders, &c.hash, c.size).await?;
                    Ok(Piece {
                        chunk: c,
                        chunk_offset,
                        offset: chunk_offset + from as u64,
                        data: data.slice(from..to),
                    })
                }
            })
            .buffered(READS_AHEAD)
            .boxed()
    }

    /// The complete replica a reader at `site` reads from first: the one
    /// over the fastest route (the data plane's order), ties by site id.
    pub fn nearest_complete(&self, site: u32, record: &ObjectRecord) -> Option<u32> {
        record
            .replicas
            .iter()
            .filter(|r| r.state == ReplicaState::Complete)
            .map(|r| {
                let bps = self
                    .topology
                    .route(SiteId(r.site), SiteId(site))
                    .map(|route| route.bottleneck_bps)
                    .unwrap_or(0);
                (std::cmp::Reverse(bps), r.site)
            })
            .min()
            .map(|(_, s)| s)
    }

    /// Reads a whole object into its BLAKE3, verifying every chunk on the way.
    async fn hash_chunks(&self, site: u32, chunks: &[ChunkRef]) -> Result<[u8; 32], CoreError> {
        let size: u64 = chunks.iter().map(|c| u64::from(c.size)).sum();
        let record = ObjectRecord {
            size,
            chunks: chunks.to_vec(),
            replicas: vec![meridian_core::records::Replica {
                site,
                state: ReplicaState::Complete,
                verified_at_ms: 0,
                reason: 0,
            }],
            ..Default::default()
        };
        let mut hasher = blake3::Hasher::new();
        let mut s = self.read(site, record, 0, size);
        while let Some(b) = s.try_next().await? {
            hasher.update(&b);
        }
        Ok(*hasher.finalize().as_bytes())
    }

    /// An S3 multipart upload: an upload session of the client API is
    /// not one (its parts are its chunks, written and committed there).
    async fn s3_upload(&self, upload_id: &str) -> Result<MultipartUpload, CoreError> {
        let upload = self.catalogue.upload(upload_id).await?;
        if upload.session.is_some() {
            return Err(CoreError::NoSuchUpload(format!(
                "{upload_id} is an upload session of the client API; write and commit it there"
            )));
        }
        Ok(upload)
    }

    pub async fn create_upload(&self, site: u32, obj: NewObject) -> Result<String, CoreError> {
        check_key(&obj.key)?;
        self.require_bucket(&obj.bucket).await?;
        let upload_id = meridian_core::ids::new_upload_id(self.now_ms());
        self.catalogue
            .create_upload(MultipartUpload {
                upload_id: upload_id.clone(),
                bucket: obj.bucket,
                key: obj.key,
                content_type: obj.content_type,
                user_meta: obj.user_meta,
                created_ms: self.now_ms(),
                ingest_site: site,
                owner: obj.owner,
                checksum_algorithm: obj.checksum_algorithm,
                checksum_type: obj.checksum_type,
                acl: obj.protection.acl,
                lock_mode: obj.protection.lock_mode,
                lock_until_ms: obj.protection.lock_until_ms,
                legal_hold: obj.protection.legal_hold,
                session: None,
            })
            .await?;
        Ok(upload_id)
    }

    /// Stores one part at the upload's ingest site; returns its record
    /// (ETag = hex MD5). `checksums` is filled by the front end once the
    /// body has been read and checked.
    pub async fn upload_part<S, E>(
        &self,
        upload_id: &str,
        part_number: u32,
        body: S,
        expected_len: Option<u64>,
        checksums: BodyChecksums,
    ) -> Result<PartRecord, CoreError>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: std::fmt::Display,
    {
        if !(1..=MAX_PART_NUMBER).contains(&part_number) {
            return Err(CoreError::InvalidArgument(format!(
                "part number {part_number} is outside 1..={MAX_PART_NUMBER}"
            )));
        }
        let upload = self.s3_upload(upload_id).await?;
        let written = self.clock.instant();
        let ing = self.ingest(upload.ingest_site, body, expected_len).await?;
        let part = PartRecord {
            part_number,
            etag: hex::encode(ing.md5),
            size: ing.size,
            chunks: ing.chunks,
            created_ms: self.now_ms(),
            checksums: checksums
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone()
                .into_iter()
                .collect(),
            chaining_value: None,
            file_format: ing.file_format,
        };
        let stored = match self
            .keep_fresh(upload.ingest_site, &part.chunks, written)
            .await
        {
            Ok(()) => self.catalogue.put_part(upload_id, part.clone()).await,
            Err(e) => Err(e),
        };
        if let Err(e) = stored {
            self.catalogue
                .release_chunks(upload.ingest_site, &part.chunks)
                .await;
            return Err(e);
        }
        Ok(part)
    }

    /// Completes an upload from the client's list of (part number, ETag).
    /// Parts must be listed in ascending order, each ETag must match the
    /// stored part, and every part but the last must be at least 5 MiB.
    /// `checksum` makes the object's checksum from the parts used.
    pub async fn complete_upload(
        &self,
        upload_id: &str,
        requested: &[(u32, String)],
        checksum: ObjectChecksum,
    ) -> Result<ObjectRecord, CoreError> {
        let upload = self.s3_upload(upload_id).await?;
        if requested.is_empty() {
            return Err(CoreError::InvalidPart("no parts listed".into()));
        }
        let stored = self.catalogue.list_parts(upload_id).await?;
        let by_number: HashMap<u32, &PartRecord> =
            stored.iter().map(|p| (p.part_number, p)).collect();
        let mut chunks = Vec::new();
        let mut md5s = Md5::new();
        let mut size = 0u64;
        let mut part_sizes = Vec::with_capacity(requested.len());
        let mut used: Vec<&PartRecord> = Vec::with_capacity(requested.len());
        let mut last = 0u32;
        for (i, (num, etag)) in requested.iter().enumerate() {
            if *num <= last {
                return Err(CoreError::InvalidPartOrder(format!(
                    "part {num} listed after part {last}"
                )));
            }
            last = *num;
            let part = by_number
                .get(num)
                .ok_or_else(|| CoreError::InvalidPart(format!("part {num} was not uploaded")))?;
            if etag.trim_matches('"') != part.etag {
                return Err(CoreError::InvalidPart(format!(
                    "part {num}: ETag {etag} does not match"
                )));
            }
            if i + 1 < requested.len() && part.size < MIN_PART_BYTES {
                return Err(CoreError::InvalidArgument(format!(
                    "EntityTooSmall: part {num} is {} bytes; parts but the last are at least {MIN_PART_BYTES}",
                    part.size
                )));
            }
            let md5 = hex::decode(&part.etag)
                .map_err(|e| CoreError::Internal(format!("stored part ETag: {e}")))?;
            md5s.update(&md5);
            size += part.size;
            part_sizes.push(part.size);
            chunks.extend(part.chunks.iter().cloned());
            used.push(*part);
        }
        let checksum = checksum(&upload, &used)?;
        let blake3 = self.hash_chunks(upload.ingest_site, &chunks).await?;
        let record = ObjectRecord {
            size,
            blake3: Some(blake3),
            etag: format!("{}-{}", hex::encode(md5s.finalize()), requested.len()),
            content_type: upload.content_type,
            user_meta: upload.user_meta,
            owner: upload.owner,
            chunks,
            chunk_size: self.chunk_size as u32,
            policy: String::new(),
            replicas: Vec::new(),
            created_ms: self.now_ms(),
            ingest_site: upload.ingest_site,
            version_id: self.new_version_id(),
            parts: requested.len() as u32,
            expires_ms: 0,
            checksums: checksum
                .iter()
                .map(|(alg, value, _)| (alg.clone(), value.clone()))
                .collect(),
            checksum_type: checksum.map(|(_, _, ty)| ty).unwrap_or_default(),
            tags: Default::default(),
            versioning: Versioning::Off, // the state machine's to decide
            delete_marker: false,
            part_sizes,
            acl: upload.acl,
            lock_mode: upload.lock_mode,
            lock_until_ms: upload.lock_until_ms,
            legal_hold: upload.legal_hold,
            file_format: used
                .first()
                .map(|p| p.file_format.clone())
                .unwrap_or_default(),
        };
        self.catalogue.complete_upload(upload_id, record).await
    }
}

/// Parses an S3/HTTP byte range against an object size into `[start, end)`.
pub fn resolve_range(
    size: u64,
    first: Option<u64>,
    last: Option<u64>,
    suffix: Option<u64>,
) -> Result<(u64, u64), CoreError> {
    let unsatisfiable =
        || CoreError::InvalidRange(format!("range not satisfiable for size {size}"));
    match (first, last, suffix) {
        (_, _, Some(n)) => {
            if n == 0 || size == 0 {
                return Err(unsatisfiable());
            }
            Ok((size.saturating_sub(n), size))
        }
        (Some(f), l, None) => {
            if f >= size {
                return Err(unsatisfiable());
            }
            let end = l.map(|l| l.saturating_add(1).min(size)).unwrap_or(size);
            if end <= f {
                return Err(unsatisfiable());
            }
            Ok((f, end))
        }
        (None, _, None) => Ok((0, size)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(
            resolve_range(100, Some(0), Some(9), None).ok(),
            Some((0, 10))
        );
        assert_eq!(
            resolve_range(100, Some(90), None, None).ok(),
            Some((90, 100))
        );
        assert_eq!(
            resolve_range(100, Some(90), Some(1000), None).ok(),
            Some((90, 100))
        );
        assert_eq!(
            resolve_range(100, None, None, Some(10)).ok(),
            Some((90, 100))
        );
        assert_eq!(
            resolve_range(100, None, None, Some(1000)).ok(),
            Some((0, 100))
        );
        assert!(resolve_range(100, Some(100), None, None).is_err());
        assert!(resolve_range(0, None, None, Some(1)).is_err());
    }
}
