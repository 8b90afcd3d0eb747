//! boto3 against `meridian dev`, through the scripts in `python/`:
//! `boto3_e2e.py`, `boto3_compat.py` and `boto3_versions.py`.

use anyhow::{Context, Result};
use meridian_chaos_tests::python::{require_boto3, run_script, script};
use meridian_chaos_tests::s3::{ROOT_ACCESS_KEY, ROOT_SECRET_KEY};
use meridian_chaos_tests::{DevCluster, DevOptions, Site};

#[tokio::test]
async fn boto3_end_to_end() -> Result<()> {
    require_boto3().await?;
    let cluster = DevCluster::start_serving(DevOptions::default().with_link_scale(1.0)).await?;
    for site in [Site::Beijing, Site::Jiangmen] {
        let mut cmd = script("boto3_e2e.py");
        cmd.arg("--endpoint")
            .arg(cluster.s3_endpoint(site))
            .arg("--access-key")
            .arg(ROOT_ACCESS_KEY)
            .arg("--secret-key")
            .arg(ROOT_SECRET_KEY);
        run_script(&mut cmd, &format!("boto3_e2e.py at {site}"), None).await?;
    }
    Ok(())
}

#[tokio::test]
async fn boto3_compatibility() -> Result<()> {
    require_boto3().await?;
    let cluster = DevCluster::start_serving(DevOptions::default().with_link_scale(1.0)).await?;
    let ctl = cluster.ctl();
    ctl.json(&["user", "create", "juno"]).await?;
    let key = ctl.json(&["key", "create", "juno"]).await?;
    let mut cmd = script("boto3_compat.py");
    cmd.arg("--endpoint")
        .arg(cluster.s3_endpoint(Site::Beijing))
        .arg("--access-key")
        .arg(ROOT_ACCESS_KEY)
        .arg("--secret-key")
        .arg(ROOT_SECRET_KEY)
        .arg("--user")
        .arg("juno")
        .arg("--user-key")
        .arg(key["access_key"].as_str().context("access key")?)
        .arg("--user-secret")
        .arg(key["secret"].as_str().context("secret")?);
    run_script(&mut cmd, "boto3_compat.py", None).await?;
    Ok(())
}

#[tokio::test]
async fn boto3_versions_and_bucket_settings() -> Result<()> {
    require_boto3().await?;
    let cluster = DevCluster::start_serving(DevOptions::default()).await?;
    let mut cmd = script("boto3_versions.py");
    cmd.arg("--endpoint")
        .arg(cluster.s3_endpoint(Site::Beijing))
        .arg("--access-key")
        .arg(ROOT_ACCESS_KEY)
        .arg("--secret-key")
        .arg(ROOT_SECRET_KEY);
    run_script(
        &mut cmd,
        "boto3_versions.py",
        Some("all boto3 versioning and bucket-setting checks passed"),
    )
    .await?;
    Ok(())
}
