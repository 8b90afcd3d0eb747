//! Requests no SDK sends on purpose, answered as AWS answers them: bad
//! Content-MD5 values, a body of unknown length, unreadable or stale dates
//! (SigV4 and SigV2), a signature for a region the federation does not
//! have, and SigV2 switched off. Hand-made over raw TCP against a real
//! `meridian dev`; nothing a refused request sent may be stored.

use std::time::{Duration, SystemTime};

use anyhow::{ensure, Result};
use meridian_chaos_tests::rawhttp::{Answer, Raw};
use meridian_chaos_tests::s3::{self, ROOT_ACCESS_KEY, ROOT_SECRET_KEY};
use meridian_chaos_tests::{DevCluster, DevOptions, Site};

const KEYS: (&str, &str) = (ROOT_ACCESS_KEY, ROOT_SECRET_KEY);

fn addr(cluster: &DevCluster) -> String {
    cluster
        .s3_endpoint(Site::Beijing)
        .trim_start_matches("http://")
        .to_string()
}

fn expect(a: &Answer, status: u16, code: &str, what: &str) -> Result<()> {
    ensure!(
        a.status == status && a.code() == Some(code),
        "{what}: expected {status} {code}, got {} {:?}\n{}",
        a.status,
        a.code(),
        a.body
    );
    Ok(())
}

async fn put_with(addr: &str, key: &str, extra: &[(&str, &str)], body: &[u8]) -> Result<Answer> {
    let mut r = Raw::new("PUT", &format!("/raw/{key}"));
    for (n, v) in extra {
        r = r.header(n, v);
    }
    r.body(body)
        .sign_v4(addr, KEYS, s3::REGION, SystemTime::now())?
        .send(addr)
        .await
}

#[tokio::test]
async fn malformed_uploads_are_refused_and_store_nothing() -> Result<()> {
    let cluster = DevCluster::start_serving(DevOptions::default()).await?;
    let addr = addr(&cluster);
    let client = cluster.s3(Site::Beijing);
    client.create_bucket().bucket("raw").send().await?;
    let len = "5".to_string();
    let cl = ("content-length", len.as_str());
    for (md5, code, what) in [
        ("", "InvalidDigest", "an empty Content-MD5"),
        (
            "AWS HAHAHA",
            "InvalidDigest",
            "a Content-MD5 that is not base64",
        ),
        (
            "YWJyYWNhZGFicmE=",
            "InvalidDigest",
            "a Content-MD5 of 11 bytes",
        ),
        (
            "XrY7u+Ae7tCTyyK7j1rNww==",
            "BadDigest",
            "another body's MD5",
        ),
    ] {
        let a = put_with(&addr, "md5", &[cl, ("content-md5", md5)], b"hello").await?;
        expect(&a, 400, code, what)?;
    }
    // A body of unknown length (plain chunked transfer, no decoded length).
    let a = put_with(
        &addr,
        "chunked",
        &[("transfer-encoding", "chunked")],
        b"5\r\nhello\r\n0\r\n\r\n",
    )
    .await?;
    expect(
        &a,
        411,
        "MissingContentLength",
        "a body without Content-Length",
    )?;
    // The right MD5 is taken.
    let a = put_with(
        &addr,
        "good",
        &[cl, ("content-md5", "XUFAKrxLKna5cZ2REBfFkg==")],
        b"hello",
    )
    .await?;
    ensure!(
        a.status == 200,
        "a well-formed PUT: {} {}",
        a.status,
        a.body
    );
    let keys = s3::list_all_keys(&client, "raw", None).await?;
    ensure!(keys == ["good"], "only the good upload is stored: {keys:?}");
    Ok(())
}

