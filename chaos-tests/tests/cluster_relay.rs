//! Five `meridian node` processes. A large object born at Jiangmen that
//! policy sends to Beijing and Dongguan: the metadata leader plans it and
//! hands out transfer orders; Beijing pulls it over the Jiangmen uplink and
//! Dongguan takes it from Beijing (the uplink carries it once). Half-way,
//! the Jiangmen node (the only source) is SIGKILLed and restarted; the copy
//! resumes from the chunks Beijing already holds.

use std::time::Duration;

use anyhow::{ensure, Context, Result};
use meridian_chaos_tests::ctl::link_bytes;
use meridian_chaos_tests::data::random_bytes;
use meridian_chaos_tests::nodes::{NodeCluster, NodeOptions};
use meridian_chaos_tests::s3::{self, S3Options};
use meridian_chaos_tests::Site;

const POLICY: &str = "[default]\ncopies = 3\nsites = \"Beijing | Dongguan\"\n";
const SIZE: usize = 8 << 20;
const CHUNK: u64 = 256 << 10;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_feeds_dongguan_and_a_killed_source_resumes() -> Result<()> {
    // Jiangmen's 2 Gb/s uplink at 8 Mb/s: 8 MiB take about 8 s.
    let opts = NodeOptions {
        chunk_size: "256KiB".into(),
        link_scale: 0.004,
        policy: Some(POLICY.into()),
        ..NodeOptions::default()
    };
    let mut cluster = tokio::task::block_in_place(|| NodeCluster::start_with(&opts))?;
    let jiangmen = cluster.s3(Site::Jiangmen, &S3Options::default());
    s3::create_bucket(&jiangmen, "juno").await?;
    let body = random_bytes(9, SIZE);
    s3::put_bytes(&jiangmen, "juno", "raw/run9.h5", body.clone()).await?;

    // The uplink's bytes are counted by the puller: Beijing's process.
    let beijing = cluster.ctl(Site::Beijing);
    let half = (SIZE / 2) as u64;
    beijing
        .wait_link_bytes(("Jiangmen", "Beijing"), half, Duration::from_secs(90))
        .await?;
    cluster.kill9(Site::Jiangmen)?;
    // Down for a moment: the transfers reading from it fail.
    tokio::time::sleep(Duration::from_millis(500)).await;
    tokio::task::block_in_place(|| cluster.restart(Site::Jiangmen))?;

    beijing
        .wait_replicated("juno", "raw/run9.h5", 3, Duration::from_secs(180))
        .await
        .with_context(|| cluster.failure_context())?;
    let uplink = link_bytes(&beijing.json(&["status"]).await?, "Jiangmen", "Beijing");
    let dongguan = cluster.ctl(Site::Dongguan).json(&["status"]).await?;
    let relayed = link_bytes(&dongguan, "Beijing", "Dongguan");
    eprintln!("Jiangmen -> Beijing carried {uplink} bytes; Beijing -> Dongguan {relayed}");
    // Once over the uplink, plus at most the chunks in flight at the kill.
    ensure!(
        uplink <= SIZE as u64 + 4 * CHUNK,
        "the uplink carried {uplink} bytes for a {SIZE}-byte object"
    );
    ensure!(
        relayed >= SIZE as u64,
        "Dongguan was not fed by Beijing: {relayed} bytes"
    );
    for site in [Site::Beijing, Site::Dongguan] {
        let got = s3::get_bytes(
            &cluster.s3(site, &S3Options::default()),
            "juno",
            "raw/run9.h5",
        )
        .await
        .with_context(|| format!("reading at {site:?}"))?;
        ensure!(got == body, "content differs at {site:?}");
    }
    Ok(())
}
