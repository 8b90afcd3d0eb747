//! The S3 endpoint over real TCP with the AWS SDK: SigV4, routing, XML and
//! headers as a client sees them, plus the listener's own duties (auth
//! errors, ranged HEAD status, the connection cap, shutdown). The broad
//! end-to-end suite lives elsewhere; this checks that the layers fit.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::server::service_for;
use super::testkit::{bytes_of, fixture, MemChunks};
use super::{serve, serve_service, MeridianS3, ServeOptions};
use meridian_objects::MIN_PART_BYTES;

pub(super) const AK: &str = "AKIDMERIDIANTEST";
pub(super) const SK: &str = "secret/meridian/test";

pub(super) struct Endpoint {
    pub(super) addr: SocketAddr,
    chunks: Arc<MemChunks>,
    /// The gateway's clock: tests move it to let time pass.
    pub(super) clock: Arc<meridian_core::clock::ManualClock>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Endpoint {
    pub(super) async fn shut_down(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("serve returns after shutdown")
            .expect("serve task");
    }
}

/// An endpoint: `serve` itself when nothing is tuned, else `serve_service`.
pub(super) async fn start(opts: Option<ServeOptions>, complete_wait: Option<Duration>) -> Endpoint {
    let fx = fixture();
    let chunks = fx.chunks.clone();
    let clock = fx.clock.clone();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = oneshot::channel::<()>();
    let stopped = async {
        let _ = rx.await;
    };
    let task = match (opts, complete_wait) {
        (None, None) => tokio::spawn(serve(
            listener,
            fx.gateway,
            1,
            super::EndpointConfig::new((AK.into(), SK.into())),
            stopped,
        )),
        (opts, wait) => {
            let mut s3 = MeridianS3::new(fx.gateway, 1);
            if let Some(w) = wait {
                s3 = s3.with_complete_inline_wait(w);
            }
            let svc = service_for(s3, AK.into(), SK.into());
            tokio::spawn(serve_service(
                listener,
                svc,
                opts.unwrap_or_default(),
                stopped,
            ))
        }
    };
    Endpoint {
        addr,
        chunks,
        clock,
        stop: Some(tx),
        task,
    }
}

pub(super) fn client(addr: SocketAddr, ak: &str, sk: &str) -> aws_sdk_s3::Client {
    let conf = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(format!("http://{addr}"))
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(ak, sk, None, None, "test"))
        .force_path_style(true)
        .retry_config(RetryConfig::disabled())
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

/// Sends one raw HTTP/1.1 request and returns the status and the body text.
pub(super) async fn raw(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(String, String)],
) -> (u16, String) {
    raw_body(addr, method, target, headers, b"").await
}

/// As [`raw`], with a request body (its length sent as Content-Length).
/// `Host` is the address unless `headers` name one.
pub(super) async fn raw_body(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> (u16, String) {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    let mut req = format!("{method} {target} HTTP/1.1\r\nConnection: close\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        req.push_str(&format!("Host: {addr}\r\n"));
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() {
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).await.expect("write");
    s.write_all(body).await.expect("write body");
    let mut resp = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut resp))
        .await
        .expect("response in time")
        .expect("read");
    let text = String::from_utf8_lossy(&resp).to_string();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("status line");
    (status, text)
}