#[tokio::test]
async fn dates_and_regions_are_checked_before_anything_runs() -> Result<()> {
    let cluster = DevCluster::start_serving(DevOptions::default()).await?;
    let addr = addr(&cluster);
    let client = cluster.s3(Site::Beijing);
    client.create_bucket().bucket("dates").send().await?;
    let list = || Raw::new("GET", "/dates?list-type=2");
    let now = SystemTime::now();

    // SigV4: signed 16 years ago; x-amz-date removed; unreadable.
    let old = now - Duration::from_secs(16 * 365 * 86_400);
    let a = list()
        .sign_v4(&addr, KEYS, s3::REGION, old)?
        .send(&addr)
        .await?;
    expect(&a, 403, "RequestTimeTooSkewed", "SigV4 from 2010")?;
    let mut r = list().sign_v4(&addr, KEYS, s3::REGION, now)?;
    r.headers.retain(|(n, _)| n != "x-amz-date");
    expect(
        &r.send(&addr).await?,
        403,
        "AccessDenied",
        "SigV4 without x-amz-date",
    )?;
    let mut r = list().sign_v4(&addr, KEYS, s3::REGION, now)?;
    for h in r.headers.iter_mut().filter(|(n, _)| n == "x-amz-date") {
        h.1 = "Bad Date".to_string();
    }
    expect(
        &r.send(&addr).await?,
        403,
        "AccessDenied",
        "SigV4 with a bad x-amz-date",
    )?;

    // SigV2 header auth: the date is checked before the signature.
    let v2 = |date: Option<&str>| {
        let r = list().header(
            "authorization",
            &format!("AWS {ROOT_ACCESS_KEY}:c2lnbmF0dXJl"),
        );
        match date {
            Some(d) => r.header("date", d),
            None => r,
        }
    };
    for (date, status, code) in [
        (None, 403, "AccessDenied"),
        (Some("Bad Date"), 403, "AccessDenied"),
        (Some("Tue, 07 Jul 1950 21:53:04 GMT"), 403, "AccessDenied"),
        (
            Some("Tue, 07 Jul 2010 21:53:04 GMT"),
            403,
            "RequestTimeTooSkewed",
        ),
        (
            Some("Fri, 31 Dec 9999 21:53:04 GMT"),
            403,
            "RequestTimeTooSkewed",
        ),
    ] {
        expect(
            &v2(date).send(&addr).await?,
            status,
            code,
            &format!("SigV2 date {date:?}"),
        )?;
    }
    // A current date and a wrong signature: the signature is what fails.
    let today =
        time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc2822)?;
    expect(
        &v2(Some(&today)).send(&addr).await?,
        403,
        "SignatureDoesNotMatch",
        "SigV2 with a current date",
    )?;

    // A region the federation does not have (s3cmd signs for "US" until
    // told): refused, naming the bucket's region so the client can retry.
    for region in ["US", "eu-west-1"] {
        let a = list()
            .sign_v4(&addr, KEYS, region, now)?
            .send(&addr)
            .await?;
        expect(&a, 400, "AuthorizationHeaderMalformed", region)?;
        ensure!(a.element("Region") == Some("beijing"), "{}", a.body);
    }
    for region in ["beijing", "jiangmen", "us-east-1"] {
        let a = list()
            .sign_v4(&addr, KEYS, region, now)?
            .send(&addr)
            .await?;
        ensure!(a.status == 200, "{region}: {} {}", a.status, a.body);
    }
    Ok(())
}

/// A browser form signed with SigV2 (`AWSAccessKeyId`, `policy`,
/// `signature` = base64 HMAC-SHA1 of the policy), uploading `key`.
async fn v2_form(addr: &str, bucket: &str, key: &str) -> Result<Answer> {
    use base64::Engine;
    use hmac::{KeyInit, Mac};
    let policy = format!(
        r#"{{"expiration": "2099-01-01T00:00:00Z", "conditions": [{{"bucket": "{bucket}"}}, ["starts-with", "$key", ""]]}}"#
    );
    let policy = base64::engine::general_purpose::STANDARD.encode(policy);
    let mut mac = hmac::Hmac::<sha1::Sha1>::new_from_slice(ROOT_SECRET_KEY.as_bytes())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    mac.update(policy.as_bytes());
    let signature = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    let b = "FORMBOUNDARY";
    let mut body = String::new();
    for (k, v) in [
        ("key", key),
        ("AWSAccessKeyId", ROOT_ACCESS_KEY),
        ("policy", &policy),
        ("signature", &signature),
    ] {
        body.push_str(&format!(
            "--{b}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"
        ));
    }
    body.push_str(&format!(
        "--{b}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f\"\r\n\r\nform data\r\n--{b}--\r\n"
    ));
    Raw::new("POST", &format!("/{bucket}"))
        .header(
            "content-type",
            &format!("multipart/form-data; boundary={b}"),
        )
        .header("content-length", &body.len().to_string())
        .body(body.as_bytes())
        .send(addr)
        .await
}

