//! Real clients with their default configuration: s3cmd configured the
//! way `s3cmd --configure` leaves it (no region; it asks GetBucketLocation
//! and signs for what it is told) and boto3 with nothing but an endpoint
//! and keys, at every site's endpoint; s3cmd's ACL commands. The boto3
//! script also covers a bucket deleted with unfinished uploads, a retried
//! CompleteMultipartUpload and the smaller divergences from AWS fixed with
//! them.

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use meridian_chaos_tests::process::{describe, run_bounded};
use meridian_chaos_tests::python::{require_boto3, run_script, script};
use meridian_chaos_tests::s3::{ROOT_ACCESS_KEY, ROOT_SECRET_KEY};
use meridian_chaos_tests::{DevCluster, DevOptions, Site};
use tokio::process::Command;

const TOOL_TIMEOUT: Duration = Duration::from_secs(300);

/// An s3cmd configuration as a user writes it for a private endpoint:
/// keys and host, nothing about regions (s3cmd's default location, "US").
fn s3cmd_config(dir: &Path, endpoint: &str) -> Result<std::path::PathBuf> {
    let host = endpoint.trim_start_matches("http://");
    let path = dir.join(format!("s3cfg-{}", host.replace([':', '.'], "-")));
    std::fs::write(
        &path,
        format!(
            "[default]\naccess_key = {ROOT_ACCESS_KEY}\nsecret_key = {ROOT_SECRET_KEY}\n\
             host_base = {host}\nhost_bucket = {host}\nuse_https = False\n"
        ),
    )?;
    Ok(path)
}

async fn s3cmd(config: &Path, args: &[&str]) -> Result<String> {
    let mut cmd = Command::new("s3cmd");
    cmd.arg(format!("--config={}", config.display())).args(args);
    let out = run_bounded(&mut cmd, TOOL_TIMEOUT).await?;
    if !out.status.success() {
        bail!(
            "s3cmd {} failed with {}\n{}",
            args.join(" "),
            out.status,
            describe(&out)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).to_string())
}

#[tokio::test]
async fn s3cmd_with_its_default_configuration_works_at_every_site() -> Result<()> {
    let cluster = DevCluster::start_serving(DevOptions::default().with_link_scale(1.0)).await?;
    let tmp = tempfile::tempdir()?;
    let file = tmp.path().join("data.bin");
    std::fs::write(&file, b"raw data from a run")?;
    let file_s = file.display().to_string();
    let configs: Vec<_> = Site::ALL
        .iter()
        .map(|s| s3cmd_config(tmp.path(), &cluster.s3_endpoint(*s)))
        .collect::<Result<_>>()?;
    for (i, site) in Site::ALL.iter().enumerate() {
        let cfg = &configs[i];
        let bucket = format!("s3://dflt-{}", site.name().to_lowercase());
        s3cmd(cfg, &["mb", &bucket]).await?;
        let info = s3cmd(cfg, &["info", &bucket]).await?;
        ensure!(
            info.contains(&site.name().to_lowercase()),
            "s3cmd info at {site} shows no location {}:\n{info}",
            site.name().to_lowercase()
        );
        let key = format!("{bucket}/run/data.bin");
        s3cmd(cfg, &["put", &file_s, &key]).await?;
        // Another site's endpoint, the same default configuration: it
        // signs for the bucket's region, which every endpoint accepts.
        let other = &configs[(i + 1) % configs.len()];
        let back = tmp.path().join(format!("back-{i}.bin"));
        s3cmd(other, &["get", &key, &back.display().to_string()]).await?;
        ensure!(std::fs::read(&back)? == b"raw data from a run");
        let listing = s3cmd(other, &["ls", "--recursive", &bucket]).await?;
        ensure!(listing.contains("run/data.bin"), "{listing}");
        s3cmd(other, &["del", &key]).await?;
        s3cmd(cfg, &["rb", &bucket]).await?;
    }
    Ok(())
}

#[tokio::test]
async fn boto3_answers_as_aws_answers() -> Result<()> {
    require_boto3().await?;
    let cluster = DevCluster::start_serving(DevOptions::default().with_link_scale(1.0)).await?;
    let ctl = cluster.ctl();
    ctl.json(&["user", "create", "alice"]).await?;
    let key = ctl.json(&["key", "create", "alice"]).await?;
    let endpoints: Vec<String> = Site::ALL.iter().map(|s| cluster.s3_endpoint(*s)).collect();
    let sites: Vec<&str> = Site::ALL.iter().map(|s| s.name()).collect();
    let mut cmd = script("boto3_aws_answers.py");
    cmd.arg("--endpoints")
        .arg(endpoints.join(","))
        .arg("--sites")
        .arg(sites.join(","))
        .arg("--access-key")
        .arg(ROOT_ACCESS_KEY)
        .arg("--secret-key")
        .arg(ROOT_SECRET_KEY)
        .arg("--user-key")
        .arg(key["access_key"].as_str().context("access key")?)
        .arg("--user-secret")
        .arg(key["secret"].as_str().context("secret")?);
    run_script(
        &mut cmd,
        "boto3_aws_answers.py",
        Some("all boto3 AWS-answer checks passed"),
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn s3cmd_makes_objects_public_and_private() -> Result<()> {
    let cluster = DevCluster::start_serving(DevOptions::default()).await?;
    let tmp = tempfile::tempdir()?;
    let endpoint = cluster.s3_endpoint(Site::Beijing);
    let cfg = s3cmd_config(tmp.path(), &endpoint)?;
    let file = tmp.path().join("poster.pdf");
    std::fs::write(&file, b"conference poster")?;
    s3cmd(&cfg, &["mb", "s3://s3cmd-acl"]).await?;
    s3cmd(
        &cfg,
        &[
            "put",
            &file.display().to_string(),
            "s3://s3cmd-acl/poster.pdf",
        ],
    )
    .await?;
    let addr = endpoint.trim_start_matches("http://");
    let anon =
        || meridian_chaos_tests::rawhttp::unsigned(addr, "GET", "/s3cmd-acl/poster.pdf", &[]);
    ensure!(anon().await?.status == 403, "private by default");
    s3cmd(
        &cfg,
        &["setacl", "--acl-public", "s3://s3cmd-acl/poster.pdf"],
    )
    .await?;
    ensure!(
        anon().await?.status == 200,
        "public after setacl --acl-public"
    );
    let info = s3cmd(&cfg, &["info", "s3://s3cmd-acl/poster.pdf"]).await?;
    ensure!(info.contains("*anon*: READ"), "s3cmd info:\n{info}");
    s3cmd(
        &cfg,
        &["setacl", "--acl-private", "s3://s3cmd-acl/poster.pdf"],
    )
    .await?;
    ensure!(anon().await?.status == 403, "private again");
    Ok(())
}
