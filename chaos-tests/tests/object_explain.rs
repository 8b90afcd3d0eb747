//! `meridianctl object explain`: the rule that governs an object, the sites
//! it chooses and why, against `meridian dev` with a policy whose rule
//! limits copies to a site expression.

use anyhow::{ensure, Result};
use meridian_chaos_tests::data::random_bytes;
use meridian_chaos_tests::s3;
use meridian_chaos_tests::{DevCluster, DevOptions, Site};

const POLICY: &str = r#"
[default]
copies = 3

[[rule]]
name = "raw-south"
bucket = "juno"
prefix = "raw/"
copies = 2
sites = "region=south"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_names_the_rule_the_sites_and_why() -> Result<()> {
    let opts = DevOptions::default().with_policy(POLICY);
    let cluster = DevCluster::start_serving(opts).await?;
    let beijing = cluster.s3(Site::Beijing);
    s3::create_bucket(&beijing, "juno").await?;
    s3::put_bytes(&beijing, "juno", "raw/run1.h5", random_bytes(1, 10_000)).await?;
    s3::put_bytes(&beijing, "juno", "calib/c1", random_bytes(2, 10_000)).await?;

    let ctl = cluster.ctl();
    let e = ctl
        .json(&["object", "explain", "juno", "raw/run1.h5"])
        .await?;
    ensure!(
        e["rule"] == "raw-south" && e["recorded_rule"] == "raw-south",
        "{e}"
    );
    ensure!(e["ingest_site"] == "Beijing", "{e}");
    let sites = e["sites"].as_array().cloned().unwrap_or_default();
    let names: Vec<&str> = sites.iter().filter_map(|s| s["site"].as_str()).collect();
    // The ingest site, then the south site with the fastest route from it.
    ensure!(names == ["Beijing", "Dongguan"], "{e}");
    ensure!(sites[0]["state"] == "complete", "{e}");
    ensure!(
        sites
            .iter()
            .all(|s| !s["reason"].as_str().unwrap_or("").is_empty()),
        "{e}"
    );
    // Why each was chosen is recorded with the replica at write time.
    ensure!(sites[0]["recorded_reason"] == "ingest site", "{e}");
    ensure!(
        sites[1]["recorded_reason"] == "earliest arrival from ingest",
        "{e}"
    );

    let d = ctl.json(&["object", "explain", "juno", "calib/c1"]).await?;
    ensure!(d["rule"] == "default", "{d}");
    ensure!(d["sites"].as_array().map(Vec::len) == Some(3), "{d}");

    let missing = ctl.json(&["object", "explain", "juno", "nope"]).await;
    ensure!(missing.is_err(), "explaining a missing object succeeded");
    Ok(())
}
