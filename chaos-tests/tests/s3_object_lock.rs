//! Object Lock with real processes: retention and legal holds set through
//! one gateway keep protecting their versions after the metadata leader is
//! killed (five `meridian node` processes), and the lifecycle job, which
//! removes noncurrent versions, leaves the locked ones alone.

use std::time::Duration;

use anyhow::{Context, Result};
use aws_sdk_s3::primitives::{ByteStream, DateTime};
use aws_sdk_s3::types::{
    BucketVersioningStatus, ChecksumAlgorithm, ExpirationStatus, LifecycleRule,
    LifecycleRuleFilter, NoncurrentVersionExpiration, ObjectLockLegalHold,
    ObjectLockLegalHoldStatus, ObjectLockMode, ObjectLockRetention, ObjectLockRetentionMode,
    VersioningConfiguration,
};
use aws_sdk_s3::Client;
use meridian_chaos_tests::nodes::{node_id, NodeCluster};
use meridian_chaos_tests::s3::{self, expect_error, S3Options};
use meridian_chaos_tests::wait::{poll_until, Check};
use meridian_chaos_tests::{DevCluster, DevOptions, Site};

const BUCKET: &str = "locked";

fn in_secs(secs: i64) -> DateTime {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    DateTime::from_secs(now + secs)
}

fn in_days(days: i64) -> DateTime {
    in_secs(days * 86_400)
}

/// Writes `key` (a CRC32 checksum: Object Lock asks for one) and returns
/// its version id.
async fn put(c: &Client, key: &str, mode: Option<ObjectLockMode>) -> Result<String> {
    let mut req = c
        .put_object()
        .bucket(BUCKET)
        .key(key)
        .checksum_algorithm(ChecksumAlgorithm::Crc32)
        .body(ByteStream::from_static(b"raw run data"));
    if let Some(m) = mode {
        req = req
            .object_lock_mode(m)
            .object_lock_retain_until_date(in_days(1));
    }
    let out = req.send().await?;
    out.version_id().map(str::to_string).context("a version id")
}

async fn delete_version(c: &Client, key: &str, version: &str, bypass: bool) -> Result<()> {
    c.delete_object()
        .bucket(BUCKET)
        .key(key)
        .version_id(version)
        .bypass_governance_retention(bypass)
        .send()
        .await?;
    Ok(())
}

async fn hold(
    c: &Client,
    key: &str,
    version: &str,
    status: ObjectLockLegalHoldStatus,
) -> Result<()> {
    c.put_object_legal_hold()
        .bucket(BUCKET)
        .key(key)
        .version_id(version)
        .legal_hold(ObjectLockLegalHold::builder().status(status).build())
        .send()
        .await?;
    Ok(())
}

/// Every removal the locks forbid is refused through `c`.
async fn refused_everywhere(c: &Client, v: &Versions, what: &str) -> Result<()> {
    for (key, version, bypass) in [
        ("compliance", &v.compliance, true),
        ("held", &v.held, true),
        ("governance", &v.governance, false),
    ] {
        expect_error(
            c.delete_object()
                .bucket(BUCKET)
                .key(key)
                .version_id(version)
                .bypass_governance_retention(bypass)
                .send()
                .await,
            Some(403),
            "AccessDenied",
            &format!("{what}: deleting {key}"),
        )?;
    }
    expect_error(
        c.put_object_retention()
            .bucket(BUCKET)
            .key("compliance")
            .version_id(&v.compliance)
            .bypass_governance_retention(true)
            .retention(
                ObjectLockRetention::builder()
                    .mode(ObjectLockRetentionMode::Compliance)
                    .retain_until_date(in_secs(3600))
                    .build(),
            )
            .send()
            .await,
        Some(403),
        "AccessDenied",
        &format!("{what}: shortening COMPLIANCE"),
    )?;
    let r = c
        .get_object_retention()
        .bucket(BUCKET)
        .key("compliance")
        .version_id(&v.compliance)
        .send()
        .await?;
    anyhow::ensure!(
        r.retention().and_then(|r| r.mode()) == Some(&ObjectLockRetentionMode::Compliance),
        "{what}: {r:?}"
    );
    Ok(())
}

