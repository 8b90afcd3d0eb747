//! Upload sessions over gRPC: begin, write streams, status, commit, abort
//! (`meridian_objects`' sessions). A session is its owner's: every call
//! on it is authorized as a write of its key by the caller, who must be
//! the one who began it (or the administrator).

use std::time::Duration;

use meridian_core::access::Caller;
use meridian_core::records::MultipartUpload;
use meridian_objects::{NewObject, Objects, SessionStatus};
use meridian_proto::v1::*;
use tonic::{Request, Status, Streaming};

use crate::auth::scope::Access;
use crate::auth::{ClientAuth, Identity};
use crate::object_service::data_frames;
use crate::{object_info, status};

/// A session's idle time unless the client asks for another.
const DEFAULT_IDLE: Duration = Duration::from_secs(24 * 3600);
/// The longest idle time a client may ask for.
const MAX_IDLE: Duration = Duration::from_secs(7 * 24 * 3600);
/// Longest a write stream may wait for its header.
const IDLE_FRAME: Duration = Duration::from_secs(60);

pub mod method {
    pub const BEGIN: &str = "/meridian.v1.ObjectService/BeginUpload";
    pub const WRITE: &str = "/meridian.v1.ObjectService/WriteUpload";
    pub const STATUS: &str = "/meridian.v1.ObjectService/GetUploadStatus";
    pub const COMMIT: &str = "/meridian.v1.ObjectService/CommitUpload";
    pub const ABORT: &str = "/meridian.v1.ObjectService/AbortUpload";
}

fn to_wire(s: &SessionStatus) -> UploadStatus {
    UploadStatus {
        upload_id: s.upload.upload_id.clone(),
        bucket: s.upload.bucket.clone(),
        key: s.upload.key.clone(),
        size: s.session.size,
        blake3: hex::encode(s.session.blake3),
        chunk_size: s.session.chunk_size,
        durable_bytes: s.durable,
        missing: s
            .missing
            .iter()
            .map(|(start, end)| ByteRange {
                start: *start,
                end: *end,
            })
            .collect(),
        created_ms: s.upload.created_ms,
        expires_ms: s.session.expires_ms(),
    }
}

fn blake3_of(hex_text: &str) -> Result<[u8; 32], Status> {
    hex::decode(hex_text)
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .ok_or_else(|| Status::invalid_argument("blake3 must be 64 hex digits"))
}

pub struct Sessions<'a> {
    pub gw: &'a Objects,
    pub auth: &'a ClientAuth,
}

