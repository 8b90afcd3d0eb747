//! The S3 API as the AWS SDK for Rust sees it, against a real `meridian dev`.
//! Each test starts its own federation so that one failure does not hide another.

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use aws_sdk_s3::Client;
use bytes::Bytes;
use meridian_chaos_tests::data::{blake3_hex, md5_hex, random_bytes};
use meridian_chaos_tests::listing::{check_page_size, expected_listing};
use meridian_chaos_tests::s3::{self, expect_error, expect_status, S3Options, SdkResultExt};
use meridian_chaos_tests::{DevCluster, DevOptions, ReplicaState, Site};

const CHUNK: usize = 256 * 1024;
const MIB: usize = 1024 * 1024;
const REPLICATION_TIMEOUT: Duration = Duration::from_secs(120);

async fn start() -> Result<DevCluster> {
    DevCluster::start_serving(
        DevOptions::default()
            .with_link_scale(1.0)
            .with_chunk_size("256KiB"),
    )
    .await
}

fn trim_etag(etag: Option<&str>) -> String {
    etag.unwrap_or_default().trim_matches('"').to_string()
}

#[tokio::test]
async fn bucket_lifecycle() -> Result<()> {
    let cluster = start().await?;
    let c = cluster.s3(Site::Beijing);
    let bucket = "sdk-buckets";

    s3::create_bucket(&c, bucket).await?;
    c.head_bucket()
        .bucket(bucket)
        .send()
        .await
        .sdk_context("HeadBucket on a new bucket")?;
    let names: Vec<String> = c
        .list_buckets()
        .send()
        .await
        .sdk_context("ListBuckets")?
        .buckets()
        .iter()
        .filter_map(|b| b.name().map(str::to_string))
        .collect();
    ensure!(
        names.iter().any(|n| n == bucket),
        "ListBuckets {names:?} lacks {bucket}"
    );

    // Buckets are global: another site sees the bucket.
    cluster
        .s3(Site::Daocheng)
        .head_bucket()
        .bucket(bucket)
        .send()
        .await
        .sdk_context("HeadBucket at Daocheng")?;

    s3::put_bytes(&c, bucket, "keep", Bytes::from_static(b"x")).await?;
    expect_error(
        c.delete_bucket().bucket(bucket).send().await,
        Some(409),
        "BucketNotEmpty",
        "DeleteBucket on a non-empty bucket",
    )?;
    c.delete_object()
        .bucket(bucket)
        .key("keep")
        .send()
        .await
        .sdk_context("DeleteObject")?;
    c.delete_bucket()
        .bucket(bucket)
        .send()
        .await
        .sdk_context("DeleteBucket once empty")?;
    expect_status(
        c.head_bucket().bucket(bucket).send().await,
        404,
        "HeadBucket after delete",
    )?;
    let names: Vec<String> = c
        .list_buckets()
        .send()
        .await
        .sdk_context("ListBuckets")?
        .buckets()
        .iter()
        .filter_map(|b| b.name().map(str::to_string))
        .collect();
    ensure!(
        !names.iter().any(|n| n == bucket),
        "deleted bucket still listed: {names:?}"
    );

    for bad in ["ab", "Bad_Name", "-leading-dash"] {
        expect_error(
            c.create_bucket().bucket(bad).send().await,
            Some(400),
            "InvalidBucketName",
            &format!("CreateBucket {bad:?}"),
        )?;
    }
    let missing = "no-such-bucket-here";
    expect_status(
        c.head_bucket().bucket(missing).send().await,
        404,
        "HeadBucket on a missing bucket",
    )?;
    expect_error(
        c.list_objects_v2().bucket(missing).send().await,
        Some(404),
        "NoSuchBucket",
        "ListObjectsV2 on a missing bucket",
    )?;
    expect_error(
        c.put_object()
            .bucket(missing)
            .key("k")
            .body(ByteStream::from_static(b"x"))
            .send()
            .await,
        Some(404),
        "NoSuchBucket",
        "PutObject into a missing bucket",
    )?;
    expect_error(
        c.get_object().bucket(missing).key("k").send().await,
        Some(404),
        "NoSuchBucket",
        "GetObject from a missing bucket",
    )?;
    Ok(())
}