struct Versions {
    compliance: String,
    governance: String,
    held: String,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn locks_hold_across_a_leader_change() -> Result<()> {
    let mut cluster = tokio::task::block_in_place(|| NodeCluster::start("256KiB"))?;
    let leader = poll_until(
        "a leader",
        Duration::from_secs(30),
        Duration::from_millis(200),
        || async {
            let m = cluster
                .ctl(Site::Beijing)
                .json(&["meta", "members"])
                .await?;
            let list = m["members"].as_array().cloned().unwrap_or_default();
            Ok(match list.iter().find(|m| m["leader"] == true) {
                Some(l) => Check::Done(l["id"].as_u64().unwrap_or(0)),
                None => Check::NotYet(format!("{m}")),
            })
        },
    )
    .await?;
    let leader_site = Site::ALL
        .into_iter()
        .find(|s| node_id(*s) == leader)
        .context("the leader's site")?;
    let survivor = Site::ALL
        .into_iter()
        .find(|s| *s != leader_site && node_id(*s) <= 3)
        .context("another voter")?;
    let c = cluster.s3(survivor, &S3Options::default().without_retries());
    c.create_bucket()
        .bucket(BUCKET)
        .object_lock_enabled_for_bucket(true)
        .send()
        .await?;
    let v = Versions {
        compliance: put(&c, "compliance", Some(ObjectLockMode::Compliance)).await?,
        governance: put(&c, "governance", Some(ObjectLockMode::Governance)).await?,
        held: put(&c, "held", None).await?,
    };
    hold(&c, "held", &v.held, ObjectLockLegalHoldStatus::On).await?;
    refused_everywhere(&c, &v, "before the leader change").await?;

    cluster.kill9(leader_site)?;
    poll_until(
        "a new leader",
        Duration::from_secs(60),
        Duration::from_millis(300),
        || async {
            let m = cluster.ctl(survivor).json(&["meta", "members"]).await?;
            let list = m["members"].as_array().cloned().unwrap_or_default();
            Ok(
                match list
                    .iter()
                    .find(|m| m["leader"] == true && m["id"].as_u64() != Some(leader))
                {
                    Some(_) => Check::Done(()),
                    None => Check::NotYet(format!("{m}")),
                },
            )
        },
    )
    .await?;
    refused_everywhere(&c, &v, "after the leader change").await?;
    // Suspending versioning would let writes replace versions: refused.
    expect_error(
        c.put_bucket_versioning()
            .bucket(BUCKET)
            .versioning_configuration(
                VersioningConfiguration::builder()
                    .status(BucketVersioningStatus::Suspended)
                    .build(),
            )
            .send()
            .await,
        Some(409),
        "InvalidBucketState",
        "suspending versioning of a lock bucket",
    )?;
    // The killed node comes back with the same protection.
    tokio::task::block_in_place(|| cluster.restart(leader_site))?;
    let back = cluster.s3(leader_site, &S3Options::default());
    poll_until(
        "the restarted node serving",
        Duration::from_secs(60),
        Duration::from_millis(300),
        || async {
            Ok(match back.head_bucket().bucket(BUCKET).send().await {
                Ok(_) => Check::Done(()),
                Err(e) => Check::NotYet(format!("{e:?}")),
            })
        },
    )
    .await?;
    refused_everywhere(&back, &v, "through the restarted node").await?;
    // What the locks allow still works: GOVERNANCE yields to the bypass, a
    // lifted hold to a plain delete.
    delete_version(&c, "governance", &v.governance, true).await?;
    hold(&c, "held", &v.held, ObjectLockLegalHoldStatus::Off).await?;
    delete_version(&c, "held", &v.held, false).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_leaves_locked_versions() -> Result<()> {
    let mut opts = DevOptions::default();
    opts.extra_args.extend(
        ["--lifecycle-day", "1s", "--lifecycle-period", "1s"]
            .iter()
            .map(|s| s.to_string()),
    );
    let cluster = DevCluster::start_serving(opts).await?;
    let c = cluster.s3_with(Site::Beijing, &S3Options::default().without_retries());
    c.create_bucket()
        .bucket(BUCKET)
        .object_lock_enabled_for_bucket(true)
        .send()
        .await?;
    let locked = put(&c, "a", Some(ObjectLockMode::Compliance)).await?;
    put(&c, "a", None).await?;
    let free = put(&c, "b", None).await?;
    put(&c, "b", None).await?;
    c.put_bucket_lifecycle_configuration()
        .bucket(BUCKET)
        .lifecycle_configuration(
            aws_sdk_s3::types::BucketLifecycleConfiguration::builder()
                .rules(
                    LifecycleRule::builder()
                        .id("noncurrent")
                        .status(ExpirationStatus::Enabled)
                        .filter(LifecycleRuleFilter::builder().prefix("").build())
                        .noncurrent_version_expiration(
                            NoncurrentVersionExpiration::builder()
                                .noncurrent_days(1)
                                .build(),
                        )
                        .build()?,
                )
                .build()?,
        )
        .send()
        .await?;
    // The unlocked noncurrent version goes; the locked one stays.
    poll_until(
        "the lifecycle job removing b's noncurrent version",
        Duration::from_secs(60),
        Duration::from_millis(500),
        || async {
            let all = s3::list_versions(&c, BUCKET, "", 1000).await?;
            Ok(if all.iter().any(|e| e.version_id == free) {
                Check::NotYet(format!("{} versions", all.len()))
            } else {
                Check::Done(())
            })
        },
    )
    .await?;
    // Several more passes.
    cluster
        .ctl()
        .wait_lifecycle_passes(3, Duration::from_secs(60))
        .await?;
    let all = s3::list_versions(&c, BUCKET, "", 1000).await?;
    anyhow::ensure!(
        all.iter().any(|e| e.version_id == locked),
        "the locked noncurrent version was removed: {:?}",
        all.iter().map(|e| &e.version_id).collect::<Vec<_>>()
    );
    Ok(())
}
