//! Clients of the gRPC client API, signing every call with an access key
//! (as any client must), over plain HTTP/2 or TLS.

use anyhow::{Context, Result};
use meridian_api::auth::client::SigningChannel;
use meridian_proto::v1::object_service_client::ObjectServiceClient;
use tonic::transport::{Channel, Endpoint};

pub use meridian_api::auth::client::with_resource;

/// The client API, each call signed.
pub type Client = ObjectServiceClient<SigningChannel<Channel>>;

/// Largest message either way (a Put's data frames are 1 MiB or less).
const MAX_MESSAGE: usize = 16 << 20;

/// A client of the API at `endpoint` signing with `access_key`.
pub async fn client_on(endpoint: Endpoint, access_key: &str, secret: &str) -> Result<Client> {
    let what = endpoint.uri().to_string();
    let channel = endpoint
        .connect()
        .await
        .with_context(|| format!("connecting to the gRPC client API at {what}"))?;
    Ok(ObjectServiceClient::new(SigningChannel::new(
        channel,
        access_key,
        secret,
        meridian_core::clock::system(),
    ))
    .max_decoding_message_size(MAX_MESSAGE)
    .max_encoding_message_size(MAX_MESSAGE))
}

/// A client at `endpoint` (http://...) signing with `access_key`.
pub async fn client(endpoint: &str, access_key: &str, secret: &str) -> Result<Client> {
    client_on(
        Endpoint::from_shared(endpoint.to_string())?,
        access_key,
        secret,
    )
    .await
}

/// A client at `endpoint` signing with the administrator's key.
pub async fn root_client(endpoint: &str) -> Result<Client> {
    client(
        endpoint,
        crate::s3::ROOT_ACCESS_KEY,
        crate::s3::ROOT_SECRET_KEY,
    )
    .await
}

/// The client API's calls, each with the resource it acts on set for the
/// signature (as a client library does).
pub struct Api(pub Client);

type Answer<T> = std::result::Result<tonic::Response<T>, tonic::Status>;

impl Api {
    pub async fn connect(endpoint: &str) -> Result<Api> {
        Ok(Api(root_client(endpoint).await?))
    }

    pub async fn create_bucket(
        &mut self,
        r: meridian_proto::v1::CreateBucketRequest,
    ) -> Answer<meridian_proto::v1::CreateBucketResponse> {
        let b = r.bucket.clone();
        self.0.create_bucket(with_resource(r, &b, None)).await
    }

    pub async fn list_buckets(
        &mut self,
        r: meridian_proto::v1::ListBucketsRequest,
    ) -> Answer<meridian_proto::v1::ListBucketsResponse> {
        self.0.list_buckets(with_resource(r, "", None)).await
    }

    /// Frames: a header first, then data.
    pub async fn put(
        &mut self,
        frames: Vec<meridian_proto::v1::PutRequest>,
    ) -> Answer<meridian_proto::v1::PutResponse> {
        use meridian_proto::v1::put_request::Frame;
        let (b, k) = match frames.first().and_then(|f| f.frame.as_ref()) {
            Some(Frame::Header(h)) => (h.bucket.clone(), h.key.clone()),
            _ => (String::new(), String::new()),
        };
        let req = with_resource(futures_stream(frames), &b, Some(&k));
        self.0.put(req).await
    }

    pub async fn get(
        &mut self,
        r: meridian_proto::v1::GetRequest,
    ) -> Answer<tonic::Streaming<meridian_proto::v1::GetResponse>> {
        let (b, k) = (r.bucket.clone(), r.key.clone());
        self.0.get(with_resource(r, &b, Some(&k))).await
    }

    pub async fn stat(
        &mut self,
        r: meridian_proto::v1::StatRequest,
    ) -> Answer<meridian_proto::v1::ObjectInfo> {
        let (b, k) = (r.bucket.clone(), r.key.clone());
        self.0.stat(with_resource(r, &b, Some(&k))).await
    }

    pub async fn list(
        &mut self,
        r: meridian_proto::v1::ListRequest,
    ) -> Answer<meridian_proto::v1::ListResponse> {
        let b = r.bucket.clone();
        self.0.list(with_resource(r, &b, None)).await
    }

    pub async fn delete(
        &mut self,
        r: meridian_proto::v1::DeleteRequest,
    ) -> Answer<meridian_proto::v1::DeleteResponse> {
        let (b, k) = (r.bucket.clone(), r.key.clone());
        self.0.delete(with_resource(r, &b, Some(&k))).await
    }
}

/// Session calls: each signed for the session's object (`bucket`/`key`).
impl Api {
    pub async fn begin_upload(
        &mut self,
        r: meridian_proto::v1::BeginUploadRequest,
    ) -> Answer<meridian_proto::v1::UploadStatus> {
        let (b, k) = (r.bucket.clone(), r.key.clone());
        self.0.begin_upload(with_resource(r, &b, Some(&k))).await
    }

