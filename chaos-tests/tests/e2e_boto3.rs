//! boto3 against `meridian dev`, through the scripts in `python/`:
//! `boto3_e2e.py`, `boto3_compat.py` and `boto3_versions.py`.

use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use meridian_chaos_tests::process::{describe, run_bounded};
use meridian_chaos_tests::python::{require_boto3, script};
use meridian_chaos_tests::s3::{ROOT_ACCESS_KEY, ROOT_SECRET_KEY};
use meridian_chaos_tests::{DevCluster, DevOptions, Site};

const SCRIPT_TIMEOUT: Duration = Duration::from_secs(600);

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
        let out = run_bounded(&mut cmd, SCRIPT_TIMEOUT)
            .await
            .with_context(|| format!("running boto3_e2e.py at {site}"))?;
        if !out.status.success() {
            bail!(
                "boto3_e2e.py at {site} failed with {}\n{}",
                out.status,
                describe(&out)
            );
        }
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
    let out = run_bounded(&mut cmd, SCRIPT_TIMEOUT)
        .await
        .context("running boto3_compat.py")?;
    if !out.status.success() {
        bail!(
            "boto3_compat.py failed with {}\n{}",
            out.status,
            describe(&out)
        );
    }
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
    let out = run_bounded(&mut cmd, SCRIPT_TIMEOUT)
        .await
        .context("running boto3_versions.py")?;
    if !out.status.success() {
        bail!(
            "boto3_versions.py failed with {}\n{}",
            out.status,
            describe(&out)
        );
    }
    let said = String::from_utf8_lossy(&out.stdout);
    ensure!(
        said.contains("all boto3 versioning and bucket-setting checks passed"),
        "boto3_versions.py ended without its last check:\n{said}"
    );
    Ok(())
}