#[tokio::test]
async fn object_roundtrip_with_metadata() -> Result<()> {
    let cluster = start().await?;
    let c = cluster.s3(Site::Beijing);
    let bucket = "sdk-objects";
    s3::create_bucket(&c, bucket).await?;

    let data = random_bytes(1, 3 * CHUNK + 17);
    let put = c
        .put_object()
        .bucket(bucket)
        .key("run/0001.h5")
        .content_type("application/x-hdf5")
        .metadata("experiment", "juno")
        .metadata("run-number", "42")
        .body(ByteStream::from(data.clone()))
        .send()
        .await
        .sdk_context("PutObject")?;
    let md5 = md5_hex(&data);
    ensure!(
        trim_etag(put.e_tag()) == md5,
        "PUT ETag {:?} is not the MD5 {md5}",
        put.e_tag()
    );

    let head = c
        .head_object()
        .bucket(bucket)
        .key("run/0001.h5")
        .send()
        .await
        .sdk_context("HeadObject")?;
    ensure!(
        head.content_length() == Some(data.len() as i64),
        "HEAD length {:?}",
        head.content_length()
    );
    ensure!(
        head.content_type() == Some("application/x-hdf5"),
        "HEAD type {:?}",
        head.content_type()
    );
    ensure!(
        trim_etag(head.e_tag()) == md5,
        "HEAD ETag {:?}",
        head.e_tag()
    );
    let meta = head.metadata().cloned().unwrap_or_default();
    ensure!(
        meta.get("experiment").map(String::as_str) == Some("juno"),
        "HEAD metadata {meta:?}"
    );
    ensure!(
        meta.get("run-number").map(String::as_str) == Some("42"),
        "HEAD metadata {meta:?}"
    );

    let get = c
        .get_object()
        .bucket(bucket)
        .key("run/0001.h5")
        .send()
        .await
        .sdk_context("GetObject")?;
    ensure!(
        get.content_type() == Some("application/x-hdf5"),
        "GET type {:?}",
        get.content_type()
    );
    let meta = get.metadata().cloned().unwrap_or_default();
    ensure!(
        meta.get("experiment").map(String::as_str) == Some("juno"),
        "GET metadata {meta:?}"
    );
    let body = get.body.collect().await.context("GET body")?.into_bytes();
    ensure!(body == data, "GET returned different bytes");

    // Empty objects are objects too.
    let etag = s3::put_bytes(&c, bucket, "empty", Bytes::new()).await?;
    ensure!(etag == md5_hex(b""), "empty object's ETag {etag}");
    ensure!(
        s3::get_bytes(&c, bucket, "empty").await?.is_empty(),
        "empty object read back non-empty"
    );

    // An overwrite replaces the content.
    let newer = random_bytes(2, CHUNK - 3);
    s3::put_bytes(&c, bucket, "run/0001.h5", newer.clone()).await?;
    ensure!(
        s3::get_bytes(&c, bucket, "run/0001.h5").await? == newer,
        "overwrite not visible"
    );

    c.delete_object()
        .bucket(bucket)
        .key("run/0001.h5")
        .send()
        .await
        .sdk_context("DeleteObject")?;
    expect_status(
        c.head_object()
            .bucket(bucket)
            .key("run/0001.h5")
            .send()
            .await,
        404,
        "HeadObject after delete",
    )?;
    expect_error(
        c.get_object()
            .bucket(bucket)
            .key("run/0001.h5")
            .send()
            .await,
        Some(404),
        "NoSuchKey",
        "GetObject after delete",
    )?;
    // As in S3, deleting what is not there succeeds.
    c.delete_object()
        .bucket(bucket)
        .key("never-was")
        .send()
        .await
        .sdk_context("DeleteObject of an absent key")?;
    Ok(())
}

