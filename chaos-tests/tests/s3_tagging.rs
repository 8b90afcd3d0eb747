//! Object tags and GetObjectAttributes through `meridian dev` with the AWS
//! SDK: tags given with the PUT, read, replaced and removed; their limits;
//! copies keep them; the attributes of a single and a multipart object.

use anyhow::{ensure, Context, Result};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    ChecksumAlgorithm, CompletedMultipartUpload, CompletedPart, ObjectAttributes, Tag, Tagging,
};
use meridian_chaos_tests::data::random_bytes;
use meridian_chaos_tests::s3::{self, expect_error, S3Options};
use meridian_chaos_tests::{DevCluster, DevOptions, Site};

fn tag(k: &str, v: &str) -> Result<Tag> {
    Ok(Tag::builder().key(k).value(v).build()?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_and_attributes() -> Result<()> {
    let cluster = DevCluster::start_serving(DevOptions::default()).await?;
    let c = cluster.s3_with(Site::Beijing, &S3Options::default().without_retries());
    s3::create_bucket(&c, "tags").await?;
    c.put_object()
        .bucket("tags")
        .key("k")
        .tagging("project=juno&run%2Fid=42")
        .checksum_algorithm(ChecksumAlgorithm::Sha256)
        .body(ByteStream::from_static(b"tagged"))
        .send()
        .await?;
    let got = c
        .get_object_tagging()
        .bucket("tags")
        .key("k")
        .send()
        .await?;
    let mut pairs: Vec<(String, String)> = got
        .tag_set()
        .iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect();
    pairs.sort();
    ensure!(
        pairs
            == [
                ("project".into(), "juno".into()),
                ("run/id".into(), "42".into())
            ],
        "{pairs:?}"
    );
    let obj = c.get_object().bucket("tags").key("k").send().await?;
    ensure!(obj.tag_count() == Some(2), "{:?}", obj.tag_count());

    c.put_object_tagging()
        .bucket("tags")
        .key("k")
        .tagging(
            Tagging::builder()
                .tag_set(tag("stage", "calibrated")?)
                .build()?,
        )
        .send()
        .await?;
    let got = c
        .get_object_tagging()
        .bucket("tags")
        .key("k")
        .send()
        .await?;
    ensure!(got.tag_set().len() == 1 && got.tag_set()[0].value() == "calibrated");

    let mut eleven = Tagging::builder();
    for i in 0..11 {
        eleven = eleven.tag_set(tag(&format!("k{i}"), "v")?);
    }
    let refused = c
        .put_object_tagging()
        .bucket("tags")
        .key("k")
        .tagging(eleven.build()?)
        .send()
        .await;
    ensure!(refused.is_err(), "11 tags accepted");
    let got = c
        .get_object_tagging()
        .bucket("tags")
        .key("k")
        .send()
        .await?;
    ensure!(
        got.tag_set().len() == 1,
        "a refused tagging changed the tags"
    );

    // Copies keep the source's tags.
    c.copy_object()
        .bucket("tags")
        .key("copy")
        .copy_source("tags/k")
        .send()
        .await?;
    let got = c
        .get_object_tagging()
        .bucket("tags")
        .key("copy")
        .send()
        .await?;
    ensure!(got.tag_set().len() == 1 && got.tag_set()[0].key() == "stage");

    c.delete_object_tagging()
        .bucket("tags")
        .key("k")
        .send()
        .await?;
    let got = c
        .get_object_tagging()
        .bucket("tags")
        .key("k")
        .send()
        .await?;
    ensure!(got.tag_set().is_empty());
    expect_error(
        c.get_object_tagging()
            .bucket("tags")
            .key("absent")
            .send()
            .await,
        Some(404),
        "NoSuchKey",
        "tags of a missing key",
    )?;

    // Attributes of a single object...
    let attrs = c
        .get_object_attributes()
        .bucket("tags")
        .key("k")
        .object_attributes(ObjectAttributes::Etag)
        .object_attributes(ObjectAttributes::ObjectSize)
        .object_attributes(ObjectAttributes::Checksum)
        .object_attributes(ObjectAttributes::StorageClass)
        .send()
        .await?;
    ensure!(attrs.object_size() == Some(6));
    ensure!(attrs.e_tag().is_some());
    ensure!(
        attrs.checksum().and_then(|c| c.checksum_sha256()).is_some(),
        "{attrs:?}"
    );
    // ...and of a multipart one.
    let up = c
        .create_multipart_upload()
        .bucket("tags")
        .key("mpu")
        .send()
        .await?;
    let id = up.upload_id().context("id")?.to_string();
    let mut parts = Vec::new();
    for n in 1..=2 {
        let body = random_bytes(n as u64, if n == 1 { 5 << 20 } else { 1000 });
        let p = c
            .upload_part()
            .bucket("tags")
            .key("mpu")
            .upload_id(&id)
            .part_number(n)
            .body(ByteStream::from(body))
            .send()
            .await?;
        parts.push(
            CompletedPart::builder()
                .part_number(n)
                .e_tag(p.e_tag().unwrap_or_default())
                .build(),
        );
    }
    c.complete_multipart_upload()
        .bucket("tags")
        .key("mpu")
        .upload_id(&id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
        .send()
        .await?;
    let attrs = c
        .get_object_attributes()
        .bucket("tags")
        .key("mpu")
        .object_attributes(ObjectAttributes::ObjectParts)
        .object_attributes(ObjectAttributes::ObjectSize)
        .send()
        .await?;
    ensure!(attrs.object_size() == Some((5 << 20) + 1000));
    ensure!(
        attrs.object_parts().and_then(|p| p.total_parts_count()) == Some(2),
        "{attrs:?}"
    );
    Ok(())
}