#[tokio::test]
async fn sigv2_forms_upload_unless_switched_off() -> Result<()> {
    let cluster = DevCluster::start_serving(DevOptions::default()).await?;
    let addr = addr(&cluster);
    cluster
        .s3(Site::Beijing)
        .create_bucket()
        .bucket("forms")
        .send()
        .await?;
    let a = v2_form(&addr, "forms", "v2.txt").await?;
    ensure!(a.status == 204, "a SigV2 form: {} {}", a.status, a.body);
    drop(cluster);
    let mut opts = DevOptions::default();
    opts.extra_args.push("--no-sigv2".into());
    let cluster = DevCluster::start_serving(opts).await?;
    let addr = self::addr(&cluster);
    cluster
        .s3(Site::Beijing)
        .create_bucket()
        .bucket("forms")
        .send()
        .await?;
    let a = v2_form(&addr, "forms", "v2.txt").await?;
    expect(&a, 400, "InvalidRequest", "a SigV2 form with SigV2 off")?;
    ensure!(
        s3::list_all_keys(&cluster.s3(Site::Beijing), "forms", None)
            .await?
            .is_empty(),
        "a refused form stored nothing"
    );
    Ok(())
}

#[tokio::test]
async fn sigv2_can_be_switched_off() -> Result<()> {
    let mut opts = DevOptions::default();
    opts.extra_args.push("--no-sigv2".into());
    let cluster = DevCluster::start_serving(opts).await?;
    let addr = addr(&cluster);
    let today =
        time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc2822)?;
    let a = Raw::new("GET", "/")
        .header(
            "authorization",
            &format!("AWS {ROOT_ACCESS_KEY}:c2lnbmF0dXJl"),
        )
        .header("date", &today)
        .send(&addr)
        .await?;
    expect(&a, 400, "InvalidRequest", "SigV2 switched off")?;
    ensure!(a.body.contains("AWS4-HMAC-SHA256"), "{}", a.body);
    let a = Raw::new(
        "GET",
        &format!("/b/k?AWSAccessKeyId={ROOT_ACCESS_KEY}&Expires=9999999999&Signature=c2ln"),
    )
    .send(&addr)
    .await?;
    expect(&a, 400, "InvalidRequest", "presigned SigV2 switched off")?;
    // SigV4 is unaffected.
    let a = Raw::new("GET", "/")
        .sign_v4(&addr, KEYS, s3::REGION, SystemTime::now())?
        .send(&addr)
        .await?;
    ensure!(a.status == 200, "SigV4: {} {}", a.status, a.body);
    Ok(())
}

#[tokio::test]
async fn listing_edges_as_aws_answers_them() -> Result<()> {
    let cluster = DevCluster::start_serving(DevOptions::default()).await?;
    let addr = addr(&cluster);
    let client = cluster.s3(Site::Beijing);
    client.create_bucket().bucket("edges").send().await?;
    for k in ["a b/c", "x&y<z>", "p/q"] {
        s3::put_bytes(&client, "edges", k, bytes::Bytes::from_static(b"1")).await?;
    }
    let get =
        |target: &str| Raw::new("GET", target).sign_v4(&addr, KEYS, s3::REGION, SystemTime::now());
    // An empty delimiter is none: no Delimiter element, no prefixes.
    let a = get("/edges?list-type=2&delimiter=")?.send(&addr).await?;
    ensure!(a.status == 200, "{} {}", a.status, a.body);
    ensure!(
        !a.body.contains("<Delimiter>") && !a.body.contains("<CommonPrefixes>"),
        "{}",
        a.body
    );
    // An empty continuation token lists from the start.
    let a = get("/edges?list-type=2&continuation-token=&max-keys=1")?
        .send(&addr)
        .await?;
    ensure!(a.element("Key") == Some("a b/c"), "{}", a.body);
    // Without encoding-type, keys are XML-escaped text; with it, encoded.
    let a = get("/edges?list-type=2&prefix=x")?.send(&addr).await?;
    ensure!(a.element("Key") == Some("x&amp;y&lt;z&gt;"), "{}", a.body);
    let a = get("/edges?list-type=2&encoding-type=url&prefix=a%20")?
        .send(&addr)
        .await?;
    ensure!(
        a.element("Key") == Some("a%20b/c") && a.element("Prefix") == Some("a%20"),
        "{}",
        a.body
    );
    // v1 leaves its own Prefix as sent (clients do not decode it).
    let a = get("/edges?encoding-type=url&prefix=a%20")?
        .send(&addr)
        .await?;
    ensure!(
        a.element("Key") == Some("a%20b/c") && a.element("Prefix") == Some("a "),
        "{}",
        a.body
    );
    Ok(())
}
