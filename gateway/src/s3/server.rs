//! The S3 endpoint: an s3s service with SigV4 authentication, served over
//! HTTP/1.1 (keep-alive) with hyper, one task per connection, path-style
//! addressing.
//!
//! Every wait here has a bound: connections are capped (beyond the cap the
//! listener stops accepting and the kernel backlog holds the rest), request
//! headers must arrive within a timeout, upload bodies may not stall (see
//! [`super::body::BODY_IDLE_TIMEOUT`]), and shutdown drains for a bounded time.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use http::{Method, StatusCode};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use s3s::service::{S3Service, S3ServiceBuilder};
use s3s::HttpError;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};

use super::MeridianS3;
use crate::Gateway;

/// Limits of one S3 endpoint.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Open connections at most; the listener waits for one to close before
    /// accepting another.
    pub max_connections: usize,
    /// The longest a client may take to send a request's headers, and the
    /// longest an idle keep-alive connection is held waiting for one.
    pub header_read_timeout: Duration,
    /// After shutdown is requested, how long requests in flight may take to
    /// finish before their connections are dropped.
    pub drain_timeout: Duration,
    /// Buckets' CORS rules, applied to preflights and cross-origin
    /// responses; `None`: no CORS handling (preflights reach s3s).
    pub cors: Option<Arc<super::cors::CorsFront>>,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            max_connections: 1024,
            header_read_timeout: Duration::from_secs(30),
            drain_timeout: Duration::from_secs(30),
            cors: None,
        }
    }
}

/// The s3s service of a gateway at `site`, accepting requests signed with
/// `access_key`/`secret_key` (SigV4 or SigV2, headers or presigned URLs).
/// Unsigned requests are refused with `AccessDenied`.
/// With `domain`, requests to `BUCKET.domain` address the bucket in the
/// host name (virtual-host style); path style works as well.
pub fn service(
    gateway: Arc<Gateway>,
    site: u32,
    (access_key, secret_key): (String, String),
    domain: Option<String>,
) -> S3Service {
    let mut s3 = MeridianS3::new(gateway, site);
    if let Some(d) = domain {
        s3 = s3.with_virtual_host_domain(d);
    }
    service_for(s3, access_key, secret_key)
}

/// Virtual-host addressing under one base domain: `BUCKET.domain[:port]`
/// names a bucket; any other host (an IP address, `localhost`, the domain
/// itself) is path style. Unlike s3s's `SingleDomain`, a host outside the
/// domain is never taken for a bucket name.
struct BaseDomain(String);

impl s3s::host::S3Host for BaseDomain {
    fn parse_host_header<'a>(&'a self, host: &'a str) -> s3s::S3Result<s3s::host::VirtualHost<'a>> {
        let vh = s3s::host::VirtualHost::new(host);
        match bucket_in_host(&self.0, host) {
            Some(bucket) => Ok(vh.with_bucket(bucket)),
            None => Ok(vh),
        }
    }
}

/// The bucket a `Host` header names under the base `domain` (lower case),
/// if it is `BUCKET.domain[:port]`.
pub(super) fn bucket_in_host<'a>(domain: &str, host: &'a str) -> Option<&'a str> {
    let name = host.rsplit_once(':').map_or(host, |(h, port)| {
        if port.chars().all(|c| c.is_ascii_digit()) {
            h
        } else {
            host
        }
    });
    // Host names compare without regard to case.
    let cut = name.len().checked_sub(domain.len())?;
    if !name.get(cut..)?.eq_ignore_ascii_case(domain) {
        return None;
    }
    name[..cut].strip_suffix('.').filter(|b| !b.is_empty())
}

pub(super) fn service_for(s3: MeridianS3, access_key: String, secret_key: String) -> S3Service {
    let gateway = s3.gateway().clone();
    let domain = s3.virtual_host_domain().map(str::to_string);
    let mut builder = S3ServiceBuilder::new(s3);
    if let Some(d) = domain {
        builder.set_host(BaseDomain(d.to_ascii_lowercase()));
    }
    builder.set_auth(super::auth::Keys {
        gateway: gateway.clone(),
        root_access_key: access_key.clone(),
        root_secret: secret_key,
    });
    builder.set_access(super::auth::Permissions {
        gateway,
        root_access_key: access_key,
    });
    builder.build()
}

/// Serves the S3 API of `gateway` at `site` on `listener` until `shutdown`
/// completes, with [`ServeOptions::default`]. Then it stops accepting, lets
/// requests in flight finish (bounded by the drain timeout), and returns.
pub async fn serve(
    listener: TcpListener,
    gateway: Arc<Gateway>,
    site: u32,
    keys: (String, String),
    domain: Option<String>,
    shutdown: impl Future<Output = ()>,
) {
    let cors = super::cors::CorsFront::new(gateway.clone(), domain.clone());
    let svc = service(gateway, site, keys, domain);
    let opts = ServeOptions {
        cors: Some(Arc::new(cors)),
        ..ServeOptions::default()
    };
    serve_service(listener, svc, opts, shutdown).await;
}

