//! Conditional requests through `meridian dev` with the AWS SDK: writes
//! with If-None-Match: * and If-Match, checked atomically with the commit
//! (of writers racing to create one key, exactly one wins), and reads with
//! If-Match, If-None-Match, If-Modified-Since and If-Unmodified-Since.

use std::time::{Duration, SystemTime};

use anyhow::{ensure, Result};
use aws_sdk_s3::primitives::{ByteStream, DateTime};
use bytes::Bytes;
use meridian_chaos_tests::s3::{self, expect_error, expect_status, S3Options};
use meridian_chaos_tests::{DevCluster, DevOptions, Site};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conditional_writes_and_reads() -> Result<()> {
    let cluster = DevCluster::start_serving(DevOptions::default()).await?;
    let c = cluster.s3_with(Site::Beijing, &S3Options::default().without_retries());
    s3::create_bucket(&c, "cond").await?;
    let put = |key: &str, body: &'static [u8]| {
        c.put_object()
            .bucket("cond")
            .key(key)
            .body(ByteStream::from_static(body))
    };

    // If-None-Match: * creates once.
    let first = put("k", b"one").if_none_match("*").send().await?;
    let etag1 = first.e_tag().unwrap_or_default().to_string();
    expect_error(
        put("k", b"two").if_none_match("*").send().await,
        Some(412),
        "PreconditionFailed",
        "create over an existing key",
    )?;
    ensure!(s3::get_bytes(&c, "cond", "k").await? == "one");

    // If-Match replaces only the version it names.
    expect_error(
        put("k", b"two")
            .if_match("\"0123456789abcdef0123456789abcdef\"")
            .send()
            .await,
        Some(412),
        "PreconditionFailed",
        "replace with a stale ETag",
    )?;
    let second = put("k", b"two").if_match(&etag1).send().await?;
    ensure!(s3::get_bytes(&c, "cond", "k").await? == "two");
    expect_error(
        put("absent", b"x").if_match(&etag1).send().await,
        Some(404),
        "NoSuchKey",
        "If-Match on a missing key",
    )?;

    // Writers racing to create one key: exactly one wins.
    let mut tasks = Vec::new();
    for i in 0..8u8 {
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            let body = Bytes::from(vec![b'a' + i; 1000]);
            let r = c
                .put_object()
                .bucket("cond")
                .key("race")
                .if_none_match("*")
                .body(ByteStream::from(body.clone()))
                .send()
                .await;
            (body, r)
        }));
    }
    let mut winners = Vec::new();
    for t in tasks {
        let (body, r) = t.await?;
        match r {
            Ok(_) => winners.push(body),
            Err(e) => ensure!(
                s3::error_code(&e).as_deref() == Some("PreconditionFailed"),
                "a racing writer failed otherwise: {}",
                s3::describe_error(&e)
            ),
        }
    }
    ensure!(winners.len() == 1, "{} writers won", winners.len());
    ensure!(s3::get_bytes(&c, "cond", "race").await? == winners[0]);

    // Conditional reads.
    let etag2 = second.e_tag().unwrap_or_default().to_string();
    let get = || c.get_object().bucket("cond").key("k");
    get().if_match(&etag2).send().await?;
    expect_error(
        get().if_match(&etag1).send().await,
        Some(412),
        "PreconditionFailed",
        "GET If-Match with the old ETag",
    )?;
    expect_status(
        get().if_none_match(&etag2).send().await,
        304,
        "GET If-None-Match with the current ETag",
    )?;
    let hour = Duration::from_secs(3600);
    let later = DateTime::from(SystemTime::now() + hour);
    let earlier = DateTime::from(SystemTime::now() - hour);
    expect_status(
        get().if_modified_since(later).send().await,
        304,
        "GET If-Modified-Since the future",
    )?;
    get().if_modified_since(earlier).send().await?;
    expect_error(
        get().if_unmodified_since(earlier).send().await,
        Some(412),
        "PreconditionFailed",
        "GET If-Unmodified-Since an hour ago",
    )?;
    expect_status(
        c.head_object()
            .bucket("cond")
            .key("k")
            .if_none_match(&etag2)
            .send()
            .await,
        304,
        "HEAD If-None-Match",
    )?;
    Ok(())
}
