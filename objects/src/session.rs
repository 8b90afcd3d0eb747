//! Upload sessions: an object declared (size, BLAKE3) at the start, written
//! by streams that each start at a chunk of the grid, every chunk recorded
//! in the catalogue as soon as it is durable, and committed once every
//! chunk is there and the chunks hash to what was declared
//! (`meridian_core::session`). A writer cut off resumes at the first chunk
//! the session lacks; a session left idle is aborted by the node's
//! abandoned-upload job, and its chunks reclaimed.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::future::{BoxFuture, FutureExt};
use futures::stream::FuturesUnordered;
use futures::{Stream, StreamExt};
use meridian_core::catalogue::WriteCondition;
use meridian_core::chunks::Chunk;
use meridian_core::names::check_key;
use meridian_core::records::{
    ChunkRef, CompletedUpload, MultipartUpload, ObjectRecord, PartRecord, Versioning,
};
use meridian_core::session::{chaining_value, object_hash, UploadSession};
use meridian_core::CoreError;
use meridian_placement::SiteId;

use crate::{NewObject, Objects};

/// Chunks of one stream being hashed, stored and recorded at once: enough
/// to overlap the network with fsync and the catalogue's commit, and a
/// bound on memory of `chunk_size * (SESSION_WRITES + 1)` per stream.
const SESSION_WRITES: usize = 4;

/// What a session's stream made durable.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Written {
    /// Chunks recorded by this stream.
    pub chunks: u64,
    pub bytes: u64,
    /// Bytes received after the last whole chunk, not kept: the stream
    /// ended or broke inside a chunk.
    pub discarded: u64,
}

/// Where a session stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionStatus {
    pub upload: MultipartUpload,
    pub session: UploadSession,
    /// Bytes of recorded chunks.
    pub durable: u64,
    /// Byte ranges `[start, end)` still to write, in order.
    pub missing: Vec<(u64, u64)>,
}

/// A session's stream that ended in an error, with what it had made
/// durable before it did (kept: the session resumes from there).
#[derive(Debug)]
pub struct WriteFailed {
    pub written: Written,
    pub error: CoreError,
}

fn session_of(upload: &MultipartUpload) -> Result<UploadSession, CoreError> {
    upload.session.clone().ok_or_else(|| {
        CoreError::NoSuchUpload(format!(
            "{} is an S3 multipart upload, not an upload session",
            upload.upload_id
        ))
    })
}

impl Objects {
    /// Begins a session for `size` bytes hashing to `blake3` at `site`;
    /// aborted after `idle` without a chunk recorded.
    pub async fn begin_session(
        &self,
        site: u32,
        obj: NewObject,
        (size, blake3): (u64, [u8; 32]),
        idle: Duration,
    ) -> Result<MultipartUpload, CoreError> {
        check_key(&obj.key)?;
        if self.topology.site(SiteId(site)).is_none() {
            return Err(CoreError::UnknownSite(format!("site {site}")));
        }
        self.require_bucket(&obj.bucket).await?;
        let now = self.now_ms();
        let idle_ms = i64::try_from(idle.as_millis()).unwrap_or(i64::MAX);
        let chunk_size = u32::try_from(self.chunk_size)
            .map_err(|_| CoreError::Internal("chunk size above 4 GiB".into()))?;
        let session = UploadSession::new(size, blake3, chunk_size, idle_ms, now)?;
        let upload = MultipartUpload {
            upload_id: meridian_core::ids::new_upload_id(now),
            bucket: obj.bucket,
            key: obj.key,
            content_type: obj.content_type,
            user_meta: obj.user_meta,
            created_ms: now,
            ingest_site: site,
            owner: obj.owner,
            acl: obj.protection.acl,
            lock_mode: obj.protection.lock_mode,
            lock_until_ms: obj.protection.lock_until_ms,
            legal_hold: obj.protection.legal_hold,
            session: Some(session),
            ..Default::default()
        };
        self.catalogue.create_upload(upload.clone()).await?;
        Ok(upload)
    }

    /// A session by id: `NoSuchUpload` if absent, ended, or an S3 upload.
    pub async fn session(&self, upload_id: &str) -> Result<MultipartUpload, CoreError> {
        let upload = self.catalogue.upload(upload_id).await?;
        session_of(&upload)?;
        Ok(upload)
    }

    /// Where a session (as just read) stands: its chunks recorded so far.
    pub async fn session_status(
        &self,
        upload: MultipartUpload,
    ) -> Result<SessionStatus, CoreError> {
        let session = session_of(&upload)?;
        let parts = self.catalogue.list_parts(&upload.upload_id).await?;
        let missing = session.missing(&parts);
        let durable = session.size - missing.iter().map(|(s, e)| e - s).sum::<u64>();
        Ok(SessionStatus {
            upload,
            session,
            durable,
            missing,
        })
    }

