//! Bucket lifecycle rules through `meridian dev` with the AWS SDK, with a
//! lifecycle day of two seconds (`--lifecycle-day`): current versions
//! expire (a delete marker under versioning, gone without), noncurrent
//! versions go a day after they stopped being current except the newest
//! one kept, a lone delete marker goes, an incomplete upload is aborted,
//! a disabled rule and a size filter leave objects alone; the
//! configuration reads back; transitions are refused; status counts it all.
//! The job looks at 2 versions per bucket and pass (`--lifecycle-walk`),
//! so every walk is cut short and resumed, inside keys too; noncurrent
//! versions whose days have not come stay (a resumed walk must not take
//! them for older than they are).

use std::time::Duration;

use anyhow::{ensure, Context, Result};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    AbortIncompleteMultipartUpload, BucketLifecycleConfiguration, BucketVersioningStatus,
    ExpirationStatus, LifecycleExpiration, LifecycleRule, LifecycleRuleFilter,
    NoncurrentVersionExpiration, Transition, TransitionStorageClass, VersioningConfiguration,
};
use aws_sdk_s3::Client;
use meridian_chaos_tests::s3::{self, expect_error, S3Options};
use meridian_chaos_tests::wait::{poll_until, Check};
use meridian_chaos_tests::{DevCluster, DevOptions, Site};

fn rule(id: &str, prefix: &str) -> aws_sdk_s3::types::builders::LifecycleRuleBuilder {
    LifecycleRule::builder()
        .id(id)
        .status(ExpirationStatus::Enabled)
        .filter(LifecycleRuleFilter::builder().prefix(prefix).build())
}

async fn put(c: &Client, bucket: &str, key: &str, body: &'static [u8]) -> Result<String> {
    let out = c
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from_static(body))
        .send()
        .await?;
    Ok(out.version_id().unwrap_or_default().to_string())
}

