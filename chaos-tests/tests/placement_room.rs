//! Placement weighs the room left at each site: once Huairou (declared
//! with 2 MB of capacity) holds a copy, the next object's copy goes
//! elsewhere, and `object explain` says why.

use anyhow::{ensure, Result};
use meridian_chaos_tests::data::random_bytes;
use meridian_chaos_tests::s3;
use meridian_chaos_tests::{DevCluster, DevOptions, Site};

const TOPOLOGY: &str = include_str!("../../node/config/topology.toml");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_site_is_passed_over() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let topo = dir.path().join("topology.toml");
    std::fs::write(
        &topo,
        TOPOLOGY.replace("capacity_tb = 20000", "capacity_tb = 0.000002"),
    )?;
    let opts = DevOptions {
        extra_args: vec!["--topology".into(), topo.display().to_string()],
        ..DevOptions::default()
    };
    let cluster = DevCluster::start_serving(opts).await?;
    let beijing = cluster.s3(Site::Beijing);
    s3::create_bucket(&beijing, "heps").await?;
    let ctl = cluster.ctl();

    s3::put_bytes(&beijing, "heps", "a", random_bytes(1, 1_500_000)).await?;
    let a = ctl.json(&["object", "explain", "heps", "a"]).await?;
    // The replicas the write recorded (explain also lists, as absent, a
    // site placement would pick today instead).
    let sites = |e: &serde_json::Value| -> Vec<String> {
        e["sites"]
            .as_array()
            .map(|v| {
                v.iter()
                    .filter(|s| s["state"] != "absent")
                    .filter_map(|s| s["site"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    ensure!(sites(&a) == ["Beijing", "Huairou", "Dongguan"], "{a}");

    // Huairou now holds (or is receiving) 1.5 of its 2 MB.
    s3::put_bytes(&beijing, "heps", "b", random_bytes(2, 1_500_000)).await?;
    let b = ctl.json(&["object", "explain", "heps", "b"]).await?;
    ensure!(sites(&b) == ["Beijing", "Dongguan", "Daocheng"], "{b}");
    ensure!(
        b["sites"][2]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("TB free")),
        "{b}"
    );
    Ok(())
}
