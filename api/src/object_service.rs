//! The gRPC client API (`meridian.v1.ObjectService`) over the object
//! service ([`Objects`]). Every call is authenticated and authorized
//! ([`ClientAuth`]) before it reads or writes anything; what a caller
//! writes is theirs.

use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use meridian_proto::v1::object_service_server::ObjectService;
use meridian_proto::v1::*;
use tonic::{Request, Response, Status, Streaming};

use meridian_objects::{NewObject, Objects};

use crate::auth::scope::Access;
use crate::auth::{ClientAuth, Identity};
use crate::{object_info, status};
use meridian_core::catalogue::{ListEntry, ListQuery};
use meridian_core::records::ObjectRecord;
use meridian_core::tracking::{AccessEvent, Action};

/// Data frames of a Get are at most this large.
const FRAME_BYTES: usize = 1 << 20;
/// Frames buffered per Get stream.
const GET_BUFFER: usize = 4;

/// `max_staleness_ms` of a request: 0 asks for a linearizable read.
fn staleness(ms: u32) -> Option<std::time::Duration> {
    (ms > 0).then(|| std::time::Duration::from_millis(u64::from(ms)))
}

pub struct ObjectApi {
    gw: Arc<Objects>,
    auth: Arc<ClientAuth>,
}

impl ObjectApi {
    pub fn new(gw: Arc<Objects>, auth: Arc<ClientAuth>) -> Self {
        ObjectApi { gw, auth }
    }

    /// Queues the access event of one object request of `id`.
    fn track(
        &self,
        id: &Identity,
        what: (Action, &str, &str),
        bytes: u64,
        site: u32,
        code: tonic::Code,
    ) {
        track_on(&self.gw, id, what, bytes, site, code);
    }

    fn sessions(&self) -> crate::sessions::Sessions<'_> {
        crate::sessions::Sessions {
            gw: &self.gw,
            auth: &self.auth,
        }
    }
}

/// Queues the access event of one object request of `id` on `gw`'s log.
fn track_on(
    gw: &Objects,
    id: &Identity,
    (action, bucket, key): (Action, &str, &str),
    bytes: u64,
    site: u32,
    code: tonic::Code,
) {
    if !gw.tracking() {
        return;
    }
    gw.track(AccessEvent {
        time_ms: gw.now_ms(),
        who: match &id.caller {
            meridian_core::access::Caller::Admin => "admin".into(),
            meridian_core::access::Caller::User(u) => u.clone(),
            meridian_core::access::Caller::Anonymous => "anonymous".into(),
        },
        protocol: "grpc",
        action,
        bucket: bucket.to_string(),
        key: key.to_string(),
        bytes,
        site: gw.site_name(site),
        status: 1000 + code as u32,
    });
}

/// The methods' paths, as signatures cover them.
pub mod method {
    pub const CREATE_BUCKET: &str = "/meridian.v1.ObjectService/CreateBucket";
    pub const LIST_BUCKETS: &str = "/meridian.v1.ObjectService/ListBuckets";
    pub const PUT: &str = "/meridian.v1.ObjectService/Put";
    pub const GET: &str = "/meridian.v1.ObjectService/Get";
    pub const STAT: &str = "/meridian.v1.ObjectService/Stat";
    pub const LIST: &str = "/meridian.v1.ObjectService/List";
    pub const DELETE: &str = "/meridian.v1.ObjectService/Delete";
}

type GetStream = Pin<Box<dyn Stream<Item = Result<GetResponse, Status>> + Send>>;

/// `[start, end)` widened to the edges of the chunks it touches.
fn widen(rec: &ObjectRecord, start: u64, end: u64) -> (u64, u64) {
    let (mut from, mut to) = (start, end);
    let mut off = 0u64;
    for c in &rec.chunks {
        let ce = off + u64::from(c.size);
        if off <= start && start < ce {
            from = off;
        }
        if off < end && end <= ce {
            to = ce;
        }
        off = ce;
    }
    (from, to)
}

/// Longest a Put may go without a frame, or a Get's client without taking
/// one, before the call is abandoned (and, for a Put, nothing committed).
const IDLE: std::time::Duration = std::time::Duration::from_secs(60);

