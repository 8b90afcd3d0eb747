//! A rule's `ack`: the write is answered only once that many copies are
//! complete; with the usual ack = 1, at once.

use std::time::Instant;

use anyhow::{ensure, Result};
use meridian_chaos_tests::data::random_bytes;
use meridian_chaos_tests::s3;
use meridian_chaos_tests::{DevCluster, DevOptions, Site};

const POLICY: &str = r#"
[default]
copies = 3

[[rule]]
name = "safe"
bucket = "safe"
copies = 3
ack = 3
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_waits_for_its_ack_copies() -> Result<()> {
    // Beijing -> Dongguan at 20 Mb/s: 2 MiB take about 0.8 s to copy.
    let opts = DevOptions::default()
        .with_link_scale(0.001)
        .with_policy(POLICY);
    let cluster = DevCluster::start_serving(opts).await?;
    let beijing = cluster.s3(Site::Beijing);
    let ctl = cluster.ctl();
    for bucket in ["safe", "fast"] {
        s3::create_bucket(&beijing, bucket).await?;
    }

    let started = Instant::now();
    s3::put_bytes(&beijing, "safe", "k", random_bytes(1, 2 << 20)).await?;
    let took = started.elapsed();
    let stat = ctl.object_stat("safe", "k").await?;
    ensure!(
        stat.complete_sites().len() == 3,
        "acknowledged with {} after {took:?}",
        stat.replica_summary()
    );

    // ack = 1: answered while the copies are still on their way.
    s3::put_bytes(&beijing, "fast", "k", random_bytes(2, 2 << 20)).await?;
    let stat = ctl.object_stat("fast", "k").await?;
    ensure!(
        stat.complete_sites().len() < 3,
        "an ack = 1 write waited for its copies: {}",
        stat.replica_summary()
    );
    Ok(())
}