    /// Writes `body` into the session from `offset` (on the chunk grid),
    /// recording each chunk as it becomes durable. A body that breaks keeps
    /// every whole chunk received before the break.
    pub async fn write_session<S, E>(
        &self,
        upload: &MultipartUpload,
        offset: u64,
        body: S,
    ) -> Result<Written, WriteFailed>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: std::fmt::Display,
    {
        let mut written = Written::default();
        let mut in_flight = FuturesUnordered::new();
        let r = self
            .write_session_into(upload, offset, body, &mut written, &mut in_flight)
            .await;
        // What is in flight was received whole: let it finish and count.
        let mut first_err = r.err();
        while let Some(done) = in_flight.next().await {
            match done {
                Ok(len) => {
                    written.chunks += 1;
                    written.bytes += u64::from(len);
                }
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        match first_err {
            None => Ok(written),
            Some(error) => Err(WriteFailed { written, error }),
        }
    }

    async fn write_session_into<S, E>(
        &self,
        upload: &MultipartUpload,
        offset: u64,
        body: S,
        written: &mut Written,
        in_flight: &mut FuturesUnordered<BoxFuture<'static, Result<u32, CoreError>>>,
    ) -> Result<(), CoreError>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: std::fmt::Display,
    {
        let session = session_of(upload)?;
        let mut index = session.chunk_at(offset)?;
        let mut body = std::pin::pin!(body);
        let mut want = session.chunk_len(index).unwrap_or(0) as usize;
        let mut buf = BytesMut::with_capacity(want);
        loop {
            // Chunks in flight go on while the next frame is awaited: a
            // stream that falls silent (a network that stalls) still has
            // every whole chunk it sent recorded.
            let next = tokio::select! {
                Some(done) = in_flight.next(), if !in_flight.is_empty() => {
                    let len = done?;
                    written.chunks += 1;
                    written.bytes += u64::from(len);
                    continue;
                }
                next = body.next() => next,
            };
            let frame = match next {
                None => break,
                Some(Ok(f)) => f,
                Some(Err(e)) => {
                    written.discarded = buf.len() as u64;
                    return Err(CoreError::IncompleteBody(format!(
                        "body stream failed: {e}"
                    )));
                }
            };
            let mut data = frame;
            while !data.is_empty() {
                if want == 0 {
                    return Err(CoreError::InvalidArgument(format!(
                        "the stream runs past the end of the {}-byte object",
                        session.size
                    )));
                }
                let take = (want - buf.len()).min(data.len());
                buf.extend_from_slice(&data.split_to(take));
                if buf.len() == want {
                    let chunk = std::mem::take(&mut buf).freeze();
                    in_flight.push(self.record_chunk(upload, &session, index, chunk).boxed());
                    index += 1;
                    want = session.chunk_len(index).unwrap_or(0) as usize;
                    buf = BytesMut::with_capacity(want);
                    while in_flight.len() >= SESSION_WRITES {
                        if let Some(done) = in_flight.next().await {
                            let len = done?;
                            written.chunks += 1;
                            written.bytes += u64::from(len);
                        }
                    }
                }
            }
        }
        written.discarded = buf.len() as u64;
        Ok(())
    }

    /// Hashes, stores and records chunk `index` of the session.
    fn record_chunk(
        &self,
        upload: &MultipartUpload,
        session: &UploadSession,
        index: u64,
        data: Bytes,
    ) -> impl std::future::Future<Output = Result<u32, CoreError>> + Send + 'static {
        let store = self.chunks.clone();
        let catalogue = self.catalogue.clone();
        let clock = self.clock.clone();
        let site = upload.ingest_site;
        let upload_id = upload.upload_id.clone();
        let offset = session.chunk_offset(index);
        async move {
            let written = clock.instant();
            let (chunk, cv, file_format) = tokio::task::spawn_blocking(move || {
                let cv = chaining_value(&data, offset);
                // The object's format shows in its first chunk only.
                let format = if offset == 0 {
                    crate::service::file_format(&data)
                } else {
                    String::new()
                };
                (Chunk::hash_of(data), cv, format)
            })
            .await
            .map_err(|e| CoreError::Internal(format!("hash task: {e}")))?;
            let size = chunk.len() as u32;
            let r = ChunkRef {
                hash: *chunk.hash(),
                size,
            };
            store.put_chunk(site, chunk).await?;
            store.keep_fresh(site, &[r.hash], written).await?;
            let part = PartRecord {
                part_number: u32::try_from(index + 1)
                    .map_err(|_| CoreError::Internal(format!("chunk {index} out of range")))?,
                etag: String::new(),
                size: u64::from(size),
                chunks: vec![r],
                created_ms: clock.now_ms(),
                checksums: Default::default(),
                chaining_value: Some(cv),
                file_format,
            };
            if let Err(e) = catalogue.put_part(&upload_id, part).await {
                catalogue.release_chunks(site, &[r]).await;
                return Err(e);
            }
            Ok(size)
        }
    }

    /// Commits the session as its object once every chunk is recorded and
    /// they hash to the declared BLAKE3; commits nothing otherwise, and the
    /// session stays (to write again or abort). A commit retried after its
    /// answer was lost gets the object it made.
    pub async fn commit_session(
        &self,
        upload: &MultipartUpload,
        condition: &WriteCondition,
    ) -> Result<ObjectRecord, CoreError> {
        let upload_id = upload.upload_id.as_str();
        let session = session_of(upload)?;
        let mut parts = self.catalogue.list_parts(upload_id).await?;
        let missing = session.missing(&parts);
        if !missing.is_empty() {
            let bytes: u64 = missing.iter().map(|(s, e)| e - s).sum();
            return Err(CoreError::IncompleteBody(format!(
                "the session lacks {bytes} of its {} bytes, first [{}, {})",
                session.size, missing[0].0, missing[0].1
            )));
        }
        parts.sort_by_key(|p| p.part_number);
        let mut pairs = Vec::with_capacity(parts.len());
        let mut chunks = Vec::with_capacity(parts.len());
        for p in &parts {
            let (Some(cv), [c]) = (p.chaining_value, p.chunks.as_slice()) else {
                return Err(CoreError::Internal(format!(
                    "chunk {} of session {upload_id} is recorded without its chaining value",
                    p.part_number
                )));
            };
            pairs.push((c.hash, cv));
            chunks.push(*c);
        }
        let blake3 = object_hash(session.chunk_size, session.size, &pairs);
        if blake3 != session.blake3 {
            return Err(CoreError::BadDigest(format!(
                "the session's chunks hash to {}, it declared {}; nothing committed (write the file again, or abort)",
                hex::encode(blake3),
                hex::encode(session.blake3)
            )));
        }
        let upload = upload.clone();
        let record = ObjectRecord {
            size: session.size,
            blake3: Some(blake3),
            // Not an MD5, as a multipart upload's ETag is not: the object
            // is written in parallel, never read in one pass.
            etag: format!("{}-{}", hex::encode(&blake3[..16]), chunks.len()),
            content_type: upload.content_type,
            user_meta: upload.user_meta,
            owner: upload.owner,
            chunks,
            chunk_size: session.chunk_size,
            created_ms: self.now_ms(),
            ingest_site: upload.ingest_site,
            version_id: self.new_version_id(),
            versioning: Versioning::Off, // the state machine's to decide
            acl: upload.acl,
            lock_mode: upload.lock_mode,
            lock_until_ms: upload.lock_until_ms,
            legal_hold: upload.legal_hold,
            file_format: parts
                .first()
                .map(|p| p.file_format.clone())
                .unwrap_or_default(),
            ..Default::default()
        };
        // The catalogue's completion has no condition of its own: the
        // key is checked as late as it can be, just before it.
        let current = match condition {
            WriteCondition::Always => None,
            _ => match self.catalogue.object(&upload.bucket, &upload.key).await {
                Ok(r) => Some(r),
                Err(CoreError::NoSuchKey(_)) | Err(CoreError::DeleteMarker(_)) => None,
                Err(e) => return Err(e),
            },
        };
        match (condition, current) {
            (WriteCondition::Always, _) | (WriteCondition::IfAbsent, None) => {}
            (WriteCondition::IfEtag(want), Some(cur)) if cur.etag == *want => {}
            (WriteCondition::IfAbsent, Some(_)) => {
                return Err(CoreError::PreconditionFailed(format!(
                    "{}/{} exists",
                    upload.bucket, upload.key
                )))
            }
            (WriteCondition::IfEtag(want), _) => {
                return Err(CoreError::PreconditionFailed(format!(
                    "{}/{} does not have ETag {want}",
                    upload.bucket, upload.key
                )))
            }
        }
        self.catalogue.complete_upload(upload_id, record).await
    }

    /// What a session already committed made, for a commit retried after
    /// its answer was lost: the completion's record (bucket, key) and the
    /// object, if the key still holds that version.
    pub async fn committed_session(
        &self,
        upload_id: &str,
    ) -> Result<(CompletedUpload, ObjectRecord), CoreError> {
        let Some(done) = self.catalogue.completed_upload(upload_id).await? else {
            return Err(CoreError::NoSuchUpload(upload_id.to_string()));
        };
        let rec = self.catalogue.object(&done.bucket, &done.key).await?;
        if rec.version_id != done.version_id {
            return Err(CoreError::NoSuchUpload(format!(
                "session {upload_id} was committed, and {}/{} has been written since",
                done.bucket, done.key
            )));
        }
        Ok((done, rec))
    }

    /// Ends a session without an object; its chunks go to reclamation.
    pub async fn abort_session(&self, upload: &MultipartUpload) -> Result<(), CoreError> {
        session_of(upload)?;
        self.catalogue.abort_upload(&upload.upload_id).await
    }
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
