//! `meridian dev --meta-voters 3`: the catalogue on three Raft voters in one
//! process over loopback gRPC. Writes and reads work through S3, the status
//! shows the group, and after SIGKILL and a restart the three voters form
//! the same group again with every acknowledged object intact and its
//! replicas completing.

use std::time::Duration;

use anyhow::{ensure, Result};
use meridian_chaos_tests::data::{blake3_hex, random_bytes};
use meridian_chaos_tests::s3;
use meridian_chaos_tests::{DevCluster, DevOptions, Site};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_voters_survive_sigkill() -> Result<()> {
    let opts = DevOptions {
        extra_args: vec!["--meta-voters".into(), "3".into()],
        ..DevOptions::default()
    }
    .with_chunk_size("256KiB");
    let mut cluster = DevCluster::start_serving(opts).await?;
    let jiangmen = cluster.s3(Site::Jiangmen);
    s3::create_bucket(&jiangmen, "voters").await?;
    let mut written = Vec::new();
    for i in 0..12u64 {
        let data = random_bytes(i, 100_000 + 50_000 * i as usize);
        let key = format!("raw/{i:03}");
        s3::put_bytes(&jiangmen, "voters", &key, data.clone()).await?;
        written.push((key, blake3_hex(&data)));
    }
    let status = cluster.ctl().json(&["status"]).await?;
    ensure!(status["raft"]["state"] == "Leader", "status: {status}");
    ensure!(status["objects"] == 12, "status: {status}");
    let members = cluster.ctl().json(&["meta", "members"]).await?;
    let list = members["members"].as_array().cloned().unwrap_or_default();
    ensure!(list.len() == 3, "members: {members}");
    ensure!(
        list.iter().all(|m| m["role"] == "voter"),
        "members: {members}"
    );
    ensure!(
        list.iter().filter(|m| m["leader"] == true).count() == 1,
        "members: {members}"
    );

    cluster.kill9()?;
    cluster.restart_serving().await?;
    let beijing = cluster.s3(Site::Beijing);
    for (key, hash) in &written {
        let back = s3::get_bytes(&beijing, "voters", key).await?;
        ensure!(
            &blake3_hex(&back) == hash,
            "{key} reads back different bytes after the restart"
        );
        cluster
            .ctl()
            .wait_replicated("voters", key, 3, Duration::from_secs(120))
            .await?;
    }
    // A bounded-staleness stat (possibly served by a follower) of objects
    // acknowledged longer ago than the bound sees them, with the right hash.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let mut grpc = meridian_chaos_tests::grpc::Api::connect(&cluster.grpc_endpoint()).await?;
    for (key, hash) in &written {
        let info = grpc
            .stat(meridian_proto::v1::StatRequest {
                bucket: "voters".into(),
                key: key.clone(),
                max_staleness_ms: 500,
            })
            .await?
            .into_inner();
        ensure!(&info.blake3 == hash, "stale stat of {key}: {info:?}");
    }
    // Membership through meridianctl: a voter leaves, the group still
    // commits, it comes back as a learner, catches up, and is promoted.
    let ctl = cluster.ctl();
    let now = ctl.json(&["meta", "members"]).await?;
    let list = now["members"].as_array().cloned().unwrap_or_default();
    let follower = list
        .iter()
        .find(|m| m["leader"] != true)
        .ok_or_else(|| anyhow::anyhow!("no follower in {now}"))?;
    let leaving_id = follower["id"].clone();
    let leaving = follower["id"].to_string();
    let leaving = leaving.as_str();
    let leaving_addr = follower["addr"].as_str().unwrap_or_default().to_string();
    let after = ctl.json(&["meta", "remove", leaving]).await?;
    ensure!(
        after["members"].as_array().map(Vec::len) == Some(2),
        "after remove: {after}"
    );
    s3::put_bytes(&beijing, "voters", "with-two-voters", random_bytes(7, 1000)).await?;
    let after = ctl
        .json(&["meta", "add-learner", leaving, &leaving_addr])
        .await?;
    ensure!(
        after["members"].as_array().is_some_and(|l| l
            .iter()
            .any(|m| m["id"] == leaving_id && m["role"] == "learner")),
        "after add-learner: {after}"
    );
    let after = ctl.json(&["meta", "promote", leaving]).await?;
    ensure!(
        after["members"]
            .as_array()
            .is_some_and(|l| l.len() == 3 && l.iter().all(|m| m["role"] == "voter")),
        "after promote: {after}"
    );
    ensure!(
        ctl.json(&["meta", "remove", "9"]).await.is_err(),
        "removing a stranger succeeded"
    );
    // The restarted group still takes writes.
    s3::put_bytes(&beijing, "voters", "after-restart", random_bytes(99, 1000)).await?;
    Ok(())
}
