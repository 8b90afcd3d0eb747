//! The admin API's gate: every call must be signed with the
//! administrator's key, or it is refused before the service sees it; every
//! refusal, and every call that changes something, is audited.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tonic::body::Body;
use tonic::metadata::MetadataMap;
use tonic::server::NamedService;
use tonic::Status;

use super::{origin, outcome, ClientAuth};
use meridian_core::access::Caller;

/// Admin methods that only read; every other one changes something.
const READS: [&str; 11] = [
    "Status",
    "ObjectStat",
    "ObjectExplain",
    "Buckets",
    "MetaMembers",
    "ReplicationStatus",
    "PolicyShow",
    "UserList",
    "KeyList",
    "BucketAccess",
    "AuditTail",
];

/// `inner` (the admin service) behind the administrator's credential.
#[derive(Clone)]
pub struct AdminGate<S> {
    inner: S,
    auth: Arc<ClientAuth>,
}

impl<S> AdminGate<S> {
    pub fn new(inner: S, auth: Arc<ClientAuth>) -> Self {
        AdminGate { inner, auth }
    }
}

impl<S: NamedService> NamedService for AdminGate<S> {
    const NAME: &'static str = S::NAME;
}

/// Whether `method` (`/package.Service/Name`) changes something.
fn changes(method: &str) -> bool {
    let name = method.rsplit('/').next().unwrap_or(method);
    !READS.contains(&name)
}

impl<S> tower::Service<http::Request<Body>> for AdminGate<S>
where
    S: tower::Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<Body>) -> Self::Future {
        // The clone is the one made ready; this one waits for the next call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let auth = self.auth.clone();
        Box::pin(async move {
            let method = req.uri().path().to_string();
            let meta = MetadataMap::from_headers(req.headers().clone());
            let id = match auth
                .identify_parts(&meta, &method, origin(req.extensions()), "admin")
                .await
            {
                Ok(id) => id,
                Err(status) => return Ok(status.into_http()),
            };
            if id.caller != Caller::Admin || id.scopes.is_some() {
                let status = Status::permission_denied(format!(
                    "the admin API takes the administrator's key; {} is not it",
                    id.credential
                ));
                auth.record(&id, "admin", "", &outcome(&status)).await;
                return Ok(status.into_http());
            }
            let resp = inner.call(req).await?;
            if changes(&method) {
                // A unary answer's status is in its headers only when it
                // failed (trailers-only); otherwise in trailers, and OK.
                let result = match resp.headers().get("grpc-status").map(|v| v.as_bytes()) {
                    None | Some(b"0") => "ok".to_string(),
                    Some(code) => {
                        let message = resp
                            .headers()
                            .get("grpc-message")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default();
                        format!(
                            "failed (grpc-status {}): {}",
                            String::from_utf8_lossy(code),
                            // grpc-message is percent-encoded.
                            urlencoding::decode(message).unwrap_or_default()
                        )
                    }
                };
                auth.record(&id, "admin", "", &result).await;
            }
            Ok(resp)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_not_changes() {
        assert!(!changes("/meridian.v1.AdminService/Status"));
        assert!(changes("/meridian.v1.AdminService/UserCreate"));
        assert!(changes("/meridian.v1.AdminService/TokenCreate"));
    }
}
