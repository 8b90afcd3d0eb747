//! rclone (copy, sync, check) and s3cmd (mb, put, get, ls, sync, del)
//! against `meridian dev`: tools that people already use, as they run.

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, ensure, Result};
use meridian_chaos_tests::data::random_bytes;
use meridian_chaos_tests::process::{describe, run_bounded};
use meridian_chaos_tests::s3::{self, ROOT_ACCESS_KEY, ROOT_SECRET_KEY};
use meridian_chaos_tests::{DevCluster, DevOptions, Site};
use tokio::process::Command;

const TOOL_TIMEOUT: Duration = Duration::from_secs(300);

async fn run(cmd: &mut Command, what: &str) -> Result<String> {
    let out = run_bounded(cmd, TOOL_TIMEOUT).await?;
    if !out.status.success() {
        bail!("{what} failed with {}\n{}", out.status, describe(&out));
    }
    Ok(String::from_utf8_lossy(&out.stdout).to_string())
}

/// A tree of files: a few sizes, a nested directory.
fn write_tree(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir.join("sub/deeper"))?;
    std::fs::write(dir.join("small.txt"), b"small")?;
    std::fs::write(dir.join("sub/one.bin"), random_bytes(1, 300_000))?;
    std::fs::write(dir.join("sub/deeper/big.bin"), random_bytes(2, 12 << 20))?;
    Ok(())
}

fn rclone(endpoint: &str) -> Command {
    let mut cmd = Command::new("rclone");
    // The remote is defined in the environment: no config file is read.
    // A CA bundle (set for HTTPS elsewhere) makes rclone refuse its own
    // transport; these endpoints are plain HTTP.
    cmd.env_remove("AWS_CA_BUNDLE")
        .env("RCLONE_CONFIG", "/dev/null")
        .env("RCLONE_CONFIG_M_TYPE", "s3")
        .env("RCLONE_CONFIG_M_PROVIDER", "Other")
        .env("RCLONE_CONFIG_M_ENDPOINT", endpoint)
        .env("RCLONE_CONFIG_M_ACCESS_KEY_ID", ROOT_ACCESS_KEY)
        .env("RCLONE_CONFIG_M_SECRET_ACCESS_KEY", ROOT_SECRET_KEY)
        .env("RCLONE_CONFIG_M_FORCE_PATH_STYLE", "true")
        .env("RCLONE_CONFIG_M_REGION", "us-east-1")
        .arg("--low-level-retries")
        .arg("1")
        .arg("--retries")
        .arg("1");
    cmd
}

#[tokio::test]
async fn rclone_copies_syncs_and_checks() -> Result<()> {
    let cluster = DevCluster::start_serving(DevOptions::default().with_link_scale(1.0)).await?;
    let ep = cluster.s3_endpoint(Site::Beijing);
    let tmp = tempfile::tempdir()?;
    let src = tmp.path().join("src");
    write_tree(&src)?;
    let src_s = src.display().to_string();
    run(rclone(&ep).args(["mkdir", "m:rcl"]), "rclone mkdir").await?;
    run(
        rclone(&ep).args(["copy", &src_s, "m:rcl/tree"]),
        "rclone copy",
    )
    .await?;
    run(
        rclone(&ep).args(["check", &src_s, "m:rcl/tree"]),
        "rclone check",
    )
    .await?;
    // Change the tree: sync makes the bucket match, deleting what went.
    std::fs::remove_file(src.join("small.txt"))?;
    std::fs::write(src.join("sub/new.txt"), b"new")?;
    run(
        rclone(&ep).args(["sync", &src_s, "m:rcl/tree"]),
        "rclone sync",
    )
    .await?;
    run(
        rclone(&ep).args(["check", &src_s, "m:rcl/tree"]),
        "rclone check after sync",
    )
    .await?;
    let root = cluster.s3(Site::Beijing);
    let keys = s3::list_all_keys(&root, "rcl", None).await?;
    ensure!(
        keys == [
            "tree/sub/deeper/big.bin",
            "tree/sub/new.txt",
            "tree/sub/one.bin"
        ],
        "{keys:?}"
    );
    let back = tmp.path().join("back");
    run(
        rclone(&ep).args(["copy", "m:rcl/tree", &back.display().to_string()]),
        "rclone copy back",
    )
    .await?;
    ensure!(std::fs::read(back.join("sub/deeper/big.bin"))? == random_bytes(2, 12 << 20));
    // An ACL set by rclone's `acl` option: readable without keys.
    run(
        rclone(&ep).env("RCLONE_CONFIG_M_ACL", "public-read").args([
            "copyto",
            &src.join("sub/new.txt").display().to_string(),
            "m:rcl/public/new.txt",
        ]),
        "rclone copyto with a public-read ACL",
    )
    .await?;
    let addr = ep.trim_start_matches("http://");
    let anon = |path: &'static str| meridian_chaos_tests::rawhttp::unsigned(addr, "GET", path, &[]);
    ensure!(anon("/rcl/public/new.txt").await?.status == 200);
    ensure!(anon("/rcl/tree/sub/new.txt").await?.status == 403);
    Ok(())
}

