//! boto3 against `meridian dev`, through the scripts in `python/`:
//! `boto3_e2e.py`, `boto3_compat.py` and `boto3_versions.py`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use meridian_chaos_tests::process::{describe, run_bounded};
use meridian_chaos_tests::s3::{ROOT_ACCESS_KEY, ROOT_SECRET_KEY};
use meridian_chaos_tests::{DevCluster, DevOptions, Site};
use tokio::process::Command;

const SCRIPT_TIMEOUT: Duration = Duration::from_secs(600);

fn python() -> String {
    std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_string())
}

/// Fails with a clear message when Python or boto3 is missing.
async fn require_boto3() -> Result<()> {
    let mut cmd = Command::new(python());
    cmd.args(["-c", "import boto3, botocore; print(boto3.__version__)"]);
    match run_bounded(&mut cmd, Duration::from_secs(60)).await {
        Ok(out) if out.status.success() => Ok(()),
        Ok(out) => bail!(
            "boto3 is not importable by {} (pip install boto3):\n{}",
            python(),
            describe(&out)
        ),
        Err(e) => bail!(
            "{} is not runnable, so boto3 cannot be tested: {e:#}",
            python()
        ),
    }
}

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

/// A command running one of the Python scripts (found at run time: nextest
/// and cargo test set the manifest directory, so a test binary built in
/// another checkout of the same target directory finds this one's), with no
/// user configuration or proxy leaking in.
fn script(name: &str) -> Command {
    let path = PathBuf::from(
        std::env::var("CARGO_MANIFEST_DIR")
            .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_string()),
    )
    .join("python")
    .join(name);
    let mut cmd = Command::new(python());
    cmd.arg(path);
    for var in [
        "AWS_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_S3",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "http_proxy",
        "https_proxy",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("PYTHONUNBUFFERED", "1");
    cmd
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
