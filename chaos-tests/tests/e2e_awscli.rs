//! The real `aws` CLI against `meridian dev`: bucket commands, a 100 MiB
//! file up (multipart) and down again, byte for byte; `s3 sync` both ways
//! (with changes and `--delete`); a `presign`ed URL fetched without keys.

use std::path::Path;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use meridian_chaos_tests::awscli::{require_aws_cli, AwsCli, SMALL_TIMEOUT};
use meridian_chaos_tests::data::{file_blake3, write_random_file};
use meridian_chaos_tests::{DevCluster, DevOptions, Site};

const BIG: u64 = 100 * 1024 * 1024;
const BIG_TIMEOUT: Duration = Duration::from_secs(600);
const BUCKET: &str = "cli-bucket";

fn ls_has(listing: &str, size: Option<u64>, name: &str) -> bool {
    listing.lines().any(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        fields.last() == Some(&name)
            && size.is_none_or(|s| fields.iter().any(|f| *f == s.to_string()))
    })
}

#[tokio::test]
async fn aws_cli_copies_100_mib_up_and_down() -> Result<()> {
    require_aws_cli().await?;
    let cluster = DevCluster::start_serving(DevOptions::default().with_link_scale(1.0)).await?;
    let aws = AwsCli::new(cluster.s3_endpoint(Site::Beijing))?;
    let files = tempfile::tempdir().context("temp dir for files")?;

    aws.run(&["s3", "mb", &format!("s3://{BUCKET}")], SMALL_TIMEOUT)
        .await?;
    let buckets = aws.stdout(&["s3", "ls"]).await?;
    ensure!(
        ls_has(&buckets, None, BUCKET),
        "`aws s3 ls` lacks {BUCKET}:\n{buckets}"
    );

    let up = files.path().join("big.bin");
    let want = write_random_file(&up, 100, BIG)?;
    let uri = format!("s3://{BUCKET}/data/big.bin");
    aws.run(
        &["s3", "cp", "--no-progress", path_str(&up)?, &uri],
        BIG_TIMEOUT,
    )
    .await?;

    let listing = aws
        .stdout(&["s3", "ls", &format!("s3://{BUCKET}/data/")])
        .await?;
    ensure!(
        ls_has(&listing, Some(BIG), "big.bin"),
        "`aws s3 ls` lacks big.bin of {BIG} bytes:\n{listing}"
    );

    let head = aws
        .json(&[
            "s3api",
            "head-object",
            "--bucket",
            BUCKET,
            "--key",
            "data/big.bin",
        ])
        .await?;
    ensure!(
        head.get("ContentLength").and_then(|v| v.as_u64()) == Some(BIG),
        "head-object: {head}"
    );
    let etag = head
        .get("ETag")
        .and_then(|v| v.as_str())
        .unwrap_or_default();
    ensure!(
        etag.trim_matches('"').contains('-'),
        "a 100 MiB `aws s3 cp` is multipart, yet the ETag is {etag}"
    );

    let down = files.path().join("down.bin");
    aws.run(
        &["s3", "cp", "--no-progress", &uri, path_str(&down)?],
        BIG_TIMEOUT,
    )
    .await?;
    let got = file_blake3(&down)?;
    ensure!(
        got == want,
        "downloaded file differs: blake3 {got}, uploaded {want}"
    );
    std::fs::remove_file(&down).context("removing the download")?;

    // A second site serves the same object (read through the links).
    let far = AwsCli::new(cluster.s3_endpoint(Site::Daocheng))?;
    let down_far = files.path().join("down-far.bin");
    far.run(
        &["s3", "cp", "--no-progress", &uri, path_str(&down_far)?],
        BIG_TIMEOUT,
    )
    .await?;
    let got = file_blake3(&down_far)?;
    ensure!(
        got == want,
        "download at Daocheng differs: blake3 {got}, uploaded {want}"
    );

    let small = files.path().join("small.txt");
    std::fs::write(&small, b"hello meridian\n").context("writing small file")?;
    aws.run(
        &[
            "s3",
            "cp",
            "--no-progress",
            "--content-type",
            "text/plain",
            "--metadata",
            "experiment=lhaaso",
            path_str(&small)?,
            &format!("s3://{BUCKET}/small.txt"),
        ],
        SMALL_TIMEOUT,
    )
    .await?;
    let head = aws
        .json(&[
            "s3api",
            "head-object",
            "--bucket",
            BUCKET,
            "--key",
            "small.txt",
        ])
        .await?;
    ensure!(
        head.get("ContentType").and_then(|v| v.as_str()) == Some("text/plain"),
        "head-object: {head}"
    );
    ensure!(
        head.pointer("/Metadata/experiment")
            .and_then(|v| v.as_str())
            == Some("lhaaso"),
        "head-object: {head}"
    );
    let listed = aws
        .json(&[
            "s3api",
            "list-objects-v2",
            "--bucket",
            BUCKET,
            "--page-size",
            "1",
        ])
        .await?;
    let keys: Vec<&str> = listed
        .get("Contents")
        .and_then(|v| v.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|o| o.get("Key").and_then(|k| k.as_str()))
                .collect()
        })
        .unwrap_or_default();
    // The CLI follows continuation tokens itself, one key per page.
    ensure!(
        keys == ["data/big.bin", "small.txt"],
        "list-objects-v2 keys {keys:?}"
    );

    aws.run(&["s3", "rm", &uri], SMALL_TIMEOUT).await?;
    let listing = aws
        .stdout_allow_empty(&["s3", "ls", &format!("s3://{BUCKET}/data/")])
        .await?;
    ensure!(
        !listing.contains("big.bin"),
        "big.bin still listed after rm:\n{listing}"
    );

    aws.run(
        &["s3", "rb", "--force", &format!("s3://{BUCKET}")],
        SMALL_TIMEOUT,
    )
    .await?;
    let buckets = aws.stdout_allow_empty(&["s3", "ls"]).await?;
    ensure!(
        !ls_has(&buckets, None, BUCKET),
        "{BUCKET} still listed after rb:\n{buckets}"
    );
    Ok(())
}

