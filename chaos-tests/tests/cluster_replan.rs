//! Five `meridian node` processes: a long round of transfer orders gives
//! way to new work. The leader withdraws the round's pending orders and
//! plans the new work with what is left; what had moved is not moved again.

use std::time::Duration;

use anyhow::{ensure, Context, Result};
use meridian_chaos_tests::ctl::link_bytes;
use meridian_chaos_tests::data::random_bytes;
use meridian_chaos_tests::nodes::{NodeCluster, NodeOptions};
use meridian_chaos_tests::s3::{self, S3Options};
use meridian_chaos_tests::{ReplicaState, Site};

const SIZE: usize = 12 << 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_round_of_orders_gives_way_to_new_work() -> Result<()> {
    // Jiangmen's uplink at 4 Mb/s: 12 MiB take about 25 s.
    let opts = NodeOptions {
        chunk_size: "256KiB".into(),
        link_scale: 0.002,
        ..NodeOptions::default()
    };
    let cluster = tokio::task::block_in_place(|| NodeCluster::start_with(&opts))?;
    let jiangmen = cluster.s3(Site::Jiangmen, &S3Options::default());
    let beijing = cluster.s3(Site::Beijing, &S3Options::default());
    s3::create_bucket(&jiangmen, "juno").await?;
    s3::create_bucket(&beijing, "besiii").await?;
    let big = random_bytes(3, SIZE);
    s3::put_bytes(&jiangmen, "juno", "raw/big", big.clone()).await?;
    let ctl = cluster.ctl(Site::Beijing);
    // The round is under way once the uplink carries its first chunk.
    ctl.wait_link_bytes(("Jiangmen", "Beijing"), 1, Duration::from_secs(60))
        .await
        .with_context(|| cluster.failure_context())?;
    // Past the point (10 s) where a round gives way to new work.
    cluster.advance_clock(Duration::from_secs(11)).await?;
    s3::put_bytes(&beijing, "besiii", "run8", random_bytes(4, 64 << 10)).await?;

    // Sooner than the round would give way by the system's clock alone.
    ctl.wait_replicated("besiii", "run8", 3, Duration::from_secs(6))
        .await
        .with_context(|| cluster.failure_context())?;
    let b = ctl.object_stat("juno", "raw/big").await?;
    ensure!(
        b.state_at(Site::Beijing) == Some(&ReplicaState::Pending),
        "the new work waited for the round: {}",
        b.replica_summary()
    );
    ctl.wait_replicated("juno", "raw/big", 3, Duration::from_secs(120))
        .await
        .with_context(|| cluster.failure_context())?;
    let uplink = link_bytes(&ctl.json(&["status"]).await?, "Jiangmen", "Beijing");
    ensure!(
        uplink <= SIZE as u64 + 4 * (256 << 10),
        "the uplink carried {uplink} bytes for {SIZE}"
    );
    let got = s3::get_bytes(
        &cluster.s3(Site::Huairou, &S3Options::default()),
        "juno",
        "raw/big",
    )
    .await?;
    ensure!(got == big, "content differs at Huairou");
    Ok(())
}
