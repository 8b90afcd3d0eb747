//! Running the Python clients: the interpreter, a check that boto3 is
//! there, and the scripts in `python/` with no ambient configuration.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use tokio::process::Command;

use crate::process::{describe, run_bounded};

pub fn python() -> String {
    std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_string())
}

/// Fails with a clear message when Python or boto3 is missing.
pub async fn require_boto3() -> Result<()> {
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

/// This crate's directory, found at run time: nextest and cargo test set
/// it, so a test binary built in another checkout of the same target
/// directory finds this checkout's scripts and client.
fn manifest_dir() -> PathBuf {
    PathBuf::from(
        std::env::var("CARGO_MANIFEST_DIR")
            .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_string()),
    )
}

/// The checkout's Python client (`clients/python`, package `meridian_client`).
pub fn client_dir() -> PathBuf {
    manifest_dir().join("..").join("clients").join("python")
}

/// Fails with a clear message when grpcio or blake3 are missing, and makes
/// the client's stubs from `proto/` when they are missing or older than it.
pub async fn require_grpc_client() -> Result<()> {
    let mut cmd = Command::new(python());
    cmd.args([
        "-c",
        "import grpc, grpc_tools, blake3; print(grpc.__version__)",
    ]);
    match run_bounded(&mut cmd, Duration::from_secs(60)).await {
        Ok(out) if out.status.success() => {}
        Ok(out) => bail!(
            "the Python client needs grpcio, grpcio-tools and blake3 \
             (scripts/ensure-deps.sh --test installs them):\n{}",
            describe(&out)
        ),
        Err(e) => bail!("{} is not runnable: {e:#}", python()),
    }
    let mut gen = Command::new(python());
    gen.arg(client_dir().join("generate_stubs.py"))
        .arg("--if-stale");
    let out = run_bounded(&mut gen, Duration::from_secs(120)).await?;
    ensure!(
        out.status.success(),
        "generating the client's stubs:\n{}",
        describe(&out)
    );
    Ok(())
}

/// A command running one of the Python scripts with no user configuration
/// or proxy leaking in; `meridian_client` is this checkout's.
pub fn script(name: &str) -> Command {
    let path = manifest_dir().join("python").join(name);
    let mut cmd = Command::new(python());
    cmd.arg(path);
    for var in [
        "AWS_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_S3",
        // Trust only what a script is told to: the machine's own settings
        // would decide the TLS tests' outcome.
        "AWS_CA_BUNDLE",
        "REQUESTS_CA_BUNDLE",
        "SSL_CERT_FILE",
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
        .env("PYTHONUNBUFFERED", "1")
        .env("PYTHONPATH", client_dir());
    cmd
}

/// The longest a script may run.
pub const SCRIPT_TIMEOUT: Duration = Duration::from_secs(600);

/// Runs a script command to its end; fails with its output unless it
/// exits 0 and (when given) printed `done`, its last check's line.
pub async fn run_script(cmd: &mut Command, what: &str, done: Option<&str>) -> Result<String> {
    let out = run_bounded(cmd, SCRIPT_TIMEOUT)
        .await
        .with_context(|| format!("running {what}"))?;
    if !out.status.success() {
        bail!("{what} failed with {}\n{}", out.status, describe(&out));
    }
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    if let Some(line) = done {
        ensure!(
            said.contains(line),
            "{what} ended without its last check:\n{said}"
        );
    }
    Ok(said)
}
