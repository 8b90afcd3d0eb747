//! A chunk file damaged on disk must never reach a client: a GET returns the
//! right bytes (from another replica) or fails, never wrong bytes.

use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use bytes::Bytes;
use meridian_chaos_tests::chunks::{describe_tree, find_chunk_files, flip_byte};
use meridian_chaos_tests::data::{chunk_hashes, random_bytes, seed_of};
use meridian_chaos_tests::s3;
use meridian_chaos_tests::{DevCluster, DevOptions, Site};

const BUCKET: &str = "corrupt";
const CHUNK: usize = 256 * 1024;
const SIZE: usize = 4 * CHUNK + 77;
const REPLICATION_TIMEOUT: Duration = Duration::from_secs(120);

/// The read path alone: with the scrubber on, it would find the damage
/// first and mark the replicas (`scrub_repair.rs` tests that).
async fn start() -> Result<DevCluster> {
    let mut opts = DevOptions::default()
        .with_link_scale(1.0)
        .with_chunk_size("256KiB");
    opts.extra_args
        .extend(["--scrub-rate".to_string(), "0".to_string()]);
    DevCluster::start_serving(opts).await
}

/// Writes one object at `site`, waits for all its replicas, and returns its
/// bytes and the sites that hold it.
async fn put_replicated(cluster: &DevCluster, site: Site, key: &str) -> Result<(Bytes, Vec<Site>)> {
    let c = cluster.s3(site);
    let data = random_bytes(seed_of(key), SIZE);
    s3::put_bytes(&c, BUCKET, key, data.clone()).await?;
    let stat = cluster
        .ctl()
        .wait_replicated(BUCKET, key, 3, REPLICATION_TIMEOUT)
        .await?;
    Ok((data, stat.complete_sites()))
}

/// Flips a byte in the file of chunk `index` of `data` at `site`.
fn corrupt_chunk(cluster: &DevCluster, site: Site, data: &[u8], index: usize) -> Result<()> {
    let hash = &chunk_hashes(data, CHUNK)[index];
    let dir = cluster.chunk_dir(site);
    let files = find_chunk_files(&dir, hash)?;
    if files.is_empty() {
        bail!(
            "no file for chunk {hash} at {site}; {}",
            describe_tree(&dir, 20)
        );
    }
    for f in &files {
        flip_byte(f)?;
    }
    Ok(())
}

/// Wrong bytes are the one outcome that is never acceptable.
enum Outcome {
    Correct,
    Failed(String),
}

async fn read(
    cluster: &DevCluster,
    site: Site,
    key: &str,
    range: Option<(usize, usize)>,
    want: &[u8],
) -> Result<Outcome> {
    let c = cluster.s3(site);
    let mut req = c.get_object().bucket(BUCKET).key(key);
    if let Some((a, b)) = range {
        req = req.range(format!("bytes={a}-{b}"));
    }
    let out = match req.send().await {
        Ok(out) => out,
        Err(e) => return Ok(Outcome::Failed(s3::describe_error(&e))),
    };
    let body = match out.body.collect().await {
        Ok(b) => b.into_bytes(),
        Err(e) => return Ok(Outcome::Failed(format!("body: {e}"))),
    };
    let expected = match range {
        Some((a, b)) => &want[a..=b],
        None => want,
    };
    if body[..] != expected[..] {
        bail!(
            "GET {key} at {site} range {range:?} returned {} WRONG bytes (want {})",
            body.len(),
            expected.len()
        );
    }
    Ok(Outcome::Correct)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_replica_is_never_served() -> Result<()> {
    let mut cluster = start().await?;
    s3::create_bucket(&cluster.s3(Site::Beijing), BUCKET).await?;
    let key = "one-bad-replica";
    let (data, holders) = put_replicated(&cluster, Site::Dongguan, key).await?;
    ensure!(
        holders.contains(&Site::Dongguan),
        "ingest site not among holders {holders:?}"
    );
    corrupt_chunk(&cluster, Site::Dongguan, &data, 1)?;
    // A fresh process has nothing cached: the read must come from disk.
    cluster
        .restart_serving()
        .await
        .context("restart after corrupting")?;

    let chunk1 = (CHUNK + 10, 2 * CHUNK - 10);
    for (what, range) in [("whole", None), ("inside the bad chunk", Some(chunk1))] {
        match read(&cluster, Site::Dongguan, key, range, &data).await? {
            Outcome::Correct => {}
            Outcome::Failed(e) => {
                eprintln!("GET {what} at Dongguan failed (allowed, other replicas exist): {e}")
            }
        }
    }
    // Another site's reader is not harmed by Dongguan's bad copy either.
    match read(&cluster, Site::Jiangmen, key, None, &data).await? {
        Outcome::Correct => {}
        Outcome::Failed(e) => eprintln!("GET at Jiangmen failed (allowed): {e}"),
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_replica_corrupt_means_an_error() -> Result<()> {
    let mut cluster = start().await?;
    s3::create_bucket(&cluster.s3(Site::Beijing), BUCKET).await?;
    let key = "all-bad";
    let (data, holders) = put_replicated(&cluster, Site::Daocheng, key).await?;
    ensure!(holders.len() >= 3, "expected 3 holders, got {holders:?}");
    for &site in &holders {
        corrupt_chunk(&cluster, site, &data, 2)?;
    }
    cluster
        .restart_serving()
        .await
        .context("restart after corrupting")?;

    // Chunks that are intact still read back: the damage is contained. Read
    // first, before failed reads may mark the replicas suspect.
    let chunk0 = (0, CHUNK - 1);
    if let Outcome::Failed(e) = read(&cluster, Site::Daocheng, key, Some(chunk0), &data).await? {
        bail!("an intact chunk of a partly corrupt object is unreadable: {e}");
    }

    let chunk2 = (2 * CHUNK + 1, 3 * CHUNK - 1);
    for site in Site::ALL {
        for range in [None, Some(chunk2)] {
            if let Outcome::Correct = read(&cluster, site, key, range, &data).await? {
                // No good copy is left on disk; correct bytes mean one was kept elsewhere.
                eprintln!("GET at {site} range {range:?} returned correct bytes although every replica is corrupt");
            }
        }
    }
    Ok(())
}