#[tokio::test]
async fn ranged_get() -> Result<()> {
    let cluster = start().await?;
    let c = cluster.s3(Site::Huairou);
    let bucket = "sdk-ranges";
    s3::create_bucket(&c, bucket).await?;
    let size = 4 * CHUNK + 123;
    let data = random_bytes(3, size);
    s3::put_bytes(&c, bucket, "obj", data.clone()).await?;

    let last = size - 1;
    let cases: Vec<(String, usize, usize)> = vec![
        ("bytes=0-0".into(), 0, 0),
        ("bytes=100-199".into(), 100, 199),
        // Across the first chunk boundary.
        (
            format!("bytes={}-{}", CHUNK - 5, CHUNK + 5),
            CHUNK - 5,
            CHUNK + 5,
        ),
        // Exactly one whole chunk.
        (
            format!("bytes={}-{}", CHUNK, 2 * CHUNK - 1),
            CHUNK,
            2 * CHUNK - 1,
        ),
        ("bytes=-500".into(), size - 500, last),
        (format!("bytes={}-", size - 1000), size - 1000, last),
        // An end past the object is clamped, as in S3.
        (
            format!("bytes={}-{}", size - 10, size + 1000),
            size - 10,
            last,
        ),
    ];
    for (range, first, end) in cases {
        let out = c
            .get_object()
            .bucket(bucket)
            .key("obj")
            .range(&range)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("GET {range}: {}", s3::describe_error(&e)))?;
        let want_range = format!("bytes {first}-{end}/{size}");
        ensure!(
            out.content_range() == Some(want_range.as_str()),
            "{range}: Content-Range {:?}, want {want_range}",
            out.content_range()
        );
        let body = out
            .body
            .collect()
            .await
            .context("ranged body")?
            .into_bytes();
        ensure!(
            body == data.slice(first..=end),
            "{range}: wrong bytes ({} bytes back)",
            body.len()
        );
    }
    expect_error(
        c.get_object()
            .bucket(bucket)
            .key("obj")
            .range(format!("bytes={}-", size + 10))
            .send()
            .await,
        Some(416),
        "InvalidRange",
        "GET with a range past the end",
    )?;
    Ok(())
}

async fn upload_part(
    c: &Client,
    bucket: &str,
    key: &str,
    id: &str,
    n: i32,
    data: Bytes,
) -> Result<CompletedPart> {
    let out = c
        .upload_part()
        .bucket(bucket)
        .key(key)
        .upload_id(id)
        .part_number(n)
        .body(ByteStream::from(data))
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("UploadPart {n}: {}", s3::describe_error(&e)))?;
    Ok(CompletedPart::builder()
        .part_number(n)
        .set_e_tag(out.e_tag().map(str::to_string))
        .build())
}

#[tokio::test]
async fn multipart_upload() -> Result<()> {
    let cluster = start().await?;
    let c = cluster.s3(Site::Dongguan);
    let bucket = "sdk-multipart";
    s3::create_bucket(&c, bucket).await?;

    let parts = [
        random_bytes(10, 5 * MIB),
        random_bytes(11, 5 * MIB),
        random_bytes(12, MIB + 17),
    ];
    let whole: Vec<u8> = parts.iter().flat_map(|p| p.iter().copied()).collect();
    let key = "mp/three-parts";
    let created = c
        .create_multipart_upload()
        .bucket(bucket)
        .key(key)
        .content_type("application/octet-stream")
        .send()
        .await
        .sdk_context("CreateMultipartUpload")?;
    let id = created.upload_id().context("no upload id")?.to_string();
    let mut done = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        done.push(upload_part(&c, bucket, key, &id, i as i32 + 1, p.clone()).await?);
    }
    let completed = c
        .complete_multipart_upload()
        .bucket(bucket)
        .key(key)
        .upload_id(&id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(done))
                .build(),
        )
        .send()
        .await
        .sdk_context("CompleteMultipartUpload")?;
    let etag = trim_etag(completed.e_tag());
    ensure!(
        etag.ends_with("-3"),
        "multipart ETag {etag:?} does not end with -3"
    );

    let head = c
        .head_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .sdk_context("HEAD")?;
    ensure!(
        head.content_length() == Some(whole.len() as i64),
        "HEAD length {:?}",
        head.content_length()
    );
    ensure!(
        trim_etag(head.e_tag()) == etag,
        "HEAD ETag {:?} vs {etag}",
        head.e_tag()
    );
    let back = s3::get_bytes(&c, bucket, key).await?;
    ensure!(
        blake3_hex(&back) == blake3_hex(&whole),
        "multipart object reads back different bytes"
    );

    // A range across the part boundary.
    let (first, end) = (5 * MIB - 100, 5 * MIB + 100);
    let out = c
        .get_object()
        .bucket(bucket)
        .key(key)
        .range(format!("bytes={first}-{end}"))
        .send()
        .await
        .sdk_context("ranged GET across parts")?;
    let body = out.body.collect().await.context("body")?.into_bytes();
    ensure!(
        body[..] == whole[first..=end],
        "range across the part boundary differs"
    );

    // A non-last part under 5 MiB is refused at completion.
    let small_key = "mp/too-small";
    let created = c
        .create_multipart_upload()
        .bucket(bucket)
        .key(small_key)
        .send()
        .await
        .sdk_context("CreateMultipartUpload")?;
    let small_id = created.upload_id().context("no upload id")?.to_string();
    let small = vec![
        upload_part(&c, bucket, small_key, &small_id, 1, random_bytes(13, MIB)).await?,
        upload_part(&c, bucket, small_key, &small_id, 2, random_bytes(14, MIB)).await?,
    ];
    expect_error(
        c.complete_multipart_upload()
            .bucket(bucket)
            .key(small_key)
            .upload_id(&small_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(small))
                    .build(),
            )
            .send()
            .await,
        Some(400),
        "EntityTooSmall",
        "CompleteMultipartUpload with a 1 MiB first part",
    )?;
    c.abort_multipart_upload()
        .bucket(bucket)
        .key(small_key)
        .upload_id(&small_id)
        .send()
        .await
        .sdk_context("AbortMultipartUpload")?;
    expect_status(
        c.head_object().bucket(bucket).key(small_key).send().await,
        404,
        "HEAD of an aborted upload's key",
    )?;
    Ok(())
}

