//! `x-amz-checksum-*` through `meridian dev` with the AWS SDK: for each
//! algorithm the SDK's checksum is verified on upload (the SDK computes it;
//! the server's own must match) and returned by HEAD and GET with
//! checksum mode (the SDK checks what it gets); a wrong checksum is
//! `BadDigest` and stores nothing.

use anyhow::{ensure, Context, Result};
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

/// Uploads `parts` to a new multipart upload declaring `alg` (and `ty`)
/// and completes it; returns the completion's checksum and type.
async fn multipart_with(
    c: &aws_sdk_s3::Client,
    key: &str,
    alg: ChecksumAlgorithm,
    ty: Option<aws_sdk_s3::types::ChecksumType>,
    parts: &[bytes::Bytes],
) -> Result<(Option<String>, Option<String>)> {
    use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
    let up = c
        .create_multipart_upload()
        .bucket("sums")
        .key(key)
        .checksum_algorithm(alg.clone())
        .set_checksum_type(ty)
        .send()
        .await?;
    let id = up.upload_id().unwrap_or_default().to_string();
    let mut done = CompletedMultipartUpload::builder();
    for (i, data) in parts.iter().enumerate() {
        let n = i as i32 + 1;
        let out = c
            .upload_part()
            .bucket("sums")
            .key(key)
            .upload_id(&id)
            .part_number(n)
            .checksum_algorithm(alg.clone())
            .body(ByteStream::from(data.clone()))
            .send()
            .await?;
        done = done.parts(
            CompletedPart::builder()
                .part_number(n)
                .e_tag(out.e_tag().unwrap_or_default())
                .set_checksum_crc32(out.checksum_crc32().map(str::to_string))
                .set_checksum_crc32_c(out.checksum_crc32_c().map(str::to_string))
                .set_checksum_crc64_nvme(out.checksum_crc64_nvme().map(str::to_string))
                .set_checksum_sha256(out.checksum_sha256().map(str::to_string))
                .build(),
        );
    }
    let out = c
        .complete_multipart_upload()
        .bucket("sums")
        .key(key)
        .upload_id(&id)
        .multipart_upload(done.build())
        .send()
        .await?;
    let value = out
        .checksum_crc32()
        .or(out.checksum_crc32_c())
        .or(out.checksum_crc64_nvme())
        .or(out.checksum_sha256())
        .map(str::to_string);
    Ok((value, out.checksum_type().map(|t| t.as_str().to_string())))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multipart_checksums_per_part_composite_and_full_object() -> Result<()> {
    use aws_sdk_s3::types::ChecksumType;
    let cluster = DevCluster::start_serving(DevOptions::default()).await?;
    let c = cluster.s3_with(Site::Beijing, &S3Options::default().without_retries());
    s3::create_bucket(&c, "sums").await?;
    let parts = [
        random_bytes(21, 5 * 1024 * 1024),
        random_bytes(22, 5 * 1024 * 1024 + 3),
        random_bytes(23, 77_777),
    ];
    // COMPOSITE: a checksum of the parts' checksums, "-3".
    let (value, ty) = multipart_with(&c, "comp", ChecksumAlgorithm::Sha256, None, &parts).await?;
    ensure!(ty.as_deref() == Some("COMPOSITE"), "{ty:?}");
    ensure!(
        value.as_deref().is_some_and(|v| v.ends_with("-3")),
        "{value:?}"
    );
    let head = c
        .head_object()
        .bucket("sums")
        .key("comp")
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await?;
    ensure!(head.checksum_sha256() == value.as_deref(), "HEAD {head:?}");

    // FULL_OBJECT CRCs: the whole content's CRC, which the SDK verifies
    // against the bytes it receives.
    for (key, alg, ty) in [
        ("full64", ChecksumAlgorithm::Crc64Nvme, None),
        (
            "full32c",
            ChecksumAlgorithm::Crc32C,
            Some(ChecksumType::FullObject),
        ),
    ] {
        let (value, got_ty) = multipart_with(&c, key, alg, ty, &parts).await?;
        ensure!(
            got_ty.as_deref() == Some("FULL_OBJECT"),
            "{key}: {got_ty:?}"
        );
        ensure!(
            value.as_deref().is_some_and(|v| !v.contains('-')),
            "{key}: {value:?}"
        );
        let got = c
            .get_object()
            .bucket("sums")
            .key(key)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await?;
        let body = got.body.collect().await?.into_bytes();
        ensure!(
            body == [&parts[0][..], &parts[1][..], &parts[2][..]].concat(),
            "{key}"
        );
    }

    // A part copied from another object gets the declared checksum too,
    // computed over the copied bytes: the FULL_OBJECT CRC is then right
    // (the SDK checks it on GET).
    {
        use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
        s3::put_bytes(&c, "sums", "source", parts[0].clone()).await?;
        let up = c
            .create_multipart_upload()
            .bucket("sums")
            .key("copied")
            .checksum_algorithm(ChecksumAlgorithm::Crc32C)
            .checksum_type(ChecksumType::FullObject)
            .send()
            .await?;
        let id = up.upload_id().unwrap_or_default();
        let first = c
            .upload_part_copy()
            .bucket("sums")
            .key("copied")
            .upload_id(id)
            .part_number(1)
            .copy_source("sums/source")
            .send()
            .await?;
        let first = first
            .copy_part_result()
            .cloned()
            .context("no CopyPartResult")?;
        ensure!(first.checksum_crc32_c().is_some(), "{first:?}");
        let second = c
            .upload_part()
            .bucket("sums")
            .key("copied")
            .upload_id(id)
            .part_number(2)
            .checksum_algorithm(ChecksumAlgorithm::Crc32C)
            .body(ByteStream::from(parts[2].clone()))
            .send()
            .await?;
        let done = CompletedMultipartUpload::builder()
            .parts(
                CompletedPart::builder()
                    .part_number(1)
                    .e_tag(first.e_tag().unwrap_or_default())
                    .set_checksum_crc32_c(first.checksum_crc32_c().map(str::to_string))
                    .build(),
            )
            .parts(
                CompletedPart::builder()
                    .part_number(2)
                    .e_tag(second.e_tag().unwrap_or_default())
                    .set_checksum_crc32_c(second.checksum_crc32_c().map(str::to_string))
                    .build(),
            )
            .build();
        c.complete_multipart_upload()
            .bucket("sums")
            .key("copied")
            .upload_id(id)
            .multipart_upload(done)
            .send()
            .await?;
        let got = c
            .get_object()
            .bucket("sums")
            .key("copied")
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await?;
        ensure!(got.checksum_crc32_c().is_some(), "no object checksum");
        let body = got.body.collect().await?.into_bytes();
        ensure!(
            body == [&parts[0][..], &parts[2][..]].concat(),
            "copied object"
        );
    }

    // A part whose checksum does not match its bytes: BadDigest, no part.
    let up = c
        .create_multipart_upload()
        .bucket("sums")
        .key("bad")
        .checksum_algorithm(ChecksumAlgorithm::Crc32)
        .send()
        .await?;
    let id = up.upload_id().unwrap_or_default();
    expect_error(
        c.upload_part()
            .bucket("sums")
            .key("bad")
            .upload_id(id)
            .part_number(1)
            .checksum_crc32("AAAAAA==")
            .body(ByteStream::from_static(b"not what the checksum says"))
            .send()
            .await,
        Some(400),
        "BadDigest",
        "a part with a wrong CRC32",
    )?;
    let listed = c
        .list_parts()
        .bucket("sums")
        .key("bad")
        .upload_id(id)
        .send()
        .await?;
    ensure!(listed.parts().is_empty(), "{:?}", listed.parts());
    Ok(())
}
