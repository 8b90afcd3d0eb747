//! boto3 against `meridian dev`, through `python/boto3_e2e.py`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
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
    let script = PathBuf::from(
        // At run time (cargo test and nextest set it), so a test binary built
        // in another checkout of the same target directory finds this one's script.
        std::env::var("CARGO_MANIFEST_DIR")
            .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_string()),
    )
    .join("python")
    .join("boto3_e2e.py");
    for site in [Site::Beijing, Site::Jiangmen] {
        let mut cmd = Command::new(python());
        cmd.arg(&script)
            .arg("--endpoint")
            .arg(cluster.s3_endpoint(site))
            .arg("--access-key")
            .arg(ROOT_ACCESS_KEY)
            .arg("--secret-key")
            .arg(ROOT_SECRET_KEY);
        for var in [
            "AWS_PROFILE",
            "AWS_CONFIG_FILE",
            "AWS_SHARED_CREDENTIALS_FILE",
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
        // No user configuration may leak in.
        cmd.env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("NO_PROXY", "127.0.0.1,localhost")
            .env("PYTHONUNBUFFERED", "1");
        let out = run_bounded(&mut cmd, SCRIPT_TIMEOUT)
            .await
            .with_context(|| format!("running {} at {site}", script.display()))?;
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