/// Keys that break naive path handling or XML.
fn odd_keys() -> Vec<String> {
    let mut keys: Vec<String> = [
        "dir/a..b",
        "dir/../escape",
        "dir//double",
        "dir/%2Fpct",
        "dir/ctl\u{1}x\u{7f}",
        "dir/sub/one",
        "dir/sub/two",
        "dir/sub2/x",
        "dir/ünïcødé",
        "dir/space and ?query&amp",
        "top-level",
        "z/../../etc/passwd",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    keys.push(format!("dir/{}", "k".repeat(1024 - 4)));
    keys
}

#[tokio::test]
async fn list_objects_v2_over_odd_keys() -> Result<()> {
    let cluster = start().await?;
    let c = cluster.s3(Site::Beijing);
    let bucket = "sdk-listing";
    s3::create_bucket(&c, bucket).await?;
    let mut keys = odd_keys();
    for (i, key) in keys.iter().enumerate() {
        let data = random_bytes(100 + i as u64, 10 + i);
        s3::put_bytes(&c, bucket, key, data.clone()).await?;
        let back = s3::get_bytes(&c, bucket, key).await?;
        ensure!(back == data, "{key:?} reads back different bytes");
    }
    keys.sort();

    // Whole bucket, three at a time.
    let all = list_paged(&c, bucket, None, None, 3).await?;
    ensure!(
        all.0 == keys,
        "paged listing {:?} != written {keys:?}",
        all.0
    );
    ensure!(
        all.1.is_empty(),
        "prefixes without a delimiter: {:?}",
        all.1
    );

    for (prefix, delimiter, max) in [
        ("dir/", Some("/"), 2),
        ("dir/", Some("/"), 1000),
        ("dir/s", Some("/"), 1),
        ("", Some("/"), 2),
        ("dir/sub/", None, 1),
    ] {
        let (objs, prefixes) = list_paged(&c, bucket, Some(prefix), delimiter, max).await?;
        let (want_objs, want_prefixes) = expected_listing(&keys, prefix, delimiter);
        let objs_set: BTreeSet<String> = objs.iter().cloned().collect();
        let prefixes_set: BTreeSet<String> = prefixes.iter().cloned().collect();
        ensure!(
            objs.len() == objs_set.len(),
            "{prefix:?}/{delimiter:?}: a key came back twice: {objs:?}"
        );
        ensure!(
            prefixes.len() == prefixes_set.len(),
            "{prefix:?}/{delimiter:?}: a prefix came back twice: {prefixes:?}"
        );
        ensure!(
            objs_set == want_objs,
            "{prefix:?}/{delimiter:?}/max {max}: keys {objs_set:?}, want {want_objs:?}"
        );
        ensure!(
            prefixes_set == want_prefixes,
            "{prefix:?}/{delimiter:?}/max {max}: prefixes {prefixes_set:?}, want {want_prefixes:?}"
        );
    }

    let too_long = "k".repeat(1025);
    let res = c
        .put_object()
        .bucket(bucket)
        .key(&too_long)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await;
    ensure!(res.is_err(), "a 1025-byte key was accepted");
    Ok(())
}

/// Follows continuation tokens; checks every page against `max_keys`.
async fn list_paged(
    c: &Client,
    bucket: &str,
    prefix: Option<&str>,
    delimiter: Option<&str>,
    max_keys: usize,
) -> Result<(Vec<String>, Vec<String>)> {
    let (mut objs, mut prefixes) = (Vec::new(), Vec::new());
    let mut token = None;
    for _ in 0..1000 {
        let page =
            s3::list_page(c, bucket, prefix, delimiter, Some(max_keys as i32), token).await?;
        check_page_size(page.keys.len(), page.prefixes.len(), max_keys)?;
        objs.extend(page.keys);
        prefixes.extend(page.prefixes);
        if !page.truncated {
            return Ok((objs, prefixes));
        }
        token = Some(
            page.next_token
                .context("truncated page without NextContinuationToken")?,
        );
    }
    bail!("listing did not end within 1000 pages")
}

#[tokio::test]
async fn authentication_errors() -> Result<()> {
    let cluster = start().await?;
    let endpoint = cluster.s3_endpoint(Site::Beijing);
    let good = cluster.s3(Site::Beijing);
    s3::create_bucket(&good, "sdk-auth").await?;

    let wrong_secret = s3::client(
        &endpoint,
        &S3Options::default().with_keys(s3::ROOT_ACCESS_KEY, "not-the-secret"),
    );
    expect_error(
        wrong_secret.list_buckets().send().await,
        Some(403),
        "SignatureDoesNotMatch",
        "ListBuckets with a wrong secret",
    )?;
    expect_error(
        wrong_secret
            .put_object()
            .bucket("sdk-auth")
            .key("k")
            .body(ByteStream::from_static(b"payload"))
            .send()
            .await,
        Some(403),
        "SignatureDoesNotMatch",
        "PutObject with a wrong secret",
    )?;
    expect_status(
        good.head_object().bucket("sdk-auth").key("k").send().await,
        404,
        "HEAD of a key whose PUT was refused",
    )?;

    let unknown = s3::client(
        &endpoint,
        &S3Options::default().with_keys("nobody-knows-me", "whatever-secret"),
    );
    expect_error(
        unknown.list_buckets().send().await,
        Some(403),
        "InvalidAccessKeyId",
        "ListBuckets with an unknown access key",
    )?;
    Ok(())
}

#[tokio::test]
async fn cross_site_reads_and_replica_status() -> Result<()> {
    let cluster = start().await?;
    let beijing = cluster.s3(Site::Beijing);
    let jiangmen = cluster.s3(Site::Jiangmen);
    let bucket = "sdk-cross-site";
    s3::create_bucket(&beijing, bucket).await?;

    // Read at Jiangmen right after the PUT at Beijing is acknowledged: the
    // catalogue is linearizable and Jiangmen fetches the bytes over the link.
    let data = random_bytes(20, 5 * CHUNK + 9);
    s3::put_bytes(&beijing, bucket, "from-beijing", data.clone()).await?;
    let back = s3::get_bytes(&jiangmen, bucket, "from-beijing").await?;
    ensure!(
        back == data,
        "Jiangmen returned different bytes for an object written at Beijing"
    );

    let data = random_bytes(21, 3 * CHUNK + 1);
    let etag = s3::put_bytes(&jiangmen, bucket, "from-jiangmen", data.clone()).await?;
    let ctl = cluster.ctl();
    let stat = ctl.object_stat(bucket, "from-jiangmen").await?;
    ensure!(
        stat.state_at(Site::Jiangmen) == Some(&ReplicaState::Complete),
        "ingest site Jiangmen is not complete right after the ack: {}",
        stat.replica_summary()
    );
    ensure!(
        stat.blake3 == blake3_hex(&data),
        "stat blake3 {} is not the content's",
        stat.blake3
    );
    ensure!(stat.size == data.len() as u64, "stat size {}", stat.size);
    ensure!(
        stat.etag == etag,
        "stat etag {} vs PUT ETag {etag}",
        stat.etag
    );

    let stat = ctl
        .wait_replicated(bucket, "from-jiangmen", 3, REPLICATION_TIMEOUT)
        .await?;
    ensure!(
        stat.complete_sites().contains(&Site::Beijing),
        "the Beijing hub holds no replica: {}",
        stat.replica_summary()
    );
    for site in Site::ALL {
        let back = s3::get_bytes(&cluster.s3(site), bucket, "from-jiangmen").await?;
        ensure!(back == data, "{site} returned different bytes");
    }
    Ok(())
}