impl Sessions<'_> {
    pub async fn begin(&self, req: Request<BeginUploadRequest>) -> Result<UploadStatus, Status> {
        let id = self.auth.identify(&req, method::BEGIN).await?;
        let r = req.into_inner();
        self.auth
            .authorize(
                &id,
                (&r.bucket, Some(&r.key)),
                "s3:PutObject",
                (Access::Create, &r.key),
            )
            .await?;
        let blake3 = blake3_of(&r.blake3)?;
        let idle = match r.idle_seconds {
            0 => DEFAULT_IDLE,
            s => Duration::from_secs(u64::from(s)),
        };
        if idle > MAX_IDLE {
            return Err(Status::invalid_argument(format!(
                "idle_seconds is at most {}",
                MAX_IDLE.as_secs()
            )));
        }
        let site = self.gw.site_id(&r.site).map_err(status)?;
        let obj = NewObject {
            bucket: r.bucket,
            key: r.key,
            content_type: r.content_type,
            user_meta: r.user_meta,
            owner: id.owner(),
            ..Default::default()
        };
        let upload = self
            .gw
            .begin_session(site, obj, (r.size, blake3), idle)
            .await
            .map_err(status)?;
        self.status_of(upload).await
    }

    /// The session, if `id` may write it.
    async fn owned(&self, id: &Identity, upload_id: &str) -> Result<MultipartUpload, Status> {
        let upload = self.gw.session(upload_id).await.map_err(status)?;
        self.auth
            .authorize(
                id,
                (&upload.bucket, Some(&upload.key)),
                "s3:PutObject",
                (Access::Create, &upload.key),
            )
            .await?;
        if id.caller != Caller::Admin && upload.owner != id.owner() {
            return Err(Status::permission_denied(format!(
                "upload {upload_id} is {}'s, not {}'s",
                upload.owner,
                id.owner()
            )));
        }
        Ok(upload)
    }

    async fn status_of(&self, upload: MultipartUpload) -> Result<UploadStatus, Status> {
        let s = self.gw.session_status(upload).await.map_err(status)?;
        Ok(to_wire(&s))
    }

    pub async fn status(&self, req: Request<UploadRef>) -> Result<UploadStatus, Status> {
        let id = self.auth.identify(&req, method::STATUS).await?;
        let r = req.into_inner();
        let upload = self.owned(&id, &r.upload_id).await?;
        self.status_of(upload).await
    }

    pub async fn abort(&self, req: Request<UploadRef>) -> Result<AbortUploadResponse, Status> {
        let id = self.auth.identify(&req, method::ABORT).await?;
        let r = req.into_inner();
        let upload = self.owned(&id, &r.upload_id).await?;
        self.gw.abort_session(&upload).await.map_err(status)?;
        Ok(AbortUploadResponse {})
    }

    pub async fn commit(&self, req: Request<UploadRef>) -> Result<PutResponse, Status> {
        let id = self.auth.identify(&req, method::COMMIT).await?;
        let r = req.into_inner();
        let upload = match self.owned(&id, &r.upload_id).await {
            Ok(u) => u,
            // A commit retried after its answer was lost.
            Err(s) if s.code() == tonic::Code::NotFound => {
                return self.committed(&id, &r.upload_id).await
            }
            Err(s) => return Err(s),
        };
        let condition = id.write_condition(&upload.bucket, &upload.key);
        let rec = self
            .gw
            .commit_session(&upload, &condition)
            .await
            .map_err(status)?;
        Ok(PutResponse {
            info: Some(object_info(
                self.gw.topology(),
                &upload.bucket,
                &upload.key,
                &rec,
            )),
        })
    }

    /// The answer to a retried commit, only to whom the first would be:
    /// the session's owner, with the right that committed it (a write-only
    /// token's commit whose answer was lost is answered, not refused a read).
    async fn committed(&self, id: &Identity, upload_id: &str) -> Result<PutResponse, Status> {
        let (done, rec) = self.gw.committed_session(upload_id).await.map_err(status)?;
        self.auth
            .authorize_made(
                id,
                (&done.bucket, Some(&done.key)),
                "s3:PutObject",
                (Access::Create, &done.key),
            )
            .await?;
        if id.caller != Caller::Admin && rec.owner != id.owner() {
            return Err(Status::not_found(format!("NoSuchUpload: {upload_id}")));
        }
        Ok(PutResponse {
            info: Some(object_info(
                self.gw.topology(),
                &done.bucket,
                &done.key,
                &rec,
            )),
        })
    }

    /// A write stream: the header names the session and the offset, the
    /// data follows. The stream is carried by a task of its own, so that a
    /// client gone mid-stream still has every whole chunk it sent recorded.
    pub async fn write(
        &self,
        gw: std::sync::Arc<Objects>,
        req: Request<Streaming<UploadWriteRequest>>,
    ) -> Result<UploadWriteResponse, Status> {
        let id = self.auth.identify(&req, method::WRITE).await?;
        let mut stream = req.into_inner();
        let header = match tokio::time::timeout(IDLE_FRAME, stream.message()).await {
            Ok(Ok(Some(UploadWriteRequest {
                frame: Some(upload_write_request::Frame::Header(h)),
            }))) => h,
            Ok(Err(s)) => return Err(s),
            Err(_) => return Err(Status::deadline_exceeded("no header frame")),
            _ => {
                return Err(Status::invalid_argument(
                    "the first frame of WriteUpload must be a header",
                ))
            }
        };
        let upload = self.owned(&id, &header.upload_id).await?;
        let offset = header.offset;
        let task = tokio::spawn(async move {
            let body = data_frames(stream, |f: UploadWriteRequest| match f.frame {
                Some(upload_write_request::Frame::Data(d)) => Some(d),
                _ => None,
            });
            gw.write_session(&upload, offset, body).await
        });
        let done = task
            .await
            .map_err(|e| Status::internal(format!("write task: {e}")))?;
        match done {
            Ok(w) => Ok(UploadWriteResponse {
                chunks_written: w.chunks,
                bytes_written: w.bytes,
                discarded_bytes: w.discarded,
                status: Some(
                    self.status_of(self.gw.session(&header.upload_id).await.map_err(status)?)
                        .await?,
                ),
            }),
            Err(f) => {
                let s = status(f.error);
                Err(Status::new(
                    s.code(),
                    format!(
                        "{} ({} chunks, {} bytes recorded by this stream; ask GetUploadStatus where to resume)",
                        s.message(),
                        f.written.chunks,
                        f.written.bytes
                    ),
                ))
            }
        }
    }
}