/// The data of a client stream's frames after its header (`data` takes a
/// frame's bytes, `None` if it is not a data frame), ending the stream at
/// the first frame that is not data, a failure, or a pause of [`IDLE`].
pub(crate) fn data_frames<T, F>(
    stream: Streaming<T>,
    data: F,
) -> impl Stream<Item = Result<Bytes, String>> + Send
where
    T: Send + 'static,
    F: Fn(T) -> Option<Bytes> + Send + Sync + Copy + 'static,
{
    futures::stream::unfold(Some(stream), move |st| async move {
        let mut st = st?;
        match tokio::time::timeout(IDLE, st.next()).await {
            Err(_) => Some((Err(format!("no data frame for {IDLE:?}")), None)),
            Ok(None) => None,
            Ok(Some(frame)) => {
                let item = match frame.map(data) {
                    Ok(Some(d)) => Ok(d),
                    Ok(None) => Err("expected a data frame after the header".to_string()),
                    Err(s) => Err(format!("client stream failed: {}", s.message())),
                };
                let next = if item.is_ok() { Some(st) } else { None };
                Some((item, next))
            }
        }
    })
}

#[tonic::async_trait]
impl ObjectService for ObjectApi {
    async fn create_bucket(
        &self,
        req: Request<CreateBucketRequest>,
    ) -> Result<Response<CreateBucketResponse>, Status> {
        let id = self.auth.identify(&req, method::CREATE_BUCKET).await?;
        let r = req.into_inner();
        self.auth.may_create_bucket(&id, &r.bucket).await?;
        let site = self.gw.site_id(&r.site).map_err(status)?;
        self.gw
            .create_bucket(&r.bucket, &id.owner(), site, &Default::default())
            .await
            .map_err(status)?;
        Ok(Response::new(CreateBucketResponse {}))
    }

    async fn list_buckets(
        &self,
        req: Request<ListBucketsRequest>,
    ) -> Result<Response<ListBucketsResponse>, Status> {
        let id = self.auth.identify(&req, method::LIST_BUCKETS).await?;
        if let Some(r) = id.resource.as_deref().filter(|r| *r != "/") {
            return Err(Status::permission_denied(format!(
                "the request was signed for {r}, but lists every bucket (/)"
            )));
        }
        let mut buckets = Vec::new();
        // The caller's own and those granted to them; the admin's: all.
        for b in self.gw.catalogue().list_buckets().await.map_err(status)? {
            if self.auth.sees_bucket(&id, &b.name).await {
                buckets.push(BucketInfo {
                    site: self.gw.site_name(b.ingest_site),
                    name: b.name,
                    created_ms: b.created_ms,
                    owner: b.owner,
                });
            }
        }
        Ok(Response::new(ListBucketsResponse { buckets }))
    }

    async fn put(
        &self,
        req: Request<Streaming<PutRequest>>,
    ) -> Result<Response<PutResponse>, Status> {
        let id = self.auth.identify(&req, method::PUT).await?;
        let mut stream = req.into_inner();
        let header = match stream.message().await? {
            Some(PutRequest {
                frame: Some(put_request::Frame::Header(h)),
            }) => h,
            _ => {
                return Err(Status::invalid_argument(
                    "the first frame of Put must be a header",
                ))
            }
        };
        // Decided on the header, before a byte of data is read.
        self.auth
            .authorize(
                &id,
                (&header.bucket, Some(&header.key)),
                "s3:PutObject",
                (Access::Create, &header.key),
            )
            .await?;
        let site = self.gw.site_id(&header.site).map_err(status)?;
        let expected_blake3 = if header.expected_blake3.is_empty() {
            None
        } else {
            Some(
                hex::decode(&header.expected_blake3)
                    .ok()
                    .filter(|b| b.len() == 32)
                    .ok_or_else(|| {
                        Status::invalid_argument("expected_blake3 is not 64 hex digits")
                    })?,
            )
        };
        let obj = NewObject {
            bucket: header.bucket.clone(),
            key: header.key.clone(),
            content_type: header.content_type.clone(),
            user_meta: header.user_meta.clone(),
            owner: id.owner(),
            condition: id.write_condition(&header.bucket, &header.key),
            ..Default::default()
        };
        let put = self
            .gw
            .put_object_checked(
                site,
                obj,
                data_frames(stream, |f: PutRequest| match f.frame {
                    Some(put_request::Frame::Data(d)) => Some(d),
                    _ => None,
                }),
                header.expected_size,
                expected_blake3,
            )
            .await
            .map_err(status);
        let what = (Action::Write, header.bucket.as_str(), header.key.as_str());
        let (bytes, code) = match &put {
            Ok(r) => (r.size, tonic::Code::Ok),
            Err(s) => (0, s.code()),
        };
        self.track(&id, what, bytes, site, code);
        let rec = put?;
        Ok(Response::new(PutResponse {
            info: Some(object_info(
                self.gw.topology(),
                &header.bucket,
                &header.key,
                &rec,
            )),
        }))
    }

