//! The client side of signed requests: a channel wrapper that signs every
//! call with an access key, for Rust clients (meridianctl, the benchmark,
//! the tests). The resource a call acts on is set per request with
//! [`with_resource`]; the wrapper signs it with the call's method, the time
//! and a fresh nonce.

use std::sync::Arc;
use std::task::{Context, Poll};

use meridian_core::SharedClock;
use tonic::metadata::MetadataValue;

use super::signed::{self, Signed};

/// `inner`, with every request signed by `access_key`.
#[derive(Clone)]
pub struct SigningChannel<S> {
    inner: S,
    access_key: Arc<str>,
    secret: Arc<str>,
    clock: SharedClock,
}

impl<S> SigningChannel<S> {
    pub fn new(inner: S, access_key: &str, secret: &str, clock: SharedClock) -> Self {
        SigningChannel {
            inner,
            access_key: Arc::from(access_key),
            secret: Arc::from(secret),
            clock,
        }
    }
}

/// A request acting on `bucket` (and `key`): the resource it is signed for.
pub fn with_resource<T>(message: T, bucket: &str, key: Option<&str>) -> tonic::Request<T> {
    let mut req = tonic::Request::new(message);
    if let Ok(v) = MetadataValue::try_from(signed::resource(bucket, key)) {
        req.metadata_mut().insert(signed::RESOURCE, v);
    }
    req
}

fn nonce() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

impl<S, B> tower::Service<http::Request<B>> for SigningChannel<S>
where
    S: tower::Service<http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<B>) -> Self::Future {
        let headers = req.headers_mut();
        let resource = headers
            .get(signed::RESOURCE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("/")
            .to_string();
        let s = Signed {
            access_key: self.access_key.to_string(),
            time_ms: self.clock.now_ms(),
            nonce: nonce(),
            method: req.uri().path().to_string(),
            resource,
        };
        let signature = s.sign(&self.secret);
        let headers = req.headers_mut();
        for (name, value) in [
            (signed::ACCESS_KEY, s.access_key),
            (signed::TIME, s.time_ms.to_string()),
            (signed::NONCE, s.nonce),
            (signed::RESOURCE, s.resource),
            (signed::SIGNATURE, signature),
        ] {
            if let Ok(v) = http::HeaderValue::from_str(&value) {
                headers.insert(name, v);
            }
        }
        self.inner.call(req)
    }
}
