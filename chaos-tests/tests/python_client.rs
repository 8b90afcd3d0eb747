//! The Python client (`clients/python`, `meridian_client`) end to end
//! against a real `meridian dev`, as a user with an access key, through
//! relays that fail as a network does: a 2 GB upload whose connection is
//! cut at about half resumes and completes, is replicated (waited on) and
//! read back verified and equal; an uploading process whose link stalls is
//! killed, and the next resumes its session from the saved state, sending
//! only what the server lacked. The script is
//! `python/grpc_client_e2e.py`.

use std::net::SocketAddr;

use anyhow::{ensure, Context, Result};
use meridian_chaos_tests::faulty_link::{Fault, FaultyLink};
use meridian_chaos_tests::python::{require_grpc_client, run_script, script};
use meridian_chaos_tests::{DevCluster, DevOptions};

const SIZE: u64 = 2_000_000_000;
const SMALL: u64 = 256 << 20;
/// The server's default chunk size, which sessions use.
const CHUNK: u64 = 4 << 20;

/// The user's access key, given to a script as any client's credential
/// is: in its environment, never on a command line (`ps` shows those).
fn with_key(cmd: &mut tokio::process::Command, key: &serde_json::Value) -> Result<()> {
    cmd.env(
        "MERIDIAN_ACCESS_KEY",
        key["access_key"].as_str().context("access key")?,
    )
    .env(
        "MERIDIAN_SECRET_KEY",
        key["secret"].as_str().context("secret")?,
    )
    .env_remove("MERIDIAN_TOKEN");
    Ok(())
}

fn phase(out: &str, name: &str) -> Result<serde_json::Value> {
    out.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["phase"] == name)
        .with_context(|| format!("no {name} line in:\n{out}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_2gb_upload_resumes_replicates_and_reads_back_equal() -> Result<()> {
    require_grpc_client().await?;
    let cluster = DevCluster::start_serving(DevOptions::default()).await?;
    let ctl = cluster.ctl();
    ctl.json(&["user", "create", "daq"]).await?;
    let key = ctl.json(&["key", "create", "daq"]).await?;
    let server: SocketAddr = cluster
        .grpc_endpoint()
        .trim_start_matches("http://")
        .parse()?;
    let cut = FaultyLink::start(server, Fault::Cut, SIZE / 2).await?;
    let stall = FaultyLink::start(server, Fault::Stall, SMALL * 3 / 8).await?;
    let work = tempfile::Builder::new()
        .prefix("meridian-pyclient-")
        .tempdir()?;

    let mut cmd = script("grpc_client_e2e.py");
    with_key(&mut cmd, &key)?;
    cmd.arg("--endpoint")
        .arg(cluster.grpc_endpoint())
        .arg("--cut-endpoint")
        .arg(cut.endpoint())
        .arg("--stall-endpoint")
        .arg(stall.endpoint())
        .arg("--workdir")
        .arg(work.path())
        .arg("--size")
        .arg(SIZE.to_string())
        .arg("--small-size")
        .arg(SMALL.to_string());
    let out = run_script(&mut cmd, "grpc_client_e2e.py", Some("done")).await?;
    println!("{out}");

    ensure!(cut.tripped() && stall.tripped(), "a relay never failed");
    let c = phase(&out, "cut")?;
    ensure!(
        c["resumes"] == 1 && c["chunk_size"] == CHUNK,
        "one cut, one resume: {c}"
    );
    // Nothing the server received whole was lost: where the upload went on
    // from is at most a chunk (and the framing of what was relayed) short
    // of the bytes relayed before the cut.
    let resumed_at = c["breaks"][0].as_u64().context("breaks")?;
    let relayed = cut.relayed();
    let framing = relayed / 1000 + (64 << 10);
    ensure!(
        resumed_at + CHUNK + framing >= relayed && resumed_at <= relayed,
        "relayed {relayed} bytes before the cut, but the session held {resumed_at}"
    );
    ensure!(
        resumed_at > SIZE / 2 - CHUNK - framing,
        "the cut was not at about half: {c}"
    );
    // A stalled stream (neither closed nor reset) still has every whole
    // chunk it delivered recorded; the next process sends only the rest.
    let k = phase(&out, "killed")?;
    let held = k["durable_at_kill"].as_u64().context("durable_at_kill")?;
    let relayed = stall.relayed();
    ensure!(
        held + CHUNK + relayed / 1000 + (64 << 10) >= relayed && held <= relayed,
        "relayed {relayed} bytes before the stall, but the session held {held}"
    );
    ensure!(k["sent_after"].as_u64() == Some(SMALL - held), "{k}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_client_speaks_tls_with_a_scoped_token() -> Result<()> {
    require_grpc_client().await?;
    let cluster = DevCluster::start_serving(DevOptions::default().with_tls()).await?;
    let ctl = cluster.ctl();
    ctl.json(&["user", "create", "daq"]).await?;
    let key = ctl.json(&["key", "create", "daq"]).await?;
    let token = ctl
        .json(&[
            "token",
            "create",
            "daq",
            "--scope",
            "storage.create:/daq/run3 storage.read:/daq/run3",
            "--ttl",
            "10m",
        ])
        .await?;
    let work = tempfile::Builder::new()
        .prefix("meridian-pyclient-")
        .tempdir()?;
    let mut cmd = script("grpc_client_tls.py");
    cmd.arg("--endpoint")
        .arg(cluster.grpc_endpoint())
        .arg("--ca-cert")
        .arg(cluster.endpoint_ca())
        .arg("--workdir")
        .arg(work.path());
    with_key(&mut cmd, &key)?;
    cmd.env("MERIDIAN_TOKEN", token["token"].as_str().context("token")?);
    run_script(&mut cmd, "grpc_client_tls.py", Some("done")).await?;
    Ok(())
}