/// (version id, is a delete marker) of a key's versions, newest first.
async fn versions_of(c: &Client, bucket: &str, key: &str) -> Result<Vec<(String, bool)>> {
    Ok(s3::list_versions(c, bucket, key, 1000)
        .await?
        .into_iter()
        .filter(|e| e.key == key)
        .map(|e| (e.version_id, e.delete_marker))
        .collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_rules_expire_versions_markers_and_uploads() -> Result<()> {
    let mut opts = DevOptions::default();
    opts.extra_args.extend(
        [
            "--lifecycle-day",
            "2s",
            "--lifecycle-period",
            "1s",
            "--lifecycle-walk",
            "2",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    let cluster = DevCluster::start_serving(opts).await?;
    let c = cluster.s3_with(Site::Beijing, &S3Options::default().without_retries());
    s3::create_bucket(&c, "life").await?;
    s3::create_bucket(&c, "plain").await?;
    s3::create_bucket(&c, "slow").await?;
    for b in ["life", "slow"] {
        c.put_bucket_versioning()
            .bucket(b)
            .versioning_configuration(
                VersioningConfiguration::builder()
                    .status(BucketVersioningStatus::Enabled)
                    .build(),
            )
            .send()
            .await?;
    }
    for _ in 0..5 {
        put(&c, "slow", "k", b"kept for a thousand days").await?;
    }
    c.put_bucket_lifecycle_configuration()
        .bucket("slow")
        .lifecycle_configuration(
            BucketLifecycleConfiguration::builder()
                .rules(
                    rule("slow", "")
                        .noncurrent_version_expiration(
                            NoncurrentVersionExpiration::builder()
                                .noncurrent_days(1000)
                                .build(),
                        )
                        .build()?,
                )
                .build()?,
        )
        .send()
        .await?;

    // Refused: transitions (one storage class), no action at all.
    let transition = rule("t", "")
        .transitions(
            Transition::builder()
                .days(1)
                .storage_class(TransitionStorageClass::Glacier)
                .build(),
        )
        .build()?;
    expect_error(
        c.put_bucket_lifecycle_configuration()
            .bucket("life")
            .lifecycle_configuration(
                BucketLifecycleConfiguration::builder()
                    .rules(transition)
                    .build()?,
            )
            .send()
            .await,
        Some(501),
        "NotImplemented",
        "a transition rule",
    )?;
    expect_error(
        c.put_bucket_lifecycle_configuration()
            .bucket("life")
            .lifecycle_configuration(
                BucketLifecycleConfiguration::builder()
                    .rules(rule("nothing", "x/").build()?)
                    .build()?,
            )
            .send()
            .await,
        Some(400),
        "InvalidArgument",
        "a rule without an action",
    )?;

    // Objects first, rules after: they apply to what exists.
    let v1 = put(&c, "life", "raw/a", b"one").await?;
    let v2 = put(&c, "life", "raw/a", b"two").await?;
    let v3 = put(&c, "life", "raw/a", b"three").await?;
    put(&c, "life", "keep/x", b"kept").await?;
    put(&c, "life", "big/small", b"small").await?;
    put(&c, "life", "big/large", &[7u8; 100]).await?;
    // A delete of a key that never existed: a lone marker.
    c.delete_object().bucket("life").key("ghost").send().await?;
    let up = c
        .create_multipart_upload()
        .bucket("life")
        .key("up")
        .send()
        .await?;
    let up_id = up.upload_id().context("upload id")?.to_string();
    put(&c, "plain", "tmp/t", b"temporary").await?;
    put(&c, "plain", "data/d", b"data").await?;

    let rules = BucketLifecycleConfiguration::builder()
        .rules(
            rule("raw", "raw/")
                .expiration(LifecycleExpiration::builder().days(1).build())
                .noncurrent_version_expiration(
                    NoncurrentVersionExpiration::builder()
                        .noncurrent_days(1)
                        .newer_noncurrent_versions(1)
                        .build(),
                )
                .build()?,
        )
        .rules(
            rule("markers", "")
                .expiration(
                    LifecycleExpiration::builder()
                        .expired_object_delete_marker(true)
                        .build(),
                )
                .build()?,
        )
        .rules(
            rule("uploads", "")
                .abort_incomplete_multipart_upload(
                    AbortIncompleteMultipartUpload::builder()
                        .days_after_initiation(1)
                        .build(),
                )
                .build()?,
        )
        .rules(
            rule("off", "keep/")
                .status(ExpirationStatus::Disabled)
                .expiration(LifecycleExpiration::builder().days(1).build())
                .build()?,
        )
        .rules(
            LifecycleRule::builder()
                .id("large")
                .status(ExpirationStatus::Enabled)
                .filter(
                    LifecycleRuleFilter::builder()
                        .and(
                            aws_sdk_s3::types::LifecycleRuleAndOperator::builder()
                                .prefix("big/")
                                .object_size_greater_than(10)
                                .build(),
                        )
                        .build(),
                )
                .expiration(LifecycleExpiration::builder().days(1).build())
                .build()?,
        )
        .build()?;
    c.put_bucket_lifecycle_configuration()
        .bucket("life")
        .lifecycle_configuration(rules)
        .send()
        .await?;
    c.put_bucket_lifecycle_configuration()
        .bucket("plain")
        .lifecycle_configuration(
            BucketLifecycleConfiguration::builder()
                .rules(
                    rule("tmp", "tmp/")
                        .expiration(LifecycleExpiration::builder().days(1).build())
                        .build()?,
                )
                .build()?,
        )
        .send()
        .await?;
    let got = c
        .get_bucket_lifecycle_configuration()
        .bucket("life")
        .send()
        .await?;
    ensure!(got.rules().len() == 5, "{:?}", got.rules());
    let raw = got
        .rules()
        .iter()
        .find(|r| r.id() == Some("raw"))
        .context("raw rule")?;
    ensure!(raw.expiration().and_then(|e| e.days()) == Some(1));
    ensure!(
        raw.noncurrent_version_expiration()
            .and_then(|n| n.newer_noncurrent_versions())
            == Some(1)
    );

    // raw/a ends as its delete marker over v3 (the one noncurrent version
    // kept); v1 and v2 are gone.
    poll_until(
        "lifecycle rules to settle",
        Duration::from_secs(90),
        Duration::from_millis(500),
        || async {
            let a = versions_of(&c, "life", "raw/a").await?;
            let ghost = versions_of(&c, "life", "ghost").await?;
            let large = versions_of(&c, "life", "big/large").await?;
            let uploads = c.list_multipart_uploads().bucket("life").send().await?;
            let plain = s3::list_all_keys(&c, "plain", None).await?;
            let settled = a.len() == 2
                && a[0].1
                && a[1].0 == v3
                && ghost.is_empty()
                && large.first().is_some_and(|l| l.1)
                && uploads.uploads().is_empty()
                && plain == ["data/d"];
            Ok(if settled {
                Check::Done(())
            } else {
                Check::NotYet(format!(
                    "raw/a {a:?}, ghost {ghost:?}, big/large {large:?}, {} uploads, plain {plain:?}",
                    uploads.uploads().len()
                ))
            })
        },
    )
    .await?;
    let a = versions_of(&c, "life", "raw/a").await?;
    ensure!(!a.iter().any(|(v, _)| *v == v1 || *v == v2), "{a:?}");
    let slow = versions_of(&c, "slow", "k").await?;
    ensure!(
        slow.len() == 5,
        "noncurrent versions removed too early: {slow:?}"
    );
    // Left alone: a disabled rule's objects, objects under the size bound.
    ensure!(s3::get_bytes(&c, "life", "keep/x").await?.as_ref() == b"kept");
    ensure!(s3::get_bytes(&c, "life", "big/small").await?.as_ref() == b"small");
    expect_error(
        c.list_parts()
            .bucket("life")
            .key("up")
            .upload_id(&up_id)
            .send()
            .await,
        Some(404),
        "NoSuchUpload",
        "the aborted upload",
    )?;

    let status = cluster.ctl().json(&["status"]).await?;
    let lc = &status["lifecycle"];
    let n = |k: &str| lc[k].as_u64().unwrap_or(0);
    ensure!(n("passes") > 0, "{lc}");
    ensure!(n("expired") >= 3, "raw/a, big/large, plain tmp/t: {lc}");
    ensure!(n("noncurrent_removed") >= 2, "{lc}");
    ensure!(n("markers_removed") >= 1, "{lc}");
    ensure!(n("uploads_aborted") >= 1, "{lc}");

    c.delete_bucket_lifecycle().bucket("life").send().await?;
    expect_error(
        c.get_bucket_lifecycle_configuration()
            .bucket("life")
            .send()
            .await,
        Some(404),
        "NoSuchLifecycleConfiguration",
        "rules after DeleteBucketLifecycle",
    )?;
    Ok(())
}