#[tokio::test]
async fn sdk_objects_and_listing() {
    let ep = start(None, None).await;
    let c = client(ep.addr, AK, SK);
    c.create_bucket()
        .bucket("sdk-test")
        .send()
        .await
        .expect("create bucket");

    let data = bytes_of(200_000, 3);
    let put = c
        .put_object()
        .bucket("sdk-test")
        .key("dir/obj.bin")
        .content_type("application/x-meridian")
        .metadata("origin", "lab")
        .body(ByteStream::from(data.clone()))
        .send()
        .await
        .expect("put");
    let etag = put.e_tag().expect("etag").to_string();
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");

    let got = c
        .get_object()
        .bucket("sdk-test")
        .key("dir/obj.bin")
        .send()
        .await
        .expect("get");
    assert_eq!(got.content_type(), Some("application/x-meridian"));
    assert_eq!(
        got.metadata()
            .and_then(|m| m.get("origin"))
            .map(String::as_str),
        Some("lab")
    );
    assert_eq!(got.e_tag(), Some(etag.as_str()));
    let body = got.body.collect().await.expect("body").into_bytes();
    assert_eq!(body.as_ref(), data.as_slice());

    let part = c
        .get_object()
        .bucket("sdk-test")
        .key("dir/obj.bin")
        .range("bytes=100-199")
        .send()
        .await
        .expect("ranged get");
    assert_eq!(part.content_range(), Some("bytes 100-199/200000"));
    let body = part.body.collect().await.expect("body").into_bytes();
    assert_eq!(body.as_ref(), &data[100..200]);

    let e = c
        .get_object()
        .bucket("sdk-test")
        .key("dir/obj.bin")
        .range("bytes=300000-")
        .send()
        .await
        .expect_err("beyond the end");
    assert_eq!(e.code(), Some("InvalidRange"));
    let e = c
        .get_object()
        .bucket("sdk-test")
        .key("nope")
        .send()
        .await
        .expect_err("missing");
    assert_eq!(e.code(), Some("NoSuchKey"));

    let head = c
        .head_object()
        .bucket("sdk-test")
        .key("dir/obj.bin")
        .send()
        .await
        .expect("head");
    assert_eq!(head.content_length(), Some(200_000));

    for k in ["dir/a", "dir/b", "top", "x/1", "x/2"] {
        c.put_object()
            .bucket("sdk-test")
            .key(k)
            .body(ByteStream::from_static(b"1"))
            .send()
            .await
            .expect("put");
    }
    let mut pages = c
        .list_objects_v2()
        .bucket("sdk-test")
        .delimiter("/")
        .max_keys(1)
        .into_paginator()
        .send();
    let (mut keys, mut prefixes) = (Vec::new(), Vec::new());
    while let Some(page) = pages.next().await {
        let page = page.expect("page");
        keys.extend(
            page.contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_string)),
        );
        prefixes.extend(
            page.common_prefixes()
                .iter()
                .filter_map(|p| p.prefix().map(str::to_string)),
        );
    }
    assert_eq!(keys, ["top"]);
    assert_eq!(prefixes, ["dir/", "x/"]);

    let v1 = c
        .list_objects()
        .bucket("sdk-test")
        .prefix("dir/")
        .send()
        .await
        .expect("v1");
    assert_eq!(v1.contents().len(), 3);

    let e = c
        .delete_bucket()
        .bucket("sdk-test")
        .send()
        .await
        .expect_err("not empty");
    assert_eq!(e.code(), Some("BucketNotEmpty"));
    ep.shut_down().await;
}

#[tokio::test]
async fn sdk_multipart() {
    multipart_via_sdk(None).await;
}

/// Completion that outlasts the inline wait answers 200 at once and sends
/// the result (or error) in the body later, as S3 does; SDKs expect that.
#[tokio::test]
async fn sdk_multipart_keep_alive_completion() {
    multipart_via_sdk(Some(Duration::from_millis(10))).await;
}

async fn multipart_via_sdk(complete_wait: Option<Duration>) {
    let ep = start(None, complete_wait).await;
    let c = client(ep.addr, AK, SK);
    c.create_bucket()
        .bucket("mpu-test")
        .send()
        .await
        .expect("create bucket");
    let up = c
        .create_multipart_upload()
        .bucket("mpu-test")
        .key("big")
        .send()
        .await
        .expect("create upload");
    let id = up.upload_id().expect("upload id").to_string();
    let p1 = bytes_of(MIN_PART_BYTES as usize, 5);
    let p2 = bytes_of(10_000, 6);
    let mut done = Vec::new();
    for (n, data) in [(1, &p1), (2, &p2)] {
        let r = c
            .upload_part()
            .bucket("mpu-test")
            .key("big")
            .upload_id(&id)
            .part_number(n)
            .body(ByteStream::from(data.clone()))
            .send()
            .await
            .expect("upload part");
        done.push(
            CompletedPart::builder()
                .part_number(n)
                .e_tag(r.e_tag().expect("etag"))
                .build(),
        );
    }
    let parts = c
        .list_parts()
        .bucket("mpu-test")
        .key("big")
        .upload_id(&id)
        .send()
        .await
        .expect("list parts");
    assert_eq!(parts.parts().len(), 2);
    if complete_wait.is_some() {
        // Slow reads make the completion outlast the inline wait.
        ep.chunks.read_delay_ms.store(30, Ordering::SeqCst);
    }
    let fin = c
        .complete_multipart_upload()
        .bucket("mpu-test")
        .key("big")
        .upload_id(&id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(done))
                .build(),
        )
        .send()
        .await
        .expect("complete");
    assert!(
        fin.e_tag().is_some_and(|e| e.ends_with("-2\"")),
        "{:?}",
        fin.e_tag()
    );
    ep.chunks.read_delay_ms.store(0, Ordering::SeqCst);
    let got = c
        .get_object()
        .bucket("mpu-test")
        .key("big")
        .send()
        .await
        .expect("get");
    let body = got.body.collect().await.expect("body").into_bytes();
    assert_eq!(body.len(), p1.len() + p2.len());
    assert!(body.as_ref() == [p1, p2].concat().as_slice());

    let e = c
        .abort_multipart_upload()
        .bucket("mpu-test")
        .key("big")
        .upload_id(&id)
        .send()
        .await
        .expect_err("completed uploads are gone");
    assert_eq!(e.code(), Some("NoSuchUpload"));
    ep.shut_down().await;
}

