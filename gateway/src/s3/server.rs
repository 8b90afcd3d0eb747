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
use meridian_objects::Objects;

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
    /// Requests refused before they reach s3s (SigV2 switched off, dates,
    /// regions); `None`: none are.
    pub front: Option<Arc<super::front::Front>>,
    /// HTTPS with this configuration; `None`: plain HTTP.
    pub tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
    /// Object requests go to the node's access log; `None`: not tracked.
    pub tracking: Option<Arc<super::tracking::S3Tracking>>,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            max_connections: 1024,
            header_read_timeout: Duration::from_secs(30),
            drain_timeout: Duration::from_secs(30),
            cors: None,
            front: None,
            tls: None,
            tracking: None,
        }
    }
}

/// The largest browser-form upload (POST Object), held in memory by s3s.
pub const MAX_POST_OBJECT_BYTES: u64 = 256 * 1024 * 1024;
/// The form fields of a POST Object, all together.
const MAX_POST_FIELDS_BYTES: usize = 64 * 1024;

/// What one S3 endpoint is set up with, beside its gateway and site.
#[derive(Debug, Clone)]
pub struct EndpointConfig {
    /// The administrator's access key and secret.
    pub root_keys: (String, String),
    /// Base domain of virtual-host addressing (`BUCKET.domain`), if any.
    pub domain: Option<String>,
    /// The federation's default region (see [`super::region`]).
    pub region: String,
    /// Whether SigV2 signatures (headers and presigned URLs) are accepted;
    /// without, such requests are refused as AWS refuses them in regions
    /// that take SigV4 only.
    pub sigv2: bool,
    /// The lifecycle job's day, for the expiry `x-amz-expiration` tells.
    pub lifecycle_day: Duration,
    /// HTTPS with this configuration; `None`: plain HTTP.
    pub tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
}

impl EndpointConfig {
    pub fn new(root_keys: (String, String)) -> Self {
        EndpointConfig {
            root_keys,
            domain: None,
            region: super::region::DEFAULT_REGION.to_string(),
            sigv2: true,
            lifecycle_day: Duration::from_secs(86_400),
            tls: None,
        }
    }
}

/// The s3s service of a gateway at `site`, accepting requests signed with
/// the root keys or a user's (SigV4 or SigV2, headers or presigned URLs).
/// Unsigned requests are anonymous. With a domain, requests to
/// `BUCKET.domain` address the bucket in the host name (virtual-host
/// style); path style works as well.
pub fn service(gateway: Arc<Objects>, site: u32, cfg: &EndpointConfig) -> S3Service {
    let (access_key, secret_key) = cfg.root_keys.clone();
    service_for(endpoint(gateway, site, cfg), access_key, secret_key)
}

fn endpoint(gateway: Arc<Objects>, site: u32, cfg: &EndpointConfig) -> MeridianS3 {
    let s3 = MeridianS3::new(gateway, site)
        .with_region(&cfg.region)
        .with_lifecycle_day(cfg.lifecycle_day)
        .with_sigv2(cfg.sigv2);
    match &cfg.domain {
        Some(d) => s3.with_virtual_host_domain(d.clone()),
        None => s3,
    }
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
    let sigv2 = s3.sigv2();
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
        sigv2,
    });
    let mut config = s3s::config::S3Config::default();
    // s3s holds a form's file in memory: browsers upload at most this;
    // larger uploads go through multipart.
    config.post_object_max_file_size = MAX_POST_OBJECT_BYTES;
    config.form_max_fields_size = MAX_POST_FIELDS_BYTES;
    builder.set_config(Arc::new(s3s::config::StaticConfigProvider::new(Arc::new(
        config,
    ))));
    builder.build()
}

/// Serves the S3 API of `gateway` at `site` on `listener` until `shutdown`
/// completes, with [`ServeOptions::default`]. Then it stops accepting, lets
/// requests in flight finish (bounded by the drain timeout), and returns.
pub async fn serve(
    listener: TcpListener,
    gateway: Arc<Objects>,
    site: u32,
    cfg: EndpointConfig,
    shutdown: impl Future<Output = ()>,
) {
    let cors = super::cors::CorsFront::new(gateway.clone(), cfg.domain.clone());
    let tracking = gateway.tracking().then(|| {
        super::tracking::S3Tracking::new(
            gateway.clone(),
            gateway.site_name(site),
            cfg.domain.clone(),
        )
    });
    let s3 = endpoint(gateway.clone(), site, &cfg);
    let front =
        super::front::Front::new(gateway, cfg.domain.clone(), s3.regions().clone(), cfg.sigv2);
    let (access_key, secret_key) = cfg.root_keys.clone();
    let svc = service_for(s3, access_key, secret_key);
    let opts = ServeOptions {
        cors: Some(Arc::new(cors)),
        front: Some(Arc::new(front)),
        tls: cfg.tls.clone(),
        tracking,
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
    stop: watch::Receiver<bool>,
    _slot: OwnedSemaphorePermit,
) {
    // Small S3 responses (headers, XML) should not wait for Nagle.
    let _ = stream.set_nodelay(true);
    let Some(tls) = opts.tls.clone() else {
        return serve_http(stream, (peer, false), svc, opts, stop).await;
    };
    // The handshake is bounded as a request's headers are: a client that
    // opens a connection and says nothing holds a slot no longer.
    let accept = tokio_rustls::TlsAcceptor::from(tls).accept(stream);
    match tokio::time::timeout(opts.header_read_timeout, accept).await {
        Ok(Ok(stream)) => serve_http(stream, (peer, true), svc, opts, stop).await,
        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "S3 TLS handshake failed"),
        Err(_) => tracing::debug!(%peer, "S3 TLS handshake timed out"),
    }
}

