//! CopyObject through `meridian dev` with the AWS SDK: a copy at a site
//! holding the source shares its chunks (no new chunk file), a copy at a
//! site that does not hold it reads and writes the bytes; metadata COPY
//! and REPLACE; copy-source conditions; copying onto itself; the source's
//! permissions; the copy outlives its source.

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::MetadataDirective;
use meridian_chaos_tests::chunks::files_under;
use meridian_chaos_tests::data::random_bytes;
use meridian_chaos_tests::s3::{self, expect_error, S3Options};
use meridian_chaos_tests::{DevCluster, DevOptions, Site};
use serde_json::Value;

const CHUNK: usize = 64 << 10;

fn files(cluster: &DevCluster, site: Site) -> Result<BTreeSet<String>> {
    Ok(files_under(&cluster.chunk_dir(site))?
        .iter()
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().to_string()))
        .collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copies_share_chunks_where_they_can_and_keep_their_own_metadata() -> Result<()> {
    let mut opts = DevOptions::default().with_chunk_size("64KiB");
    opts.extra_args.extend(
        ["--gc-grace", "2s", "--gc-period", "1s"]
            .iter()
            .map(|s| s.to_string()),
    );
    let cluster = DevCluster::start_serving(opts).await?;
    let opts = S3Options::default().without_retries();
    let bj = cluster.s3_with(Site::Beijing, &opts);
    let ctl = cluster.ctl();
    s3::create_bucket(&bj, "src").await?;
    s3::create_bucket(&bj, "dst").await?;
    let data = random_bytes(7, 3 * CHUNK + 100);
    bj.put_object()
        .bucket("src")
        .key("a")
        .content_type("application/x-hdf5")
        .metadata("run", "42")
        .body(ByteStream::from(data.clone()))
        .send()
        .await?;
    let before = files(&cluster, Site::Beijing)?;

    // At Beijing, which holds the source: a new record over the same chunks.
    let out = bj
        .copy_object()
        .bucket("dst")
        .key("a-copy")
        .copy_source("src/a")
        .send()
        .await?;
    let etag = out
        .copy_object_result()
        .and_then(|r| r.e_tag())
        .context("etag")?
        .to_string();
    ensure!(
        files(&cluster, Site::Beijing)? == before,
        "the copy wrote chunk files"
    );
    let head = bj.head_object().bucket("dst").key("a-copy").send().await?;
    ensure!(head.content_type() == Some("application/x-hdf5"));
    ensure!(
        head.metadata()
            .and_then(|m| m.get("run"))
            .map(String::as_str)
            == Some("42")
    );
    ensure!(head.e_tag() == Some(etag.as_str()));
    ensure!(s3::get_bytes(&bj, "dst", "a-copy").await? == data);

    // REPLACE sets new metadata; onto itself only with REPLACE.
    bj.copy_object()
        .bucket("dst")
        .key("a-copy")
        .copy_source("dst/a-copy")
        .metadata_directive(MetadataDirective::Replace)
        .content_type("text/plain")
        .metadata("run", "43")
        .send()
        .await?;
    let head = bj.head_object().bucket("dst").key("a-copy").send().await?;
    ensure!(head.content_type() == Some("text/plain"));
    ensure!(
        head.metadata()
            .and_then(|m| m.get("run"))
            .map(String::as_str)
            == Some("43")
    );
    expect_error(
        bj.copy_object()
            .bucket("dst")
            .key("a-copy")
            .copy_source("dst/a-copy")
            .send()
            .await,
        Some(400),
        "InvalidRequest",
        "a copy onto itself without REPLACE",
    )?;

    // Copy-source conditions.
    expect_error(
        bj.copy_object()
            .bucket("dst")
            .key("b")
            .copy_source("src/a")
            .copy_source_if_match("\"0123456789abcdef0123456789abcdef\"")
            .send()
            .await,
        Some(412),
        "PreconditionFailed",
        "x-amz-copy-source-if-match with another ETag",
    )?;
    expect_error(
        bj.copy_object()
            .bucket("dst")
            .key("b")
            .copy_source("src/a")
            .copy_source_if_none_match(&etag)
            .send()
            .await,
        Some(412),
        "PreconditionFailed",
        "x-amz-copy-source-if-none-match with its ETag",
    )?;
    expect_error(
        bj.copy_object()
            .bucket("dst")
            .key("b")
            .copy_source("src/missing")
            .send()
            .await,
        Some(404),
        "NoSuchKey",
        "a missing source",
    )?;

    // At Jiangmen, which does not hold the source yet: the bytes travel.
    let jm = cluster.s3_with(Site::Jiangmen, &opts);
    jm.copy_object()
        .bucket("dst")
        .key("at-jiangmen")
        .copy_source("src/a")
        .send()
        .await?;
    ensure!(s3::get_bytes(&jm, "dst", "at-jiangmen").await? == data);
    let stat: Value = ctl.json(&["object", "stat", "dst", "at-jiangmen"]).await?;
    ensure!(
        stat.to_string().contains("Jiangmen"),
        "the copy lives at Jiangmen: {stat}"
    );

    // The source's permissions: a user who may write dst but not read src.
    ctl.json(&["user", "create", "eve"]).await?;
    let k: Value = ctl.json(&["key", "create", "eve"]).await?;
    let eve = cluster.s3_with(
        Site::Beijing,
        &opts.clone().with_keys(
            k["access_key"].as_str().context("key")?,
            k["secret"].as_str().context("secret")?,
        ),
    );
    ctl.json(&["bucket", "grant", "dst", "eve", "write"])
        .await?;
    expect_error(
        eve.copy_object()
            .bucket("dst")
            .key("stolen")
            .copy_source("src/a")
            .send()
            .await,
        Some(403),
        "AccessDenied",
        "a copy from a bucket eve cannot read",
    )?;
    ctl.json(&["bucket", "grant", "src", "eve", "read"]).await?;
    eve.copy_object()
        .bucket("dst")
        .key("allowed")
        .copy_source("src/a")
        .send()
        .await?;

    // UploadPartCopy: a whole object and a byte range as parts.
    let big = random_bytes(9, (5 << 20) + 4096);
    s3::put_bytes(&bj, "src", "big", big.clone()).await?;
    let up = bj
        .create_multipart_upload()
        .bucket("dst")
        .key("assembled")
        .send()
        .await?;
    let id = up.upload_id().context("upload id")?.to_string();
    let mut parts = Vec::new();
    for (n, range) in [(1, None), (2, Some("bytes=100-199"))] {
        let src = if n == 1 { "src/big" } else { "src/a" };
        let out = bj
            .upload_part_copy()
            .bucket("dst")
            .key("assembled")
            .upload_id(&id)
            .part_number(n)
            .copy_source(src)
            .set_copy_source_range(range.map(str::to_string))
            .send()
            .await?;
        let etag = out
            .copy_part_result()
            .and_then(|r| r.e_tag())
            .context("part etag")?
            .to_string();
        parts.push(
            aws_sdk_s3::types::CompletedPart::builder()
                .part_number(n)
                .e_tag(etag)
                .build(),
        );
    }
    expect_error(
        bj.upload_part_copy()
            .bucket("dst")
            .key("assembled")
            .upload_id(&id)
            .part_number(3)
            .copy_source("src/a")
            .copy_source_range("bytes=0-999999999")
            .send()
            .await,
        Some(400),
        "InvalidArgument",
        "a copy-source range past the source's end",
    )?;
    bj.complete_multipart_upload()
        .bucket("dst")
        .key("assembled")
        .upload_id(&id)
        .multipart_upload(
            aws_sdk_s3::types::CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
        .send()
        .await?;
    let mut want = big.to_vec();
    want.extend_from_slice(&data[100..200]);
    ensure!(s3::get_bytes(&bj, "dst", "assembled").await? == want);

    // The copies outlive the source: its chunks stay referenced.
    bj.delete_object().bucket("src").key("a").send().await?;
    ctl.advance_clock(Duration::from_secs(4)).await?;
    ctl.wait_gc_passes(Site::Beijing, 2, Duration::from_secs(30))
        .await?;
    ensure!(s3::get_bytes(&bj, "dst", "a-copy").await? == data);
    ensure!(files(&cluster, Site::Beijing)?.is_superset(&before));
    Ok(())
}
