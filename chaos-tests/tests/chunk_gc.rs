//! Chunk files nothing references are removed, and nothing referenced is:
//! deleted and overwritten objects, an aborted upload's parts and replicas
//! a policy change drops all give their bytes back, while a chunk another
//! object shares stays; writes that race the collector over the same
//! content all read back.

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;
use meridian_chaos_tests::chunks::files_under;
use meridian_chaos_tests::ctl::Ctl;
use meridian_chaos_tests::data::random_bytes;
use meridian_chaos_tests::s3;
use meridian_chaos_tests::wait::{poll_until, Check};
use meridian_chaos_tests::{DevCluster, DevOptions, Site};
use rand::Rng;

const CHUNK: usize = 64 << 10;
const GRACE_S: u64 = 2;
const POLICY: &str = "[default]\ncopies = 2\nsites = \"Beijing | Huairou\"\n";

/// The chunk hashes (hex) of `data` cut at the server's chunk size.
fn chunks_of(data: &[u8]) -> BTreeSet<String> {
    data.chunks(CHUNK)
        .map(|c| blake3::hash(c).to_hex().to_string())
        .collect()
}

/// The chunk hashes whose files are in a site's chunk directory.
fn on_disk(cluster: &DevCluster, site: Site) -> Result<BTreeSet<String>> {
    Ok(files_under(&cluster.chunk_dir(site))?
        .iter()
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().to_string()))
        .collect())
}

async fn wait_disk(cluster: &DevCluster, site: Site, want: &BTreeSet<String>) -> Result<()> {
    let what = format!("{} to hold exactly {} chunk files", site.name(), want.len());
    poll_until(
        &what,
        Duration::from_secs(60),
        Duration::from_millis(250),
        || async {
            let have = on_disk(cluster, site)?;
            Ok(if &have == want {
                Check::Done(())
            } else {
                Check::NotYet(format!(
                    "{} extra, {} missing",
                    have.difference(want).count(),
                    want.difference(&have).count()
                ))
            })
        },
    )
    .await
}

