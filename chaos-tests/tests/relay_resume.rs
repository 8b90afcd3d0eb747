//! A large object born at Jiangmen that policy sends to Beijing and
//! Dongguan crosses the Jiangmen uplink once (Beijing relays it to
//! Dongguan); the federation is SIGKILLed half-way, and after the restart
//! the copy resumes from the chunks already held instead of starting over.

use std::time::Duration;

use anyhow::{ensure, Context, Result};
use meridian_chaos_tests::ctl::link_bytes;
use meridian_chaos_tests::data::random_bytes;
use meridian_chaos_tests::s3;
use meridian_chaos_tests::{DevCluster, DevOptions, Site};

const POLICY: &str = "[default]\ncopies = 3\nsites = \"Beijing | Dongguan\"\n";
const SIZE: usize = 8 << 20;
const CHUNK: u64 = 256 << 10;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relayed_copy_resumes_from_held_chunks_after_a_crash() -> Result<()> {
    // Jiangmen's 2 Gb/s uplink at 8 Mb/s: 8 MiB take about 8 s.
    let opts = DevOptions::default()
        .with_link_scale(0.004)
        .with_chunk_size("256KiB")
        .with_policy(POLICY);
    let mut cluster = DevCluster::start_serving(opts).await?;
    let jiangmen = cluster.s3(Site::Jiangmen);
    s3::create_bucket(&jiangmen, "juno").await?;
    let body = random_bytes(7, SIZE);
    s3::put_bytes(&jiangmen, "juno", "raw/run42.h5", body.clone()).await?;

    let ctl = cluster.ctl();
    let half = (SIZE / 2) as u64;
    let before = ctl
        .wait_link_bytes(("Jiangmen", "Beijing"), half, Duration::from_secs(60))
        .await?;
    cluster.kill9()?;
    cluster.restart_serving().await?;

    let ctl = cluster.ctl();
    ctl.wait_replicated("juno", "raw/run42.h5", 3, Duration::from_secs(120))
        .await?;
    let status = ctl.json(&["status"]).await?;
    let after = link_bytes(&status, "Jiangmen", "Beijing");
    eprintln!(
        "Jiangmen -> Beijing: {before} bytes before the kill, {after} after; Beijing -> Dongguan: {}",
        link_bytes(&status, "Beijing", "Dongguan")
    );
    // Resumed: what crossed after the restart is what was missing, plus at
    // most the chunks in flight at the kill (4 per link).
    ensure!(
        after + before <= SIZE as u64 + 4 * CHUNK,
        "the uplink carried {before} + {after} bytes for a {SIZE}-byte object"
    );
    ensure!(
        after < SIZE as u64,
        "restarted from zero: {after} bytes after the restart"
    );
    // Dongguan was fed by Beijing, not by a second crossing of the uplink.
    ensure!(
        link_bytes(&status, "Beijing", "Dongguan") > 0,
        "nothing went Beijing -> Dongguan: {status}"
    );
    for site in [Site::Beijing, Site::Dongguan] {
        let got = s3::get_bytes(&cluster.s3(site), "juno", "raw/run42.h5")
            .await
            .with_context(|| format!("reading at {site:?}"))?;
        ensure!(got == body, "content differs at {site:?}");
    }
    Ok(())
}
