//! Bucket versioning, part-number reads and bucket tags through
//! `meridian dev` with the AWS SDK: versions and delete markers made,
//! listed (paged), read and removed by id, the null version across
//! suspension, a bucket with only versions left is not empty, noncurrent
//! versions read at another site, GET/HEAD by part number.

use anyhow::{ensure, Context, Result};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketVersioningStatus, CompletedMultipartUpload, CompletedPart, Delete, ObjectIdentifier, Tag,
    Tagging, VersioningConfiguration,
};
use aws_sdk_s3::Client;
use meridian_chaos_tests::data::random_bytes;
use meridian_chaos_tests::s3::{self, expect_error, expect_status, S3Options, SdkResultExt};
use meridian_chaos_tests::{DevCluster, DevOptions, Site};

async fn set_versioning(c: &Client, bucket: &str, status: BucketVersioningStatus) -> Result<()> {
    c.put_bucket_versioning()
        .bucket(bucket)
        .versioning_configuration(VersioningConfiguration::builder().status(status).build())
        .send()
        .await
        .sdk_context("PutBucketVersioning")?;
    Ok(())
}

async fn put(c: &Client, bucket: &str, key: &str, body: &'static [u8]) -> Result<Option<String>> {
    let out = c
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from_static(body))
        .send()
        .await
        .sdk_context("PUT")?;
    Ok(out.version_id().map(str::to_string))
}

async fn get_version(c: &Client, bucket: &str, key: &str, version: &str) -> Result<Vec<u8>> {
    let out = c
        .get_object()
        .bucket(bucket)
        .key(key)
        .version_id(version)
        .send()
        .await
        .sdk_context(&format!("GET {key} version {version}"))?;
    ensure!(out.version_id() == Some(version), "{:?}", out.version_id());
    Ok(out.body.collect().await?.into_bytes().to_vec())
}

