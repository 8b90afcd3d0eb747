//! `x-amz-checksum-*` through `meridian dev` with the AWS SDK: for each
//! algorithm the SDK's checksum is verified on upload (the SDK computes it;
//! the server's own must match) and returned by HEAD and GET with
//! checksum mode (the SDK checks what it gets); a wrong checksum is
//! `BadDigest` and stores nothing.

use anyhow::{ensure, Result};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, ChecksumMode};
use meridian_chaos_tests::data::random_bytes;
use meridian_chaos_tests::s3::{self, expect_error, expect_status, S3Options};
use meridian_chaos_tests::{DevCluster, DevOptions, Site};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checksums_are_verified_stored_and_returned() -> Result<()> {
    let cluster = DevCluster::start_serving(DevOptions::default()).await?;
    let c = cluster.s3_with(Site::Beijing, &S3Options::default().without_retries());
    s3::create_bucket(&c, "sums").await?;
    let data = random_bytes(11, 300_000);
    for (i, alg) in [
        ChecksumAlgorithm::Crc32,
        ChecksumAlgorithm::Crc32C,
        ChecksumAlgorithm::Sha1,
        ChecksumAlgorithm::Sha256,
    ]
    .into_iter()
    .enumerate()
    {
        let key = format!("k{i}");
        let put = c
            .put_object()
            .bucket("sums")
            .key(&key)
            .checksum_algorithm(alg.clone())
            .body(ByteStream::from(data.clone()))
            .send()
            .await?;
        let sent = [
            put.checksum_crc32(),
            put.checksum_crc32_c(),
            put.checksum_sha1(),
            put.checksum_sha256(),
        ];
        let sent: Vec<&str> = sent.into_iter().flatten().collect();
        ensure!(sent.len() == 1, "{alg:?}: the PUT answer carries {sent:?}");
        let head = c
            .head_object()
            .bucket("sums")
            .key(&key)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await?;
        let stored = [
            head.checksum_crc32(),
            head.checksum_crc32_c(),
            head.checksum_sha1(),
            head.checksum_sha256(),
        ];
        let stored: Vec<&str> = stored.into_iter().flatten().collect();
        ensure!(stored == sent, "{alg:?}: HEAD {stored:?}, PUT {sent:?}");
        // The SDK validates the returned checksum against the body.
        let got = c
            .get_object()
            .bucket("sums")
            .key(&key)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await?;
        let body = got.body.collect().await?.into_bytes();
        ensure!(body == data, "{alg:?}: GET body");
    }

    // A checksum of other bytes: refused, nothing stored.
    expect_error(
        c.put_object()
            .bucket("sums")
            .key("bad")
            .checksum_crc32("AAAAAA==")
            .body(ByteStream::from(data.clone()))
            .send()
            .await,
        Some(400),
        "BadDigest",
        "a wrong CRC32",
    )?;
    expect_status(
        c.head_object().bucket("sums").key("bad").send().await,
        404,
        "the refused object",
    )?;
    expect_error(
        c.put_object()
            .bucket("sums")
            .key("bad")
            .checksum_sha256("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
            .body(ByteStream::from(data.clone()))
            .send()
            .await,
        Some(400),
        "BadDigest",
        "a wrong SHA256",
    )?;
    Ok(())
}