    /// A write stream from `offset`: `data` in frames of `frame` bytes.
    pub async fn write_upload(
        &mut self,
        (bucket, key, upload_id): (&str, &str, &str),
        offset: u64,
        data: &[u8],
        frame: usize,
    ) -> Answer<meridian_proto::v1::UploadWriteResponse> {
        use meridian_proto::v1::UploadWriteRequest as W;
        use meridian_proto::v1::{upload_write_request::Frame, UploadWriteHeader};
        let mut frames = vec![W {
            frame: Some(Frame::Header(UploadWriteHeader {
                upload_id: upload_id.into(),
                offset,
            })),
        }];
        frames.extend(data.chunks(frame.max(1)).map(|c| W {
            frame: Some(Frame::Data(bytes::Bytes::copy_from_slice(c))),
        }));
        let req = with_resource(futures_stream(frames), bucket, Some(key));
        self.0.write_upload(req).await
    }

    pub async fn upload_status(
        &mut self,
        (bucket, key, upload_id): (&str, &str, &str),
    ) -> Answer<meridian_proto::v1::UploadStatus> {
        let r = meridian_proto::v1::UploadRef {
            upload_id: upload_id.into(),
        };
        self.0
            .get_upload_status(with_resource(r, bucket, Some(key)))
            .await
    }

    pub async fn commit_upload(
        &mut self,
        (bucket, key, upload_id): (&str, &str, &str),
    ) -> Answer<meridian_proto::v1::PutResponse> {
        let r = meridian_proto::v1::UploadRef {
            upload_id: upload_id.into(),
        };
        self.0
            .commit_upload(with_resource(r, bucket, Some(key)))
            .await
    }

    pub async fn abort_upload(
        &mut self,
        (bucket, key, upload_id): (&str, &str, &str),
    ) -> Answer<meridian_proto::v1::AbortUploadResponse> {
        let r = meridian_proto::v1::UploadRef {
            upload_id: upload_id.into(),
        };
        self.0
            .abort_upload(with_resource(r, bucket, Some(key)))
            .await
    }

    pub async fn wait_replicated(
        &mut self,
        r: meridian_proto::v1::WaitReplicatedRequest,
    ) -> Answer<tonic::Streaming<meridian_proto::v1::ReplicationProgress>> {
        let (b, k) = (r.bucket.clone(), r.key.clone());
        self.0.wait_replicated(with_resource(r, &b, Some(&k))).await
    }

    /// A Get's object info and the bytes of the range asked for, checking
    /// every chunk that arrives whole against its hash (as a client
    /// library does); also how many chunks were checked.
    pub async fn read_verified(
        &mut self,
        r: meridian_proto::v1::GetRequest,
    ) -> Result<(meridian_proto::v1::ObjectInfo, Vec<u8>, usize)> {
        use meridian_proto::v1::get_response::Frame;
        use tokio_stream::StreamExt;
        let (start, length) = (r.offset, r.length);
        let mut stream = self.get(r).await?.into_inner();
        let first = stream.next().await.context("empty Get stream")??;
        let Some(Frame::Info(info)) = first.frame else {
            anyhow::bail!("the first Get frame is not the object info");
        };
        let end = length.map_or(info.size, |n| start.saturating_add(n).min(info.size));
        let (mut body, mut checked) = (Vec::new(), 0usize);
        // The chunk being assembled: its offset, size, hash and bytes.
        let mut cur: Option<(u64, u32, Vec<u8>, Vec<u8>)> = None;
        let mut next_offset: Option<u64> = None;
        while let Some(frame) = stream.next().await {
            let Some(Frame::Chunk(f)) = frame?.frame else {
                anyhow::bail!("a Get frame that is not a chunk's");
            };
            anyhow::ensure!(
                next_offset.is_none_or(|o| o == f.offset),
                "frames out of order: {} after {next_offset:?}",
                f.offset
            );
            next_offset = Some(f.offset + f.data.len() as u64);
            if cur.as_ref().is_none_or(|c| c.0 != f.chunk_offset) {
                cur = Some((
                    f.chunk_offset,
                    f.chunk_size,
                    f.chunk_hash.clone(),
                    Vec::new(),
                ));
            }
            let Some(c) = cur.as_mut() else { continue };
            if f.offset == c.0 + c.3.len() as u64 {
                c.3.extend_from_slice(&f.data);
            }
            if c.3.len() == c.1 as usize {
                anyhow::ensure!(
                    blake3::hash(&c.3).as_bytes().as_slice() == c.2.as_slice(),
                    "chunk at {} does not match its hash",
                    c.0
                );
                checked += 1;
            }
            // Keep only what was asked for.
            let (fs, fe) = (f.offset, f.offset + f.data.len() as u64);
            let (s, e) = (fs.max(start), fe.min(end));
            if s < e {
                body.extend_from_slice(&f.data[(s - fs) as usize..(e - fs) as usize]);
            }
        }
        Ok((info, body, checked))
    }
}

fn futures_stream<T: Send + 'static>(items: Vec<T>) -> tokio_stream::Iter<std::vec::IntoIter<T>> {
    tokio_stream::iter(items)
}