/// Every entry of ListObjectVersions as "key@version[ marker][ latest]".
async fn versions(c: &Client, bucket: &str, page: i32) -> Result<Vec<String>> {
    Ok(s3::list_versions(c, bucket, "", page)
        .await?
        .iter()
        .map(ToString::to_string)
        .collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_markers_and_suspension() -> Result<()> {
    let cluster = DevCluster::start_serving(DevOptions::default()).await?;
    let c = cluster.s3_with(Site::Beijing, &S3Options::default().without_retries());
    s3::create_bucket(&c, "vers").await?;
    ensure!(
        put(&c, "vers", "k", b"zero").await?.is_none(),
        "no version id before versioning"
    );
    let before = c.get_bucket_versioning().bucket("vers").send().await?;
    ensure!(before.status().is_none(), "{:?}", before.status());

    set_versioning(&c, "vers", BucketVersioningStatus::Enabled).await?;
    let got = c.get_bucket_versioning().bucket("vers").send().await?;
    ensure!(got.status() == Some(&BucketVersioningStatus::Enabled));
    let v1 = put(&c, "vers", "k", b"one").await?.context("v1 id")?;
    let v2 = put(&c, "vers", "k", b"two").await?.context("v2 id")?;
    ensure!(v1 != v2 && v1 != "null");
    ensure!(s3::get_bytes(&c, "vers", "k").await?.as_ref() == b"two");
    ensure!(get_version(&c, "vers", "k", "null").await? == b"zero");
    ensure!(get_version(&c, "vers", "k", &v1).await? == b"one");
    let head = c
        .head_object()
        .bucket("vers")
        .key("k")
        .version_id(&v1)
        .send()
        .await?;
    ensure!(head.content_length() == Some(3));
    expect_error(
        c.get_object()
            .bucket("vers")
            .key("k")
            .version_id("0000000000000000")
            .send()
            .await,
        Some(404),
        "NoSuchVersion",
        "GET of an unknown version",
    )?;
    ensure!(
        versions(&c, "vers", 1000).await?
            == [format!("k@{v2} latest"), format!("k@{v1}"), "k@null".into()],
        "{:?}",
        versions(&c, "vers", 1000).await?
    );

    // A delete adds a marker: the key is gone from GET and listings, its
    // versions stay.
    let del = c.delete_object().bucket("vers").key("k").send().await?;
    ensure!(del.delete_marker() == Some(true));
    let marker = del.version_id().context("marker id")?.to_string();
    expect_error(
        c.get_object().bucket("vers").key("k").send().await,
        Some(404),
        "NoSuchKey",
        "GET behind a delete marker",
    )?;
    expect_status(
        c.get_object()
            .bucket("vers")
            .key("k")
            .version_id(&marker)
            .send()
            .await,
        405,
        "GET of a delete marker by id",
    )?;
    let listed = c.list_objects_v2().bucket("vers").send().await?;
    ensure!(listed.contents().is_empty());
    ensure!(
        versions(&c, "vers", 1000).await?[0] == format!("k@{marker} marker latest"),
        "marker listed first"
    );
    expect_error(
        c.delete_bucket().bucket("vers").send().await,
        Some(409),
        "BucketNotEmpty",
        "a bucket holding only versions",
    )?;

    // Removing the marker brings v2 back; removing v2 brings v1.
    let undo = c
        .delete_object()
        .bucket("vers")
        .key("k")
        .version_id(&marker)
        .send()
        .await?;
    ensure!(undo.delete_marker() == Some(true) && undo.version_id() == Some(marker.as_str()));
    ensure!(s3::get_bytes(&c, "vers", "k").await?.as_ref() == b"two");
    c.delete_object()
        .bucket("vers")
        .key("k")
        .version_id(&v2)
        .send()
        .await?;
    ensure!(s3::get_bytes(&c, "vers", "k").await?.as_ref() == b"one");

    // A noncurrent version is read at another site, from where it is held.
    put(&c, "vers", "k", b"three").await?;
    let jm = cluster.s3_with(Site::Jiangmen, &S3Options::default().without_retries());
    ensure!(get_version(&jm, "vers", "k", &v1).await? == b"one");

    // Copying an old version onto its key restores it as a new version.
    let restored = c
        .copy_object()
        .bucket("vers")
        .key("k")
        .copy_source(format!("vers/k?versionId={v1}"))
        .send()
        .await
        .sdk_context("CopyObject of a version")?;
    ensure!(restored.copy_source_version_id() == Some(v1.as_str()));
    ensure!(restored.version_id().is_some_and(|v| v != v1));
    ensure!(s3::get_bytes(&c, "vers", "k").await?.as_ref() == b"one");

    // Tags of one version.
    c.put_object_tagging()
        .bucket("vers")
        .key("k")
        .version_id(&v1)
        .tagging(
            Tagging::builder()
                .tag_set(Tag::builder().key("stage").value("raw").build()?)
                .build()?,
        )
        .send()
        .await?;
    let tags = c
        .get_object_tagging()
        .bucket("vers")
        .key("k")
        .version_id(&v1)
        .send()
        .await?;
    ensure!(tags.tag_set().len() == 1 && tags.version_id() == Some(v1.as_str()));
    let current = c
        .get_object_tagging()
        .bucket("vers")
        .key("k")
        .send()
        .await?;
    ensure!(current.tag_set().is_empty());

    // Suspended: writes replace the null version (answered without a
    // version id, as AWS answers them), deletes make a null marker.
    set_versioning(&c, "vers", BucketVersioningStatus::Suspended).await?;
    ensure!(put(&c, "vers", "k", b"four").await?.is_none());
    ensure!(put(&c, "vers", "k", b"five").await?.is_none());
    let head = c.head_object().bucket("vers").key("k").send().await?;
    ensure!(head.version_id() == Some("null"), "{head:?}");
    let all = versions(&c, "vers", 1000).await?;
    ensure!(all.len() == 4 && all[0] == "k@null latest", "{all:?}");
    ensure!(get_version(&c, "vers", "k", "null").await? == b"five");
    let del = c.delete_object().bucket("vers").key("k").send().await?;
    ensure!(del.delete_marker() == Some(true) && del.version_id() == Some("null"));

    // DeleteObjects by version id empties the bucket.
    let mut ids = Delete::builder();
    for entry in versions(&c, "vers", 1000).await? {
        let (key, rest) = entry.split_once('@').context("entry")?;
        let version = rest.split(' ').next().unwrap_or_default();
        ids = ids.objects(
            ObjectIdentifier::builder()
                .key(key)
                .version_id(version)
                .build()?,
        );
    }
    let out = c
        .delete_objects()
        .bucket("vers")
        .delete(ids.build()?)
        .send()
        .await?;
    ensure!(out.errors().is_empty(), "{:?}", out.errors());
    ensure!(out
        .deleted()
        .iter()
        .any(|d| d.delete_marker() == Some(true)));
    ensure!(versions(&c, "vers", 1000).await?.is_empty());
    c.delete_bucket().bucket("vers").send().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn version_listing_pages_prefixes_and_bucket_tags() -> Result<()> {
    let cluster = DevCluster::start_serving(DevOptions::default()).await?;
    let c = cluster.s3_with(Site::Beijing, &S3Options::default().without_retries());
    s3::create_bucket(&c, "pages").await?;
    set_versioning(&c, "pages", BucketVersioningStatus::Enabled).await?;
    for key in ["a", "a", "a", "b/x", "b/y", "c", "c"] {
        put(&c, "pages", key, b"x").await?;
    }
    c.delete_object().bucket("pages").key("c").send().await?;
    let whole = versions(&c, "pages", 1000).await?;
    ensure!(whole.len() == 8, "{whole:?}");
    for page in [1, 2, 3] {
        let paged = versions(&c, "pages", page).await?;
        ensure!(paged == whole, "pages of {page}: {paged:?} vs {whole:?}");
    }
    let grouped = c
        .list_object_versions()
        .bucket("pages")
        .delimiter("/")
        .send()
        .await?;
    let prefixes: Vec<_> = grouped
        .common_prefixes()
        .iter()
        .filter_map(|p| p.prefix())
        .collect();
    ensure!(prefixes == ["b/"], "{prefixes:?}");
    ensure!(grouped.versions().len() == 5 && grouped.delete_markers().len() == 1);

    // Bucket tags.
    expect_error(
        c.get_bucket_tagging().bucket("pages").send().await,
        Some(404),
        "NoSuchTagSet",
        "tags of an untagged bucket",
    )?;
    c.put_bucket_tagging()
        .bucket("pages")
        .tagging(
            Tagging::builder()
                .tag_set(Tag::builder().key("experiment").value("juno").build()?)
                .build()?,
        )
        .send()
        .await?;
    let tags = c.get_bucket_tagging().bucket("pages").send().await?;
    ensure!(tags.tag_set().len() == 1 && tags.tag_set()[0].value() == "juno");
    c.delete_bucket_tagging().bucket("pages").send().await?;
    expect_error(
        c.get_bucket_tagging().bucket("pages").send().await,
        Some(404),
        "NoSuchTagSet",
        "tags after DeleteBucketTagging",
    )?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_by_part_number() -> Result<()> {
    let cluster = DevCluster::start_serving(DevOptions::default()).await?;
    let c = cluster.s3_with(Site::Beijing, &S3Options::default().without_retries());
    s3::create_bucket(&c, "parts").await?;
    let p1 = random_bytes(1, 5 * 1024 * 1024);
    let p2 = random_bytes(2, 1024 * 1024 + 7);
    let up = c
        .create_multipart_upload()
        .bucket("parts")
        .key("mp")
        .send()
        .await?;
    let id = up.upload_id().context("upload id")?;
    let mut done = CompletedMultipartUpload::builder();
    for (n, data) in [(1, &p1), (2, &p2)] {
        let part = c
            .upload_part()
            .bucket("parts")
            .key("mp")
            .upload_id(id)
            .part_number(n)
            .body(ByteStream::from(data.clone()))
            .send()
            .await?;
        done = done.parts(
            CompletedPart::builder()
                .part_number(n)
                .e_tag(part.e_tag().unwrap_or_default())
                .build(),
        );
    }
    c.complete_multipart_upload()
        .bucket("parts")
        .key("mp")
        .upload_id(id)
        .multipart_upload(done.build())
        .send()
        .await?;
    let second = c
        .get_object()
        .bucket("parts")
        .key("mp")
        .part_number(2)
        .send()
        .await?;
    ensure!(
        second.parts_count() == Some(2),
        "{:?}",
        second.parts_count()
    );
    let total = p1.len() + p2.len();
    ensure!(
        second.content_range()
            == Some(format!("bytes {}-{}/{total}", p1.len(), total - 1).as_str()),
        "{:?}",
        second.content_range()
    );
    ensure!(second.body.collect().await?.into_bytes() == p2);
    let head = c
        .head_object()
        .bucket("parts")
        .key("mp")
        .part_number(1)
        .send()
        .await?;
    ensure!(head.content_length() == Some(p1.len() as i64));
    expect_status(
        c.get_object()
            .bucket("parts")
            .key("mp")
            .part_number(3)
            .send()
            .await,
        416,
        "part 3 of 2",
    )?;
    // A single PUT is one part.
    s3::put_bytes(&c, "parts", "single", bytes::Bytes::from_static(b"whole")).await?;
    let one = c
        .get_object()
        .bucket("parts")
        .key("single")
        .part_number(1)
        .send()
        .await?;
    ensure!(one.body.collect().await?.into_bytes().as_ref() == b"whole");
    Ok(())
}