    type GetStream = GetStream;

    async fn get(&self, req: Request<GetRequest>) -> Result<Response<GetStream>, Status> {
        let id = self.auth.identify(&req, method::GET).await?;
        let r = req.into_inner();
        self.auth
            .authorize(
                &id,
                (&r.bucket, Some(&r.key)),
                "s3:GetObject",
                (Access::Read, &r.key),
            )
            .await?;
        let site = self.gw.site_id(&r.site).map_err(status)?;
        let rec = self
            .gw
            .catalogue()
            .object(&r.bucket, &r.key)
            .await
            .map_err(status)?;
        let start = r.offset;
        let end = match r.length {
            Some(len) => start.saturating_add(len).min(rec.size),
            None => rec.size,
        };
        if start > rec.size || (start == rec.size && rec.size > 0 && r.length != Some(0)) {
            return Err(Status::out_of_range(format!(
                "offset {start} is past the end ({})",
                rec.size
            )));
        }
        let mut info = object_info(self.gw.topology(), &r.bucket, &r.key, &rec);
        let mut rec = rec;
        if !r.from_site.is_empty() {
            let from = self.gw.site_id(&r.from_site).map_err(status)?;
            rec.replicas.retain(|x| x.site == from);
        }
        match self.gw.nearest_complete(site, &rec) {
            Some(s) => info.read_site = self.gw.site_name(s),
            None if !r.from_site.is_empty() => {
                return Err(Status::failed_precondition(format!(
                    "{} holds no complete replica of {}/{}",
                    r.from_site, r.bucket, r.key
                )))
            }
            None => {}
        }
        let (start, end) = if r.whole_chunks {
            widen(&rec, start, end)
        } else {
            (start, end)
        };
        let body = self.gw.read_pieces(site, rec, start, end);
        let frames = body.flat_map(|piece| {
            let items: Vec<Result<GetResponse, Status>> = match piece {
                Ok(p) => (0..p.data.len())
                    .step_by(FRAME_BYTES)
                    .map(|o| {
                        Ok(GetResponse {
                            frame: Some(get_response::Frame::Chunk(ObjectChunk {
                                data: p.data.slice(o..(o + FRAME_BYTES).min(p.data.len())),
                                offset: p.offset + o as u64,
                                chunk_offset: p.chunk_offset,
                                chunk_size: p.chunk.size,
                                chunk_hash: p.chunk.hash.to_vec(),
                            })),
                        })
                    })
                    .collect(),
                Err(e) => vec![Err(status(e))],
            };
            futures::stream::iter(items)
        });
        let first = futures::stream::once(async move {
            Ok(GetResponse {
                frame: Some(get_response::Frame::Info(info)),
            })
        });
        // A bounded channel decouples the client's pace from chunk reads.
        let (tx, rx) = tokio::sync::mpsc::channel(GET_BUFFER);
        let mut all = Box::pin(first.chain(frames));
        let gw = self.gw.clone();
        tokio::spawn(async move {
            // What reached the client, for the access log.
            let (mut sent, mut code) = (0u64, tonic::Code::Ok);
            while let Some(item) = all.next().await {
                let stop = item.is_err();
                let bytes = match &item {
                    Ok(GetResponse {
                        frame: Some(get_response::Frame::Chunk(c)),
                    }) => c.data.len() as u64,
                    Ok(_) => 0,
                    Err(s) => {
                        code = s.code();
                        0
                    }
                };
                if tx.send_timeout(item, IDLE).await.is_err() {
                    code = tonic::Code::Cancelled;
                    break;
                }
                sent += bytes;
                if stop {
                    break;
                }
            }
            track_on(
                &gw,
                &id,
                (Action::Read, &r.bucket, &r.key),
                sent,
                site,
                code,
            );
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }

    async fn stat(&self, req: Request<StatRequest>) -> Result<Response<ObjectInfo>, Status> {
        let id = self.auth.identify(&req, method::STAT).await?;
        let r = req.into_inner();
        self.auth
            .authorize(
                &id,
                (&r.bucket, Some(&r.key)),
                "s3:GetObject",
                (Access::Read, &r.key),
            )
            .await?;
        let catalogue = self.gw.catalogue();
        let rec = match staleness(r.max_staleness_ms) {
            Some(max) => catalogue.object_within(&r.bucket, &r.key, max).await,
            None => catalogue.object(&r.bucket, &r.key).await,
        }
        .map_err(status)?;
        Ok(Response::new(object_info(
            self.gw.topology(),
            &r.bucket,
            &r.key,
            &rec,
        )))
    }

    async fn list(&self, req: Request<ListRequest>) -> Result<Response<ListResponse>, Status> {
        let id = self.auth.identify(&req, method::LIST).await?;
        let r = req.into_inner();
        self.auth
            .authorize(
                &id,
                (&r.bucket, None),
                "s3:ListBucket",
                (Access::Read, &r.prefix),
            )
            .await?;
        let max_keys = match r.page_size {
            0 => 1000,
            n => n.min(1000) as usize,
        };
        let query_bucket = r.bucket.clone();
        let query = ListQuery {
            bucket: r.bucket,
            prefix: r.prefix,
            delimiter: None,
            start_after: if r.page_token.is_empty() {
                None
            } else {
                Some(r.page_token)
            },
            max_keys,
        };
        let catalogue = self.gw.catalogue();
        let page = match staleness(r.max_staleness_ms) {
            Some(max) => catalogue.list_objects_within(&query, max).await,
            None => catalogue.list_objects(&query).await,
        }
        .map_err(status)?;
        // A token's scope is a directory: a prefix that is not one ("raw"
        // under storage.read:/b/raw) would list "rawdata" too.
        let in_scope = |key: &str| {
            id.scopes
                .as_ref()
                .is_none_or(|s| s.allows(Access::Read, &query_bucket, key))
        };
        let objects = page
            .entries
            .into_iter()
            .filter_map(|e| match e {
                ListEntry::Object { key, record } if in_scope(&key) => Some(ObjectSummary {
                    key,
                    size: record.size,
                    etag: record.etag,
                    created_ms: record.created_ms,
                }),
                ListEntry::Object { .. } | ListEntry::Prefix(_) => None,
            })
            .collect();
        Ok(Response::new(ListResponse {
            objects,
            next_page_token: page.next_after.unwrap_or_default(),
        }))
    }

    async fn delete(
        &self,
        req: Request<DeleteRequest>,
    ) -> Result<Response<DeleteResponse>, Status> {
        let id = self.auth.identify(&req, method::DELETE).await?;
        let r = req.into_inner();
        self.auth
            .authorize(
                &id,
                (&r.bucket, Some(&r.key)),
                "s3:DeleteObject",
                (Access::Modify, &r.key),
            )
            .await?;
        let deleted = self
            .gw
            .catalogue()
            .delete_object(&r.bucket, &r.key)
            .await
            .map_err(status);
        let code = deleted.as_ref().err().map_or(tonic::Code::Ok, |s| s.code());
        let hub = self.gw.site_id("").map_err(status)?;
        self.track(&id, (Action::Delete, &r.bucket, &r.key), 0, hub, code);
        deleted?;
        Ok(Response::new(DeleteResponse {}))
    }

    async fn begin_upload(
        &self,
        req: Request<BeginUploadRequest>,
    ) -> Result<Response<UploadStatus>, Status> {
        self.sessions().begin(req).await.map(Response::new)
    }

    async fn write_upload(
        &self,
        req: Request<Streaming<UploadWriteRequest>>,
    ) -> Result<Response<UploadWriteResponse>, Status> {
        self.sessions()
            .write(self.gw.clone(), req)
            .await
            .map(Response::new)
    }

    async fn get_upload_status(
        &self,
        req: Request<UploadRef>,
    ) -> Result<Response<UploadStatus>, Status> {
        self.sessions().status(req).await.map(Response::new)
    }

    async fn commit_upload(
        &self,
        req: Request<UploadRef>,
    ) -> Result<Response<PutResponse>, Status> {
        self.sessions().commit(req).await.map(Response::new)
    }

    async fn abort_upload(
        &self,
        req: Request<UploadRef>,
    ) -> Result<Response<AbortUploadResponse>, Status> {
        self.sessions().abort(req).await.map(Response::new)
    }

    type WaitReplicatedStream = crate::wait::ProgressStream;

    async fn wait_replicated(
        &self,
        req: Request<WaitReplicatedRequest>,
    ) -> Result<Response<Self::WaitReplicatedStream>, Status> {
        let id = self.auth.identify(&req, crate::wait::METHOD).await?;
        let r = req.into_inner();
        self.auth
            .authorize(
                &id,
                (&r.bucket, Some(&r.key)),
                "s3:GetObject",
                (Access::Read, &r.key),
            )
            .await?;
        let timeout = crate::wait::timeout_of(&r)?;
        let rec = self
            .gw
            .catalogue()
            .object(&r.bucket, &r.key)
            .await
            .map_err(status)?;
        Ok(Response::new(crate::wait::watch(
            self.gw.clone(),
            r,
            rec,
            timeout,
        )))
    }
}