/// Serves HTTP/1.1 requests on one connection, plain or TLS (`secure`).
async fn serve_http<IO>(
    stream: IO,
    (peer, secure): (std::net::SocketAddr, bool),
    svc: S3Service,
    opts: ServeOptions,
    mut stop: watch::Receiver<bool>,
) where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let cors = opts.cors.clone();
    let front = opts.front.clone();
    let tracking = opts.tracking.clone();
    let handler = service_fn(move |mut req: http::Request<hyper::body::Incoming>| {
        let svc = svc.clone();
        let cors = cors.clone();
        let front = front.clone();
        let tracking = tracking.clone();
        // Where it came from: bucket policies' aws:SourceIp and
        // aws:SecureTransport.
        req.extensions_mut()
            .insert(super::facts::Peer { addr: peer, secure });
        async move {
            let has_body = has_body(req.headers());
            let tracked = tracking
                .as_ref()
                .and_then(|t| Some((t.clone(), t.begin(&req)?)));
            let refused = match &front {
                Some(f) => f.refusal(&req).await,
                None => None,
            };
            let mut resp = match refused {
                Some(r) => r,
                None => answer(svc, cors, req).await?,
            };
            // Every answer, errors included, names its request as S3 does,
            // so a client's report can be found in the server's log.
            if has_body && resp.status().as_u16() >= 400 {
                // A refusal may come before the body was read: hyper then
                // drops the connection. Saying so keeps a client from
                // reusing it, where its next request would meet a socket
                // closing under it (boto3 under load: answers without
                // their error code).
                resp.headers_mut().insert(
                    http::header::CONNECTION,
                    http::HeaderValue::from_static("close"),
                );
            }
            if let Some((t, pending)) = tracked {
                t.finish(pending, &resp);
            }
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

/// Whether a request declares a body (a length above zero, or chunks).
fn has_body(h: &http::HeaderMap) -> bool {
    h.contains_key(http::header::TRANSFER_ENCODING)
        || h.get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .is_some_and(|n| n > 0)
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
    let attributes = method == Method::GET && has_query_key(req.uri(), "attributes");
    let is_form = req
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("multipart/form-data"));
    let req = match super::post_form::prepare(req).await {
        Ok(r) => r,
        Err(e) => return Ok(super::errors::error_response(&super::post_form::refusal(e))),
    };
    let filename = super::post_form::passed(req.headers(), super::post_form::FILENAME_HEADER);
    let mut resp = svc.call(req).await?;
    if let Some(f) = filename.filter(|_| method == Method::POST) {
        super::post_form::fill_filename(&mut resp, &f).await;
    }
    if method == Method::POST && is_form {
        super::post_form::refusal_as_aws(&mut resp).await;
    }
    if attributes && resp.status() == StatusCode::OK {
        unquote_attributes_etag(&mut resp).await;
    }
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

fn has_query_key(uri: &http::Uri, key: &str) -> bool {
    uri.query().is_some_and(|q| {
        q.split('&')
            .any(|p| p.split('=').next().is_some_and(|k| k == key))
    })
}

/// GetObjectAttributes answers the ETag bare, as AWS does, where s3s
/// quotes every `ETag` element. The body is a few hundred bytes of XML.
async fn unquote_attributes_etag(resp: &mut http::Response<s3s::Body>) {
    const MAX_ATTRIBUTES_BODY: usize = 64 * 1024;
    let Ok(xml) = resp.body_mut().store_all_limited(MAX_ATTRIBUTES_BODY).await else {
        return;
    };
    let text = String::from_utf8_lossy(&xml);
    let fixed = match (text.find("<ETag>&quot;"), text.find("&quot;</ETag>")) {
        (Some(a), Some(b)) if a < b => format!(
            "{}<ETag>{}</ETag>{}",
            &text[..a],
            &text[a + "<ETag>&quot;".len()..b],
            &text[b + "&quot;</ETag>".len()..]
        ),
        _ => match (text.find("<ETag>\""), text.find("\"</ETag>")) {
            (Some(a), Some(b)) if a < b => format!(
                "{}<ETag>{}</ETag>{}",
                &text[..a],
                &text[a + "<ETag>\"".len()..b],
                &text[b + "\"</ETag>".len()..]
            ),
            _ => text.into_owned(),
        },
    };
    resp.headers_mut().remove(http::header::CONTENT_LENGTH);
    *resp.body_mut() = s3s::Body::from(fixed);
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
