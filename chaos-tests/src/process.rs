//! Running helper programs (meridianctl, aws, python3) with a time bound.

use std::process::{Output, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use tokio::process::Command;

/// Runs `cmd` to completion, killing it if it takes longer than `timeout`.
pub async fn run_bounded(cmd: &mut Command, timeout: Duration) -> Result<Output> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let what = format!("{:?}", cmd.as_std());
    let child = cmd.spawn().with_context(|| format!("spawning {what}"))?;
    match tokio::time::timeout(timeout, child.wait_with_output()).await {
        Ok(out) => out.with_context(|| format!("waiting for {what}")),
        Err(_) => bail!("{what} did not finish within {timeout:?} (killed)"),
    }
}

/// Like [`run_bounded`], but a non-zero exit is an error that carries the output.
pub async fn run_ok(cmd: &mut Command, timeout: Duration) -> Result<Output> {
    let what = format!("{:?}", cmd.as_std());
    let out = run_bounded(cmd, timeout).await?;
    if !out.status.success() {
        bail!("{what} failed with {}\n{}", out.status, describe(&out));
    }
    Ok(out)
}

/// Both streams of a finished command, for failure messages.
pub fn describe(out: &Output) -> String {
    format!(
        "--- stdout ---\n{}\n--- stderr ---\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
