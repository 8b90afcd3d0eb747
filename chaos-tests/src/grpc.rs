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

fn futures_stream<T: Send + 'static>(items: Vec<T>) -> tokio_stream::Iter<std::vec::IntoIter<T>> {
    tokio_stream::iter(items)
}