/// The files under `dir` (relative paths) and their contents.
fn tree(dir: &Path) -> Result<std::collections::BTreeMap<String, Vec<u8>>> {
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).with_context(|| format!("listing {}", d.display()))? {
            let p = e?.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir)?.to_string_lossy().to_string();
                out.insert(rel, std::fs::read(&p)?);
            }
        }
    }
    Ok(out)
}

#[tokio::test]
async fn aws_cli_syncs_both_ways_and_presigns() -> Result<()> {
    require_aws_cli().await?;
    let cluster = DevCluster::start_serving(DevOptions::default()).await?;
    let aws = AwsCli::new(cluster.s3_endpoint(Site::Beijing))?;
    let files = tempfile::tempdir().context("temp dir for files")?;
    let src = files.path().join("src");
    for i in 0..12 {
        let dir = src.join(format!("run{}", i % 3));
        std::fs::create_dir_all(&dir)?;
        std::fs::write(
            dir.join(format!("f{i}.dat")),
            format!("event data {i}\n").repeat(i + 1),
        )?;
    }
    aws.run(&["s3", "mb", "s3://sync-bucket"], SMALL_TIMEOUT)
        .await?;
    let remote = "s3://sync-bucket/tree/";
    let src_s = path_str(&src)?;
    aws.run(
        &["s3", "sync", "--no-progress", src_s, remote],
        SMALL_TIMEOUT,
    )
    .await?;
    let listing = aws.stdout(&["s3", "ls", "--recursive", remote]).await?;
    ensure!(
        listing.lines().count() == 12,
        "after the first sync:\n{listing}"
    );

    // Change one file, add one, remove one; sync with --delete.
    std::fs::write(src.join("run0/f0.dat"), b"changed and longer than before\n")?;
    std::fs::write(src.join("run1/new.dat"), b"new file\n")?;
    std::fs::remove_file(src.join("run2/f2.dat"))?;
    let out = aws
        .stdout(&["s3", "sync", "--no-progress", "--delete", src_s, remote])
        .await?;
    ensure!(
        out.contains("run0/f0.dat") && out.contains("run1/new.dat"),
        "second sync:\n{out}"
    );
    ensure!(
        out.contains("delete:") && out.contains("run2/f2.dat"),
        "second sync:\n{out}"
    );
    // Nothing left to do.
    let again = aws
        .stdout(&["s3", "sync", "--no-progress", "--delete", src_s, remote])
        .await?;
    ensure!(
        again.trim().is_empty(),
        "a third sync still copied:\n{again}"
    );

    // Down again, at another site: the same tree.
    let far = AwsCli::new(cluster.s3_endpoint(Site::Dongguan))?;
    let dst = files.path().join("dst");
    far.run(
        &["s3", "sync", "--no-progress", remote, path_str(&dst)?],
        SMALL_TIMEOUT,
    )
    .await?;
    ensure!(tree(&dst)? == tree(&src)?, "the synced-down tree differs");

    // A presigned GET works without keys, and not once tampered with.
    let url = aws
        .stdout(&[
            "s3",
            "presign",
            "s3://sync-bucket/tree/run1/new.dat",
            "--expires-in",
            "300",
        ])
        .await?;
    let url = url.trim();
    let ep = cluster.s3_endpoint(Site::Beijing);
    let path = url
        .strip_prefix(ep.as_str())
        .with_context(|| format!("presigned URL {url} is not on {ep}"))?;
    let addr = ep.trim_start_matches("http://");
    let got = meridian_chaos_tests::rawhttp::unsigned(addr, "GET", path, &[]).await?;
    ensure!(
        got.status == 200 && got.body == "new file\n",
        "presigned GET: {got:?}"
    );
    let tampered = path.replace("new.dat", "f1.dat");
    let got = meridian_chaos_tests::rawhttp::unsigned(addr, "GET", &tampered, &[]).await?;
    ensure!(got.status == 403, "a tampered presigned URL: {got:?}");

    aws.run(&["s3", "rm", "--recursive", remote], SMALL_TIMEOUT)
        .await?;
    let left = aws
        .stdout_allow_empty(&["s3", "ls", "--recursive", remote])
        .await?;
    ensure!(left.trim().is_empty(), "left after rm --recursive:\n{left}");
    aws.run(&["s3", "rb", "s3://sync-bucket"], SMALL_TIMEOUT)
        .await?;
    Ok(())
}

