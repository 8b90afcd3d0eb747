//! Agents end to end: `meridian mcp` driven by the reference MCP client
//! (the Python `mcp` package) through a scripted session, over stdio as a
//! user with keys and over streamable HTTP with a bearer token. The agent
//! finds a dataset, reads its card and readiness, lists its files, checks
//! a file's replicas and downloads it through a presigned URL; it sees what
//! its user may and no more, cannot write through a read-only server, and
//! an HTTP caller without a token is refused.

use std::time::Duration;

use anyhow::{ensure, Context, Result};
use aws_sdk_s3::primitives::ByteStream;
use meridian_chaos_tests::python::{run_script, script};
use meridian_chaos_tests::s3::S3Options;
use meridian_chaos_tests::{DevCluster, DevOptions, Site};
use serde_json::Value;

const DOC: &str = r#"{"title": "Run 7", "description": "raw", "creators": [{"name": "A"}],
  "keywords": ["neutrino"]}"#;

async fn mcp_available() -> Result<()> {
    let mut cmd = tokio::process::Command::new(meridian_chaos_tests::python::python());
    cmd.args(["-c", "import mcp, httpx2"]);
    let out = meridian_chaos_tests::process::run_bounded(&mut cmd, Duration::from_secs(60)).await?;
    ensure!(
        out.status.success(),
        "the Python MCP client is missing (pip install mcp): {}",
        meridian_chaos_tests::process::describe(&out)
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_finds_reads_and_downloads_as_its_user() -> Result<()> {
    mcp_available().await?;
    let cluster = DevCluster::start_serving(DevOptions::default()).await?;
    let ctl = cluster.ctl();
    let (ak, sk) = ctl.new_user("alice").await?;
    let (bk, bs) = ctl.new_user("bob").await?;
    let s3 = cluster.s3_with(
        Site::Beijing,
        &S3Options::default().with_keys(&ak, &sk).without_retries(),
    );
    s3.create_bucket().bucket("runs").send().await?;
    let body = b"root\0\0\0\x01 a run's waveforms".to_vec();
    s3.put_object()
        .bucket("runs")
        .key("run7/a.root")
        .body(ByteStream::from(body.clone()))
        .send()
        .await?;
    let alice = ctl.as_user(&cluster.grpc_endpoint(), (&ak, &sk));
    alice
        .json(&["dataset", "create", "run-7", "--rule", "runs/run7/"])
        .await?;
    let dir = tempfile::tempdir()?;
    let doc = dir.path().join("dataset.json");
    std::fs::write(&doc, DOC)?;
    alice
        .json(&[
            "dataset",
            "metadata",
            "set",
            "run-7",
            "dataset",
            doc.to_str().context("path")?,
        ])
        .await?;
    alice
        .json(&["dataset", "attach", "run-7", "runs/run7/a.root"])
        .await?;
    let meridian = meridian_chaos_tests::binaries::meridian()?;

    // Over stdio, as Alice.
    let mut cmd = script("mcp_agent.py");
    cmd.env("MERIDIAN_ACCESS_KEY", &ak)
        .env("MERIDIAN_SECRET_KEY", &sk)
        .args([
            "stdio",
            meridian.to_str().context("path")?,
            &cluster.grpc_endpoint(),
            &cluster.s3_endpoint(Site::Beijing),
            "run-7",
            "runs",
            "run7/a.root",
        ]);
    let said = run_script(&mut cmd, "the stdio agent session", None).await?;
    let v: Value = serde_json::from_str(said.trim()).context("the session's report")?;
    let tools: Vec<&str> = v["tools"]
        .as_array()
        .context("tools")?
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for t in [
        "search_datasets",
        "search_files",
        "get_card",
        "get_readiness",
        "get_metadata",
        "list_files",
        "check_replication",
        "presign_download",
    ] {
        ensure!(tools.contains(&t), "no tool {t}: {tools:?}");
    }
    ensure!(
        v["search"]["answer"]["datasets"][0]["name"] == "run-7",
        "{}",
        v["search"]
    );
    ensure!(v["card"]["head"] == "# Run 7", "{}", v["card"]);
    ensure!(
        v["readiness"].as_array().is_some_and(|a| a.len() == 3),
        "{}",
        v["readiness"]
    );
    ensure!(
        v["files"]["files"][0]["key"] == "run7/a.root",
        "{}",
        v["files"]
    );
    ensure!(
        v["write"]["error"] == true
            && v["write"]["answer"]
                .as_str()
                .is_some_and(|a| a.contains("read-only")),
        "{}",
        v["write"]
    );
    ensure!(
        v["replication"]["size"] == body.len() && v["replication"]["format"] == "ROOT",
        "{}",
        v["replication"]
    );
    ensure!(
        v["presign"]["status"] == 200 && v["presign"]["bytes"] == body.len(),
        "{}",
        v["presign"]
    );

    // Over streamable HTTP, as Bob with a token: he may read nothing of
    // Alice's, so the agent finds nothing and is refused the card.
    let token = ctl
        .json(&[
            "token",
            "create",
            "bob",
            "--scope",
            "storage.read:/",
            "--ttl",
            "10m",
        ])
        .await?["token"]
        .as_str()
        .context("token")?
        .to_string();
    let _ = (bk, bs);
    // A port of a block of its own, free as the harness hands them out.
    let port = meridian_chaos_tests::ports::reserve()?.grpc;
    let mut server = tokio::process::Command::new(&meridian);
    server
        .args([
            "mcp",
            "--endpoint",
            &cluster.grpc_endpoint(),
            "--http",
            &format!("127.0.0.1:{port}"),
        ])
        .env_remove("MERIDIAN_ACCESS_KEY")
        .env_remove("MERIDIAN_SECRET_KEY")
        .kill_on_drop(true);
    let _child = server.spawn().context("starting meridian mcp --http")?;
    let url = format!("http://127.0.0.1:{port}/mcp");
    let mut last = String::new();
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        last = "not listening".into();
    }
    let mut cmd = script("mcp_agent.py");
    cmd.args(["http", &url, &token, "run-7"]);
    let said = run_script(&mut cmd, "the HTTP agent session", None)
        .await
        .with_context(|| last.clone())?;
    let v: Value = serde_json::from_str(said.trim()).context("the session's report")?;
    ensure!(
        v["unauthenticated_status"] == 401,
        "{}",
        v["unauthenticated_status"]
    );
    ensure!(
        v["search"]["answer"]["datasets"] == serde_json::json!([]),
        "bob's agent found alice's dataset: {}",
        v["search"]
    );
    ensure!(
        v["card"]["error"] == true
            && v["card"]["head"]
                .as_str()
                .is_some_and(|h| h.contains("PermissionDenied")),
        "{}",
        v["card"]
    );
    // Once Alice grants Bob read, his agent reads the card.
    alice
        .json(&["dataset", "grant", "run-7", "bob", "read"])
        .await?;
    let said = run_script(&mut cmd, "the HTTP agent session, granted", None).await?;
    let v: Value = serde_json::from_str(said.trim()).context("the session's report")?;
    ensure!(v["card"]["head"] == "# Run 7", "{}", v["card"]);
    Ok(())
}
