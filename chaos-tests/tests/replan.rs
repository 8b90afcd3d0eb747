//! New work does not wait for a long replication round: after the round
//! has run a while (by the process's clock, which the test moves), it gives
//! way, and the next round plans the new work
//! together with what was left (resuming from the chunks already moved).

use std::time::Duration;

use anyhow::{ensure, Result};
use meridian_chaos_tests::ctl::link_bytes;
use meridian_chaos_tests::data::random_bytes;
use meridian_chaos_tests::s3;
use meridian_chaos_tests::{DevCluster, DevOptions, ReplicaState, Site};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_round_gives_way_to_new_work() -> Result<()> {
    // Jiangmen's uplink at 4 Mb/s: 12 MiB take about 25 s.
    let opts = DevOptions::default()
        .with_link_scale(0.002)
        .with_chunk_size("256KiB");
    let cluster = DevCluster::start_serving(opts).await?;
    let (jiangmen, beijing) = (cluster.s3(Site::Jiangmen), cluster.s3(Site::Beijing));
    s3::create_bucket(&jiangmen, "juno").await?;
    s3::create_bucket(&beijing, "besiii").await?;
    let big = random_bytes(1, 12 << 20);
    s3::put_bytes(&jiangmen, "juno", "raw/big", big.clone()).await?;

    // The round is under way once the uplink carries its first chunk;
    // then the clock moves past the point where it gives way to new work.
    let ctl = cluster.ctl();
    ctl.wait_link_bytes(("Jiangmen", "Beijing"), 1, Duration::from_secs(30))
        .await?;
    ctl.advance_clock(Duration::from_secs(11)).await?;
    s3::put_bytes(&beijing, "besiii", "run7", random_bytes(2, 64 << 10)).await?;
    // Sooner than the round would give way by the system's clock alone.
    ctl.wait_replicated("besiii", "run7", 3, Duration::from_secs(6))
        .await?;
    // The small object is everywhere while the big one still moves.
    let b = ctl.object_stat("juno", "raw/big").await?;
    ensure!(
        b.state_at(Site::Beijing) == Some(&ReplicaState::Pending),
        "the new work waited for the round: {}",
        b.replica_summary()
    );
    ctl.wait_replicated("juno", "raw/big", 3, Duration::from_secs(90))
        .await?;
    let status = ctl.json(&["status"]).await?;
    let uplink = link_bytes(&status, "Jiangmen", "Beijing");
    // Replanning resumed from what had moved: the uplink carried the
    // object about once (plus the chunks in flight when the round gave way).
    ensure!(
        uplink <= (12 << 20) + 4 * (256 << 10),
        "the uplink carried {uplink} bytes for 12 MiB"
    );
    for site in [Site::Beijing, Site::Huairou] {
        let got = s3::get_bytes(&cluster.s3(site), "juno", "raw/big").await?;
        ensure!(got == big, "content differs at {site:?}");
    }
    Ok(())
}