/// [`serve`] for an already built service and explicit limits.
pub async fn serve_service(
    listener: TcpListener,
    svc: S3Service,
    opts: ServeOptions,
    shutdown: impl Future<Output = ()>,
) {
    // A semaphore bigger than u32 permits cannot be drained in one call.
    let max = opts.max_connections.clamp(1, u32::MAX as usize);
    let slots = Arc::new(Semaphore::new(max));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    let local = listener.local_addr().ok();
    tracing::info!(addr = ?local, max_connections = max, "S3 endpoint listening");
    loop {
        let permit = tokio::select! {
            () = &mut shutdown => break,
            p = slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                // The semaphore is never closed while this loop owns it.
                Err(_) => break,
            },
        };
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // Out of file descriptors and the like: pause rather than
                    // spin, and try again.
                    tracing::warn!(error = %e, "S3 accept failed");
                    tokio::select! {
                        () = &mut shutdown => break,
                        () = tokio::time::sleep(Duration::from_millis(100)) => continue,
                    }
                }
            },
        };
        tokio::spawn(serve_connection(
            stream,
            peer,
            svc.clone(),
            opts.clone(),
            stop_rx.clone(),
            permit,
        ));
    }
    drop(listener);
    let _ = stop_tx.send(true);
    // Every connection holds a permit until it ends: owning them all means
    // all connections are done.
    let all = u32::try_from(max).unwrap_or(u32::MAX);
    if tokio::time::timeout(opts.drain_timeout, slots.acquire_many(all))
        .await
        .is_err()
    {
        tracing::warn!(
            open = max - slots.available_permits(),
            "S3 connections still open after the drain timeout; leaving them"
        );
    }
    tracing::info!(addr = ?local, "S3 endpoint stopped");
}

async fn serve_connection(
    stream: TcpStream,
    peer: std::net::SocketAddr,
    svc: S3Service,
    opts: ServeOptions,
    mut stop: watch::Receiver<bool>,
    _slot: OwnedSemaphorePermit,
) {
    // Small S3 responses (headers, XML) should not wait for Nagle.
    let _ = stream.set_nodelay(true);
    let cors = opts.cors.clone();
    let handler = service_fn(move |req: http::Request<hyper::body::Incoming>| {
        let svc = svc.clone();
        let cors = cors.clone();
        async move {
            let mut resp = answer(svc, cors, req).await?;
            // Every answer, errors included, names its request as S3 does,
            // so a client's report can be found in the server's log.
            let id = request_id();
            tracing::debug!(request_id = %id, status = resp.status().as_u16(), "S3 request answered");
            if let Ok(v) = http::HeaderValue::from_str(&id) {
                resp.headers_mut().insert("x-amz-request-id", v.clone());
                resp.headers_mut().insert("x-amz-id-2", v);
            }
            Ok::<_, HttpError>(resp)
        }
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(opts.header_read_timeout)
        .keep_alive(true);
    let conn = builder.serve_connection(TokioIo::new(stream), handler);
    let mut conn = std::pin::pin!(conn);
    let result = tokio::select! {
        r = conn.as_mut() => r,
        () = stopping(&mut stop) => {
            // Finish the request in flight, then close.
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        // Clients that hang up or time out are routine, not faults.
        tracing::debug!(%peer, error = %e, "S3 connection ended with an error");
    }
}

/// A request id: 16 hex digits, unique enough to find one request.
fn request_id() -> String {
    format!("{:016X}", rand::random::<u64>())
}

/// The answer to one request: a preflight, or s3s's with the CORS and
/// status adjustments.
async fn answer(
    svc: S3Service,
    cors: Option<Arc<super::cors::CorsFront>>,
    req: http::Request<hyper::body::Incoming>,
) -> Result<http::Response<s3s::Body>, HttpError> {
    if let Some(c) = cors.as_ref().filter(|_| req.method() == Method::OPTIONS) {
        return Ok(c.preflight(&req).await);
    }
    // A cross-origin request: its bucket's rules decide which headers the
    // answer gets.
    let cross = cors.as_ref().and_then(|c| {
        let origin = req.headers().get(http::header::ORIGIN)?.to_str().ok()?;
        Some((c.clone(), c.bucket_of(&req)?, origin.to_string()))
    });
    let method = req.method().clone();
    let mut resp = hyper::service::Service::call(&svc, req).await?;
    if let Some((c, bucket, origin)) = cross {
        c.decorate(&bucket, &origin, &method, &mut resp).await;
    }
    // s3s gives no way to set HeadObject's status from the handler; a
    // ranged HEAD is partial content like a ranged GET.
    if method == Method::HEAD
        && resp.status() == StatusCode::OK
        && resp.headers().contains_key(http::header::CONTENT_RANGE)
    {
        *resp.status_mut() = StatusCode::PARTIAL_CONTENT;
    }
    Ok(resp)
}

/// Completes once the endpoint is stopping (or its accept loop is gone).
async fn stopping(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stopping| *stopping).await;
}

#[cfg(test)]
mod tests {
    use super::bucket_in_host;

    #[test]
    fn buckets_in_host_names() {
        let d = "s3.ihep.ac.cn";
        assert_eq!(bucket_in_host(d, "juno.s3.ihep.ac.cn"), Some("juno"));
        assert_eq!(bucket_in_host(d, "juno.S3.IHEP.ac.cn:9000"), Some("juno"));
        assert_eq!(bucket_in_host(d, "s3.ihep.ac.cn"), None);
        assert_eq!(bucket_in_host(d, ".s3.ihep.ac.cn"), None);
        assert_eq!(bucket_in_host(d, "junos3.ihep.ac.cn"), None);
        assert_eq!(bucket_in_host(d, "127.0.0.1:9000"), None);
        assert_eq!(bucket_in_host(d, "x"), None);
    }
}