fn path_str(p: &Path) -> Result<&str> {
    p.to_str()
        .with_context(|| format!("{} is not UTF-8", p.display()))
}

#[tokio::test]
async fn aws_cli_sets_acls_blocks_and_locks() -> Result<()> {
    require_aws_cli().await?;
    let cluster = DevCluster::start_serving(DevOptions::default()).await?;
    let endpoint = cluster.s3_endpoint(Site::Beijing);
    let aws = AwsCli::new(endpoint.clone())?;
    let files = tempfile::tempdir()?;
    let file = files.path().join("note.txt");
    std::fs::write(&file, b"shared with everyone")?;
    let file_s = path_str(&file)?;
    let addr = endpoint.trim_start_matches("http://");
    let anon = |path: String| async move {
        meridian_chaos_tests::rawhttp::unsigned(addr, "GET", &path, &[])
            .await
            .map(|a| a.status)
    };

    aws.run(&["s3", "mb", "s3://cli-acl"], SMALL_TIMEOUT)
        .await?;
    aws.run(
        &[
            "s3",
            "cp",
            "--acl",
            "public-read",
            file_s,
            "s3://cli-acl/pub.txt",
        ],
        SMALL_TIMEOUT,
    )
    .await?;
    aws.run(&["s3", "cp", file_s, "s3://cli-acl/own.txt"], SMALL_TIMEOUT)
        .await?;
    ensure!(anon("/cli-acl/pub.txt".into()).await? == 200);
    ensure!(anon("/cli-acl/own.txt".into()).await? == 403);
    let acl = aws
        .json(&[
            "s3api",
            "get-object-acl",
            "--bucket",
            "cli-acl",
            "--key",
            "pub.txt",
        ])
        .await?;
    ensure!(
        acl.to_string().contains("global/AllUsers") && acl.to_string().contains("READ"),
        "{acl}"
    );
    let status = aws
        .json(&["s3api", "get-bucket-policy-status", "--bucket", "cli-acl"])
        .await?;
    ensure!(status["PolicyStatus"]["IsPublic"] == false, "{status}");
    aws.run(
        &[
            "s3api",
            "put-public-access-block",
            "--bucket",
            "cli-acl",
            "--public-access-block-configuration",
            "BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true",
        ],
        SMALL_TIMEOUT,
    )
    .await?;
    aws.refused(
        &[
            "s3",
            "cp",
            "--acl",
            "public-read",
            file_s,
            "s3://cli-acl/again.txt",
        ],
        "AccessDenied",
    )
    .await?;
    ensure!(anon("/cli-acl/pub.txt".into()).await? == 403, "ignored now");

    // Object Lock: a COMPLIANCE version cannot be deleted.
    aws.run(
        &[
            "s3api",
            "create-bucket",
            "--bucket",
            "cli-lock",
            "--object-lock-enabled-for-bucket",
        ],
        SMALL_TIMEOUT,
    )
    .await?;
    let until = (time::OffsetDateTime::now_utc() + time::Duration::days(1))
        .format(&time::format_description::well_known::Rfc3339)?;
    let put = aws
        .json(&[
            "s3api",
            "put-object",
            "--bucket",
            "cli-lock",
            "--key",
            "run.dat",
            "--body",
            file_s,
            "--checksum-algorithm",
            "CRC32",
            "--object-lock-mode",
            "COMPLIANCE",
            "--object-lock-retain-until-date",
            &until,
        ])
        .await?;
    let version = put["VersionId"].as_str().context("a version id")?;
    aws.refused(
        &[
            "s3api",
            "delete-object",
            "--bucket",
            "cli-lock",
            "--key",
            "run.dat",
            "--version-id",
            version,
            "--bypass-governance-retention",
        ],
        "AccessDenied",
    )
    .await?;
    let retention = aws
        .json(&[
            "s3api",
            "get-object-retention",
            "--bucket",
            "cli-lock",
            "--key",
            "run.dat",
        ])
        .await?;
    ensure!(
        retention["Retention"]["Mode"] == "COMPLIANCE",
        "{retention}"
    );
    Ok(())
}
