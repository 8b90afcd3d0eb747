//! The gRPC side of the object workload: the client API's Put (client
//! streaming, 1 MiB data frames), Get (server streaming) and List, each call
//! signed with the access key as any client's must be.

use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use bytes::Bytes;
use futures::StreamExt;
use meridian_api::auth::client::{with_resource, SigningChannel};
use meridian_proto::v1::object_service_client::ObjectServiceClient;
use meridian_proto::v1::put_request::Frame;
use meridian_proto::v1::*;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};

/// Data frames of a Put: the size the server's Get frames are too.
const FRAME: usize = 1 << 20;
/// Largest message either way.
const MAX_MESSAGE: usize = 16 << 20;

#[derive(Clone)]
pub struct GrpcClient(ObjectServiceClient<SigningChannel<Channel>>);

impl GrpcClient {
    /// A client of the API at `endpoint` (https: trusting `ca`), one HTTP/2
    /// connection per client (the workers each make their own, as separate
    /// clients would).
    pub async fn connect(
        endpoint: &str,
        ca: Option<&Path>,
        (access_key, secret): (&str, &str),
    ) -> Result<Self> {
        let mut ep = Endpoint::from_shared(endpoint.to_string())
            .with_context(|| format!("the endpoint {endpoint:?}"))?
            .tcp_nodelay(true)
            .initial_stream_window_size(4 << 20)
            .initial_connection_window_size(16 << 20);
        if endpoint.starts_with("https://") {
            let mut tls = ClientTlsConfig::new();
            if let Some(ca) = ca {
                let pem = std::fs::read(ca).with_context(|| format!("reading {}", ca.display()))?;
                tls = tls.ca_certificate(Certificate::from_pem(pem));
            }
            ep = ep.tls_config(tls)?;
        }
        let channel = ep
            .connect()
            .await
            .with_context(|| format!("connecting to {endpoint}"))?;
        Ok(GrpcClient(
            ObjectServiceClient::new(SigningChannel::new(
                channel,
                access_key,
                secret,
                meridian_core::clock::system(),
            ))
            .max_decoding_message_size(MAX_MESSAGE)
            .max_encoding_message_size(MAX_MESSAGE),
        ))
    }

    /// The signed client, for calls this wrapper does not make.
    pub fn inner(&self) -> ObjectServiceClient<SigningChannel<Channel>> {
        self.0.clone()
    }

    pub async fn ensure_bucket(&self, bucket: &str) -> Result<()> {
        let req = CreateBucketRequest {
            bucket: bucket.into(),
            site: String::new(),
        };
        match self
            .0
            .clone()
            .create_bucket(with_resource(req, bucket, None))
            .await
        {
            Ok(_) => Ok(()),
            Err(s) if s.code() == tonic::Code::AlreadyExists => Ok(()),
            Err(s) => bail!("creating bucket {bucket}: {s}"),
        }
    }

    pub async fn put(&self, bucket: &str, key: &str, body: Bytes) -> Result<()> {
        let header = PutRequest {
            frame: Some(Frame::Header(PutHeader {
                bucket: bucket.into(),
                key: key.into(),
                expected_size: Some(body.len() as u64),
                ..Default::default()
            })),
        };
        let frames = (0..body.len()).step_by(FRAME).map(move |o| PutRequest {
            frame: Some(Frame::Data(body.slice(o..(o + FRAME).min(body.len())))),
        });
        let stream = futures::stream::iter(std::iter::once(header).chain(frames));
        self.0
            .clone()
            .put(with_resource(stream, bucket, Some(key)))
            .await
            .map_err(|s| anyhow!("PUT {key}: {s}"))?;
        Ok(())
    }

    pub async fn get(&self, bucket: &str, key: &str, size: u64) -> Result<()> {
        let req = GetRequest {
            bucket: bucket.into(),
            key: key.into(),
            ..Default::default()
        };
        let mut stream = self
            .0
            .clone()
            .get(with_resource(req, bucket, Some(key)))
            .await
            .map_err(|s| anyhow!("GET {key}: {s}"))?
            .into_inner();
        let mut got = 0u64;
        while let Some(frame) = stream.next().await {
            if let Some(get_response::Frame::Chunk(c)) =
                frame.map_err(|s| anyhow!("GET {key}: {s}"))?.frame
            {
                got += c.data.len() as u64;
            }
        }
        if got != size {
            bail!("GET {key}: {got} bytes, expected {size}");
        }
        Ok(())
    }

    pub async fn list(&self, bucket: &str, prefix: &str, want: usize) -> Result<()> {
        let req = ListRequest {
            bucket: bucket.into(),
            prefix: prefix.into(),
            page_size: 1000,
            ..Default::default()
        };
        let page = self
            .0
            .clone()
            .list(with_resource(req, bucket, None))
            .await
            .map_err(|s| anyhow!("LIST {prefix}: {s}"))?
            .into_inner();
        if page.objects.len() != want {
            bail!(
                "LIST {prefix}: {} keys, expected {want}",
                page.objects.len()
            );
        }
        Ok(())
    }
}