/// Moves the clock past twice the grace period and waits for two passes
/// of the collector at both sites: whatever it could remove, it has.
async fn past_grace(ctl: &Ctl) -> Result<()> {
    ctl.advance_clock(Duration::from_secs(2 * GRACE_S)).await?;
    for site in [Site::Beijing, Site::Huairou] {
        ctl.wait_gc_passes(site, 2, Duration::from_secs(30)).await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreferenced_chunks_are_reclaimed_and_shared_ones_kept() -> Result<()> {
    let mut opts = DevOptions::default()
        .with_chunk_size("64KiB")
        .with_policy(POLICY);
    opts.extra_args.extend(
        [
            "--gc-grace",
            "2s",
            "--gc-period",
            "1s",
            "--abandoned-uploads",
            "8s",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    let cluster = DevCluster::start_serving(opts).await?;
    let bj = cluster.s3(Site::Beijing);
    let ctl = cluster.ctl();
    s3::create_bucket(&bj, "gcb").await?;

    let a = random_bytes(1, 4 * CHUNK);
    let c = random_bytes(2, 3 * CHUNK);
    s3::put_bytes(&bj, "gcb", "a", a.clone()).await?;
    s3::put_bytes(&bj, "gcb", "b", a.clone()).await?; // shares every chunk of a
    s3::put_bytes(&bj, "gcb", "c", c.clone()).await?;
    for k in ["a", "b", "c"] {
        ctl.wait_replicated("gcb", k, 2, Duration::from_secs(60))
            .await?;
    }
    let mut want: BTreeSet<String> = chunks_of(&a).union(&chunks_of(&c)).cloned().collect();
    for site in [Site::Beijing, Site::Huairou] {
        ensure!(
            on_disk(&cluster, site)? == want,
            "{} after the puts",
            site.name()
        );
    }

    // b still lists a's chunks: deleting a removes nothing.
    bj.delete_object().bucket("gcb").key("a").send().await?;
    past_grace(&ctl).await?;
    for site in [Site::Beijing, Site::Huairou] {
        ensure!(
            on_disk(&cluster, site)? == want,
            "{}: shared chunks kept",
            site.name()
        );
    }

    // Overwriting b drops the last reference to a's chunks.
    let d = random_bytes(3, 2 * CHUNK);
    s3::put_bytes(&bj, "gcb", "b", d.clone()).await?;
    ctl.wait_replicated("gcb", "b", 2, Duration::from_secs(60))
        .await?;
    want = chunks_of(&c).union(&chunks_of(&d)).cloned().collect();
    for site in [Site::Beijing, Site::Huairou] {
        wait_disk(&cluster, site, &want).await?;
    }

    // An aborted upload's part.
    let up = bj
        .create_multipart_upload()
        .bucket("gcb")
        .key("mpu")
        .send()
        .await?;
    let id = up.upload_id().context("upload id")?.to_string();
    let part = random_bytes(4, 2 * CHUNK);
    bj.upload_part()
        .bucket("gcb")
        .key("mpu")
        .upload_id(&id)
        .part_number(1)
        .body(ByteStream::from(part.clone()))
        .send()
        .await?;
    let with_part: BTreeSet<String> = want.union(&chunks_of(&part)).cloned().collect();
    ensure!(
        on_disk(&cluster, Site::Beijing)? == with_part,
        "the part is stored"
    );
    bj.abort_multipart_upload()
        .bucket("gcb")
        .key("mpu")
        .upload_id(&id)
        .send()
        .await?;
    wait_disk(&cluster, Site::Beijing, &want).await?;

    // An upload refused at its end (Content-MD5 of other content) stored
    // its full chunks on the way: they are released and go too.
    let bad = random_bytes(6, 3 * CHUNK);
    let refused = bj
        .put_object()
        .bucket("gcb")
        .key("bad")
        .content_md5("1B2M2Y8AsgTpgAmY7PhCfg==")
        .body(ByteStream::from(bad.clone()))
        .send()
        .await;
    ensure!(refused.is_err(), "a wrong Content-MD5 was accepted");
    let stored = on_disk(&cluster, Site::Beijing)?;
    ensure!(
        chunks_of(&bad).iter().any(|h| stored.contains(h)),
        "the refused upload's chunks were written before its end"
    );
    wait_disk(&cluster, Site::Beijing, &want).await?;

    // Writes of content the collector is about to remove: each read back.
    let mut rng = rand::rng();
    let mut written = Vec::new();
    for i in 0..6u64 {
        let x = random_bytes(100 + i, 2 * CHUNK);
        s3::put_bytes(&bj, "gcb", "tmp", x.clone()).await?;
        bj.delete_object().bucket("gcb").key("tmp").send().await?;
        // Around the moment the files come of age for the collector: the
        // clock jumps to either side of it, and the collector may or may
        // not run a pass before the write.
        let ms = rng.random_range(1_000..3_000);
        ctl.advance_clock(Duration::from_millis(ms)).await?;
        let ms = rng.random_range(0..1_000);
        tokio::time::sleep(Duration::from_millis(ms)).await;
        let key = format!("again-{i}");
        s3::put_bytes(&bj, "gcb", &key, x.clone()).await?;
        written.push((key, x));
    }
    past_grace(&ctl).await?;
    for (key, x) in &written {
        let got: Bytes = s3::get_bytes(&bj, "gcb", key).await?;
        ensure!(got == *x, "{key} reads back");
        want.extend(chunks_of(x));
    }
    ensure!(
        on_disk(&cluster, Site::Beijing)? == want,
        "every chunk of the rewritten objects is at Beijing"
    );

    // An upload left unfinished is aborted after --abandoned-uploads, and
    // its part's chunks reclaimed.
    let up = bj
        .create_multipart_upload()
        .bucket("gcb")
        .key("left")
        .send()
        .await?;
    let left_id = up.upload_id().context("upload id")?.to_string();
    let left = random_bytes(8, 2 * CHUNK);
    bj.upload_part()
        .bucket("gcb")
        .key("left")
        .upload_id(&left_id)
        .part_number(1)
        .body(ByteStream::from(left.clone()))
        .send()
        .await?;
    ensure!(
        chunks_of(&left).is_subset(&on_disk(&cluster, Site::Beijing)?),
        "the part is stored"
    );
    let listed = bj.list_multipart_uploads().bucket("gcb").send().await?;
    let ids: Vec<&str> = listed
        .uploads()
        .iter()
        .filter_map(|u| u.upload_id())
        .collect();
    ensure!(ids == [left_id.as_str()], "uploads in progress: {ids:?}");
    poll_until(
        "the abandoned upload to be aborted",
        Duration::from_secs(60),
        Duration::from_millis(500),
        || async {
            let r = bj
                .list_parts()
                .bucket("gcb")
                .key("left")
                .upload_id(&left_id)
                .send()
                .await;
            Ok(match r.as_ref().err().and_then(s3::error_code).as_deref() {
                Some("NoSuchUpload") => Check::Done(()),
                _ => Check::NotYet("still in progress".into()),
            })
        },
    )
    .await?;
    wait_disk(&cluster, Site::Beijing, &want).await?;

    // A policy that keeps one copy, at Beijing: Huairou empties.
    let file = cluster.data_dir().join("one-copy.toml");
    std::fs::write(&file, "[default]\ncopies = 1\nsites = \"Beijing\"\n")?;
    let file = file.display().to_string();
    ctl.json(&["policy", "apply", &file]).await?;
    wait_disk(&cluster, Site::Huairou, &BTreeSet::new()).await?;
    ensure!(s3::get_bytes(&bj, "gcb", "c").await? == c);
    ensure!(s3::get_bytes(&bj, "gcb", "b").await? == d);

    let status = ctl.json(&["status"]).await?;
    let site = |name: &str| {
        status["sites"]
            .as_array()
            .and_then(|v| v.iter().find(|s| s["name"] == name).cloned())
            .unwrap_or_default()
    };
    let hr = site("Huairou");
    ensure!(
        hr["reclaimed_bytes"].as_u64().unwrap_or(0) >= (4 * CHUNK) as u64,
        "status reports what was reclaimed: {hr}"
    );
    ensure!(hr["reclaimable_chunks"].as_u64() == Some(0), "{hr}");
    ensure!(
        status["abandoned_uploads_aborted"].as_u64() == Some(1),
        "status counts the abandoned upload: {status}"
    );
    Ok(())
}
