//! The real `aws` CLI, run with only the settings given here.

use std::path::PathBuf;
use std::process::Output;
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use tokio::process::Command;

use crate::process::{describe, run_bounded, run_ok};
use crate::s3::{REGION, ROOT_ACCESS_KEY, ROOT_SECRET_KEY};

/// A command of the CLI that waits no longer than this.
pub const SMALL_TIMEOUT: Duration = Duration::from_secs(120);

/// Runs `aws` with only the settings given here: a private config and
/// credentials file, fixed keys and region, path-style addressing, no proxy.
pub struct AwsCli {
    endpoint: String,
    config_dir: tempfile::TempDir,
    /// `--ca-bundle`: the CA of an https endpoint.
    ca_bundle: Option<PathBuf>,
}

impl AwsCli {
    pub fn new(endpoint: String) -> Result<Self> {
        let config_dir = tempfile::tempdir().context("temp dir for the aws config")?;
        std::fs::write(
            config_dir.path().join("config"),
            format!("[default]\nregion = {REGION}\ns3 =\n    addressing_style = path\n"),
        )
        .context("writing aws config")?;
        std::fs::write(
            config_dir.path().join("credentials"),
            format!("[default]\naws_access_key_id = {ROOT_ACCESS_KEY}\naws_secret_access_key = {ROOT_SECRET_KEY}\n"),
        )
        .context("writing aws credentials")?;
        Ok(Self {
            endpoint,
            config_dir,
            ca_bundle: None,
        })
    }

    /// Trusting `ca` for an https endpoint.
    pub fn with_ca_bundle(mut self, ca: PathBuf) -> Self {
        self.ca_bundle = Some(ca);
        self
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("aws");
        cmd.arg("--endpoint-url").arg(&self.endpoint);
        if let Some(ca) = &self.ca_bundle {
            cmd.arg("--ca-bundle").arg(ca);
        }
        cmd.args(args);
        for var in [
            "AWS_PROFILE",
            "AWS_DEFAULT_PROFILE",
            "AWS_SESSION_TOKEN",
            "AWS_SECURITY_TOKEN",
            "AWS_ENDPOINT_URL",
            "AWS_ENDPOINT_URL_S3",
            "AWS_CA_BUNDLE",
            "AWS_ROLE_ARN",
            "AWS_WEB_IDENTITY_TOKEN_FILE",
            "HTTP_PROXY",
            "HTTPS_PROXY",
            "http_proxy",
            "https_proxy",
            "ALL_PROXY",
            "all_proxy",
        ] {
            cmd.env_remove(var);
        }
        cmd.env("AWS_CONFIG_FILE", self.config_dir.path().join("config"))
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                self.config_dir.path().join("credentials"),
            )
            .env("AWS_ACCESS_KEY_ID", ROOT_ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", ROOT_SECRET_KEY)
            .env("AWS_DEFAULT_REGION", REGION)
            .env("AWS_REGION", REGION)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_PAGER", "")
            .env("NO_PROXY", "127.0.0.1,localhost")
            .env("no_proxy", "127.0.0.1,localhost");
        cmd
    }

    pub async fn run(&self, args: &[&str], timeout: Duration) -> Result<Output> {
        run_ok(&mut self.command(args), timeout).await
    }

    pub async fn stdout(&self, args: &[&str]) -> Result<String> {
        let out = self.run(args, SMALL_TIMEOUT).await?;
        String::from_utf8(out.stdout).context("aws printed non-UTF-8")
    }

    pub async fn json(&self, args: &[&str]) -> Result<serde_json::Value> {
        let text = self.stdout(args).await?;
        serde_json::from_str(&text)
            .with_context(|| format!("aws {args:?} printed no JSON:\n{text}"))
    }

    /// `aws s3 ls` exits 1 when it lists nothing; that alone is not a failure.
    pub async fn stdout_allow_empty(&self, args: &[&str]) -> Result<String> {
        let out = run_bounded(&mut self.command(args), SMALL_TIMEOUT).await?;
        let text = String::from_utf8(out.stdout.clone()).context("aws printed non-UTF-8")?;
        let said_something = !text.trim().is_empty() || !out.stderr.trim_ascii().is_empty();
        if !out.status.success() && said_something {
            bail!(
                "aws {args:?} failed with {}\n{}",
                out.status,
                describe(&out)
            );
        }
        Ok(text)
    }

    /// Runs a command that must fail with S3 error `code`.
    pub async fn refused(&self, args: &[&str], code: &str) -> Result<()> {
        let out = run_bounded(&mut self.command(args), SMALL_TIMEOUT).await?;
        let err = String::from_utf8_lossy(&out.stderr);
        ensure!(
            !out.status.success() && err.contains(code),
            "aws {args:?}: expected {code}, got {}\n{}",
            out.status,
            describe(&out)
        );
        Ok(())
    }
}

/// Fails with a clear message when the CLI is not installed.
pub async fn require_aws_cli() -> Result<()> {
    let mut cmd = Command::new("aws");
    cmd.arg("--version");
    match run_bounded(&mut cmd, SMALL_TIMEOUT).await {
        Ok(out) if out.status.success() => Ok(()),
        Ok(out) => bail!(
            "the aws CLI is installed but `aws --version` failed (pip install awscli):\n{}",
            describe(&out)
        ),
        Err(e) => bail!("the aws CLI is not installed or not on PATH (pip install awscli): {e:#}"),
    }
}