fn s3cmd(endpoint: &str) -> Command {
    let host = endpoint.trim_start_matches("http://").to_string();
    let mut cmd = Command::new("s3cmd");
    cmd.arg("--config=/dev/null")
        .arg(format!("--host={host}"))
        .arg(format!("--host-bucket={host}"))
        .arg("--no-ssl")
        .arg(format!("--access_key={ROOT_ACCESS_KEY}"))
        .arg(format!("--secret_key={ROOT_SECRET_KEY}"))
        .arg("--region=us-east-1");
    cmd
}

#[tokio::test]
async fn s3cmd_puts_gets_lists_syncs_and_deletes() -> Result<()> {
    let cluster = DevCluster::start_serving(DevOptions::default().with_link_scale(1.0)).await?;
    let ep = cluster.s3_endpoint(Site::Beijing);
    let tmp = tempfile::tempdir()?;
    let src = tmp.path().join("src");
    write_tree(&src)?;
    run(s3cmd(&ep).args(["mb", "s3://s3c"]), "s3cmd mb").await?;
    let small = src.join("small.txt").display().to_string();
    run(
        s3cmd(&ep).args(["put", &small, "s3://s3c/one/small.txt"]),
        "s3cmd put",
    )
    .await?;
    let got = tmp.path().join("got.txt").display().to_string();
    run(
        s3cmd(&ep).args(["get", "s3://s3c/one/small.txt", &got]),
        "s3cmd get",
    )
    .await?;
    ensure!(std::fs::read(&got)? == b"small");
    let tree = format!("{}/", src.display());
    run(
        s3cmd(&ep).args(["sync", &tree, "s3://s3c/tree/"]),
        "s3cmd sync",
    )
    .await?;
    let listing = run(
        s3cmd(&ep).args(["ls", "--recursive", "s3://s3c/"]),
        "s3cmd ls",
    )
    .await?;
    for k in [
        "one/small.txt",
        "tree/small.txt",
        "tree/sub/one.bin",
        "tree/sub/deeper/big.bin",
    ] {
        ensure!(listing.contains(k), "{k} missing from:\n{listing}");
    }
    let root = cluster.s3(Site::Beijing);
    ensure!(
        s3::get_bytes(&root, "s3c", "tree/sub/deeper/big.bin").await? == random_bytes(2, 12 << 20)
    );
    run(
        s3cmd(&ep).args(["del", "--recursive", "--force", "s3://s3c/"]),
        "s3cmd del",
    )
    .await?;
    ensure!(s3::list_all_keys(&root, "s3c", None).await?.is_empty());
    run(s3cmd(&ep).args(["rb", "s3://s3c"]), "s3cmd rb").await?;
    Ok(())
}