#[tokio::test]
async fn authentication_errors() {
    let ep = start(None, None).await;
    let e = client(ep.addr, AK, "wrong-secret")
        .list_buckets()
        .send()
        .await
        .expect_err("bad signature");
    assert_eq!(e.code(), Some("SignatureDoesNotMatch"));
    let e = client(ep.addr, "AKIDUNKNOWN", SK)
        .list_buckets()
        .send()
        .await
        .expect_err("unknown key");
    assert_eq!(e.code(), Some("InvalidAccessKeyId"));
    let (status, text) = raw(ep.addr, "GET", "/", &[]).await;
    assert_eq!(status, 403);
    assert!(text.contains("AccessDenied"), "{text}");
    // Errors name their request, with a fresh id each time.
    let id = |t: &str| {
        t.lines()
            .find_map(|l| l.strip_prefix("x-amz-request-id: "))
            .map(|v| v.trim().to_string())
            .expect("x-amz-request-id")
    };
    let (_, again) = raw(ep.addr, "GET", "/", &[]).await;
    assert_eq!(id(&text).len(), 16, "{text}");
    assert_ne!(id(&text), id(&again));
    assert!(text.contains("x-amz-id-2: "), "{text}");
    client(ep.addr, AK, SK)
        .list_buckets()
        .send()
        .await
        .expect("good key");
    ep.shut_down().await;
}

#[tokio::test]
async fn ranged_head_is_partial_content() {
    let ep = start(None, None).await;
    let c = client(ep.addr, AK, SK);
    c.create_bucket()
        .bucket("head-test")
        .send()
        .await
        .expect("create bucket");
    c.put_object()
        .bucket("head-test")
        .key("k")
        .body(ByteStream::from(bytes_of(1000, 1)))
        .send()
        .await
        .expect("put");
    let presigned = c
        .head_object()
        .bucket("head-test")
        .key("k")
        .range("bytes=0-9")
        .presigned(PresigningConfig::expires_in(Duration::from_secs(60)).expect("config"))
        .await
        .expect("presign");
    let uri: http::Uri = presigned.uri().parse().expect("uri");
    let target = uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .expect("path");
    let headers: Vec<(String, String)> = presigned
        .headers()
        .filter(|(k, _)| !k.eq_ignore_ascii_case("host"))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let (status, text) = raw(ep.addr, "HEAD", &target, &headers).await;
    assert_eq!(status, 206, "{text}");
    assert!(
        text.to_ascii_lowercase()
            .contains("content-range: bytes 0-9/1000"),
        "{text}"
    );
    ep.shut_down().await;
}

#[tokio::test]
async fn connection_cap_defers_accepting() {
    let opts = ServeOptions {
        max_connections: 1,
        ..ServeOptions::default()
    };
    let ep = start(Some(opts), None).await;
    // An idle connection takes the only slot.
    let hog = TcpStream::connect(ep.addr).await.expect("connect");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let c = client(ep.addr, AK, SK);
    let waiting = tokio::spawn(async move { c.list_buckets().send().await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!waiting.is_finished(), "a request beyond the cap must wait");
    drop(hog);
    let r = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("served once the slot frees")
        .expect("task");
    r.expect("list buckets");
    ep.shut_down().await;
}

/// One response read off `s`: its head and `Content-Length` bytes of body.
async fn read_response(s: &mut TcpStream) -> String {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&buf).to_string();
        if let Some(end) = text.find("\r\n\r\n") {
            let len = text[..end]
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                return text;
            }
        }
        let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut chunk))
            .await
            .expect("response in time")
            .expect("read");
        assert!(n > 0, "connection closed mid-response: {buf:?}");
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// A refusal that comes before the body (here with `Expect:
/// 100-continue`, as botocore sends) says the connection closes, and it
/// does: the body a client may still send is never read as a request.
#[tokio::test]
async fn a_refusal_before_the_body_closes_the_connection() {
    let ep = start(None, None).await;
    let mut s = TcpStream::connect(ep.addr).await.expect("connect");
    let head = format!(
        "PUT /nobody/k HTTP/1.1\r\nHost: {}\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n",
        ep.addr
    );
    s.write_all(head.as_bytes()).await.expect("write");
    let first = read_response(&mut s).await;
    assert!(first.starts_with("HTTP/1.1 403"), "{first}");
    assert!(
        first.to_ascii_lowercase().contains("connection: close"),
        "{first}"
    );
    // The late body, then what would be the next request.
    let late = format!("tGET / HTTP/1.1\r\nHost: {}\r\n\r\n", ep.addr);
    let _ = s.write_all(late.as_bytes()).await;
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut rest)).await;
    assert!(
        rest.is_empty(),
        "answered bytes after the refusal: {}",
        String::from_utf8_lossy(&rest)
    );
    ep.shut_down().await;
}
