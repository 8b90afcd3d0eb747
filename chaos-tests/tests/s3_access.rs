//! S3 access control as real clients see it: `python/boto3_access.py`
//! (canned ACLs and grants on buckets and objects with anonymous raw HTTP,
//! object ownership, bucket policies with conditions, public access
//! blocks, policy status, Object Lock) against `meridian dev`, with two
//! users made by `meridianctl`.

use anyhow::{Context, Result};
use meridian_chaos_tests::python::{require_boto3, run_script, script};
use meridian_chaos_tests::s3::{ROOT_ACCESS_KEY, ROOT_SECRET_KEY};
use meridian_chaos_tests::{DevCluster, DevOptions, Site};

#[tokio::test]
async fn boto3_access_control_as_aws_decides_it() -> Result<()> {
    require_boto3().await?;
    let cluster = DevCluster::start_serving(DevOptions::default()).await?;
    let ctl = cluster.ctl();
    let mut cmd = script("boto3_access.py");
    cmd.arg("--endpoint")
        .arg(cluster.s3_endpoint(Site::Beijing))
        .arg("--access-key")
        .arg(ROOT_ACCESS_KEY)
        .arg("--secret-key")
        .arg(ROOT_SECRET_KEY);
    for user in ["alice", "bob"] {
        ctl.json(&["user", "create", user]).await?;
        let key = ctl.json(&["key", "create", user]).await?;
        cmd.arg(format!("--{user}-key"))
            .arg(key["access_key"].as_str().context("access key")?)
            .arg(format!("--{user}-secret"))
            .arg(key["secret"].as_str().context("secret")?);
    }
    run_script(
        &mut cmd,
        "boto3_access.py",
        Some("all boto3 access checks passed"),
    )
    .await?;
    Ok(())
}
