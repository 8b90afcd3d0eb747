//! Calls to the client API as the agent's user: each request signed with
//! the user's access key, or carrying the bearer token the agent's HTTP
//! request came with, so the API decides as it would for that user.

use std::task::{Context, Poll};

use meridian_api::auth::client::SigningChannel;
use meridian_proto::v1::dataset_service_client::DatasetServiceClient;
use meridian_proto::v1::object_service_client::ObjectServiceClient;
use tonic::transport::Channel;

/// The token of an `Authorization` value `Bearer <token>` (the scheme
/// in any case, as RFC 7235 has it); `None` for anything else.
pub fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Who the agent acts as.
#[derive(Clone)]
pub enum Credential {
    Keys { access_key: String, secret: String },
    Bearer(String),
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret or the token.
        match self {
            Credential::Keys { access_key, .. } => write!(f, "key {access_key}"),
            Credential::Bearer(_) => f.write_str("a bearer token"),
        }
    }
}

/// A channel that authenticates every request as one credential.
#[derive(Clone)]
pub enum AuthChannel {
    Signed(SigningChannel<Channel>),
    Bearer(Channel, http::HeaderValue),
}

impl AuthChannel {
    pub fn new(channel: Channel, cred: &Credential) -> Result<Self, crate::McpError> {
        Ok(match cred {
            Credential::Keys { access_key, secret } => AuthChannel::Signed(SigningChannel::new(
                channel,
                access_key,
                secret,
                meridian_core::clock::system(),
            )),
            Credential::Bearer(t) => AuthChannel::Bearer(
                channel,
                http::HeaderValue::from_str(&format!("Bearer {t}")).map_err(|_| {
                    crate::McpError::Credential("the token is not a header value".into())
                })?,
            ),
        })
    }

    pub fn datasets(&self) -> DatasetServiceClient<AuthChannel> {
        DatasetServiceClient::new(self.clone())
    }

    pub fn objects(&self) -> ObjectServiceClient<AuthChannel> {
        ObjectServiceClient::new(self.clone())
    }
}

impl<B> tower::Service<http::Request<B>> for AuthChannel
where
    Channel: tower::Service<http::Request<B>>,
    SigningChannel<Channel>: tower::Service<
        http::Request<B>,
        Response = <Channel as tower::Service<http::Request<B>>>::Response,
        Error = <Channel as tower::Service<http::Request<B>>>::Error,
        Future = <Channel as tower::Service<http::Request<B>>>::Future,
    >,
{
    type Response = <Channel as tower::Service<http::Request<B>>>::Response;
    type Error = <Channel as tower::Service<http::Request<B>>>::Error;
    type Future = <Channel as tower::Service<http::Request<B>>>::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        match self {
            AuthChannel::Signed(s) => s.poll_ready(cx),
            AuthChannel::Bearer(c, _) => c.poll_ready(cx),
        }
    }

    fn call(&mut self, mut req: http::Request<B>) -> Self::Future {
        match self {
            AuthChannel::Signed(s) => s.call(req),
            AuthChannel::Bearer(c, v) => {
                req.headers_mut()
                    .insert(http::header::AUTHORIZATION, v.clone());
                c.call(req)
            }
        }
    }
}
