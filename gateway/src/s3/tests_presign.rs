//! Presigned URLs (SigV4 query auth) for GET and PUT, their expiry, and the
//! clock-skew check of header-signed requests, over real TCP.

use std::time::{Duration, SystemTime};

use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::presigning::{PresignedRequest, PresigningConfig};

use super::tests_http::{client, raw, raw_body, start, AK, SK};

fn target_and_headers(p: &PresignedRequest) -> (String, Vec<(String, String)>) {
    let uri: http::Uri = p.uri().parse().expect("uri");
    let target = uri
        .path_and_query()
        .map(|x| x.as_str().to_string())
        .expect("path");
    let headers = p
        .headers()
        .filter(|(k, _)| !k.eq_ignore_ascii_case("host"))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    (target, headers)
}

#[tokio::test]
async fn presigned_get_and_put_work_until_they_expire() {
    let ep = start(None, None).await;
    let c = client(ep.addr, AK, SK);
    c.create_bucket()
        .bucket("presign")
        .send()
        .await
        .expect("create bucket");

    // PUT through a presigned URL, with no credentials of its own.
    let put = c
        .put_object()
        .bucket("presign")
        .key("up")
        .presigned(PresigningConfig::expires_in(Duration::from_secs(60)).expect("config"))
        .await
        .expect("presign put");
    let (target, headers) = target_and_headers(&put);
    let (status, text) = raw_body(ep.addr, "PUT", &target, &headers, b"presigned body").await;
    assert_eq!(status, 200, "{text}");
    let got = c
        .get_object()
        .bucket("presign")
        .key("up")
        .send()
        .await
        .expect("get");
    let body = got.body.collect().await.expect("body").into_bytes();
    assert_eq!(&body[..], b"presigned body");

    let get = c
        .get_object()
        .bucket("presign")
        .key("up")
        .presigned(PresigningConfig::expires_in(Duration::from_secs(60)).expect("config"))
        .await
        .expect("presign get");
    let (target, headers) = target_and_headers(&get);
    let (status, text) = raw(ep.addr, "GET", &target, &headers).await;
    assert_eq!(status, 200, "{text}");
    assert!(text.ends_with("presigned body"), "{text}");

    // Tampering with the signed query breaks the signature.
    let tampered = target.replace("/presign/up", "/presign/other");
    let (status, text) = raw(ep.addr, "GET", &tampered, &headers).await;
    assert_eq!(status, 403, "{text}");

    // An expired URL is refused, and a refused PUT writes nothing.
    let short = PresigningConfig::expires_in(Duration::from_secs(1)).expect("config");
    let late_get = c
        .get_object()
        .bucket("presign")
        .key("up")
        .presigned(short.clone())
        .await
        .expect("presign");
    let late_put = c
        .put_object()
        .bucket("presign")
        .key("late")
        .presigned(short)
        .await
        .expect("presign");
    ep.clock.advance(Duration::from_secs(2));
    let (target, headers) = target_and_headers(&late_get);
    let (status, text) = raw(ep.addr, "GET", &target, &headers).await;
    assert_eq!(status, 403, "{text}");
    assert!(
        text.contains("AccessDenied") && text.contains("expired"),
        "{text}"
    );
    let (target, headers) = target_and_headers(&late_put);
    let (status, text) = raw_body(ep.addr, "PUT", &target, &headers, b"late").await;
    assert_eq!(status, 403, "{text}");
    let absent = c.head_object().bucket("presign").key("late").send().await;
    assert!(absent.is_err(), "an expired PUT wrote the object");
    ep.shut_down().await;
}

#[derive(Debug)]
struct Skewed(Duration);

impl aws_smithy_async::time::TimeSource for Skewed {
    fn now(&self) -> SystemTime {
        SystemTime::now() - self.0
    }
}

#[tokio::test]
async fn a_request_signed_with_a_skewed_clock_is_refused() {
    let ep = start(None, None).await;
    let fine = client(ep.addr, AK, SK);
    fine.list_buckets().send().await.expect("in time");
    let conf = fine
        .config()
        .to_builder()
        .time_source(Skewed(Duration::from_secs(20 * 60)))
        .build();
    let late = aws_sdk_s3::Client::from_conf(conf);
    let e = late
        .create_bucket()
        .bucket("skewed")
        .send()
        .await
        .expect_err("20 minutes off");
    assert_eq!(
        e.as_service_error().and_then(|s| s.code()),
        Some("RequestTimeTooSkewed"),
        "{e:?}"
    );
    let buckets = fine.list_buckets().send().await.expect("list");
    assert!(
        buckets.buckets().is_empty(),
        "the refused request created nothing"
    );
    ep.shut_down().await;
}

#[tokio::test]
async fn virtual_host_addressing_under_the_base_domain() {
    use super::server::{serve_service, service_for, ServeOptions};
    use super::testkit::fixture;
    let fx = fixture();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let s3 = super::MeridianS3::new(fx.gateway, 1).with_virtual_host_domain("s3.test".into());
    let svc = service_for(s3, AK.into(), SK.into());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(serve_service(
        listener,
        svc,
        ServeOptions::default(),
        async {
            let _ = rx.await;
        },
    ));
    // Path style still works (an IP host is never a bucket).
    let c = client(addr, AK, SK);
    c.create_bucket()
        .bucket("vhb")
        .send()
        .await
        .expect("bucket");
    c.put_object()
        .bucket("vhb")
        .key("dir/k")
        .body(aws_sdk_s3::primitives::ByteStream::from_static(b"virtual"))
        .send()
        .await
        .expect("put");
    // A virtual-host style presigned GET, sent with its own Host header.
    let conf = c
        .config()
        .to_builder()
        .endpoint_url(format!("http://s3.test:{}", addr.port()))
        .force_path_style(false)
        .build();
    let vc = aws_sdk_s3::Client::from_conf(conf);
    let p = vc
        .get_object()
        .bucket("vhb")
        .key("dir/k")
        .presigned(PresigningConfig::expires_in(Duration::from_secs(60)).expect("config"))
        .await
        .expect("presign");
    let uri: http::Uri = p.uri().parse().expect("uri");
    let host = uri.authority().expect("authority").to_string();
    assert_eq!(host, format!("vhb.s3.test:{}", addr.port()));
    let target = uri.path_and_query().expect("path").as_str().to_string();
    assert!(target.starts_with("/dir/k?"), "{target}");
    let (status, text) = raw(addr, "GET", &target, &[("Host".into(), host.clone())]).await;
    assert_eq!(status, 200, "{text}");
    assert!(text.ends_with("virtual"), "{text}");
    // A host outside the domain is path style, not a bucket.
    let (status, text) = raw(
        addr,
        "GET",
        "/vhb/dir/k",
        &[("Host".into(), "other.example:1".into())],
    )
    .await;
    assert_eq!(status, 403, "unsigned, so denied, but parsed: {text}");
    let _ = tx.send(());
    let _ = task.await;
}
