//! The scrubber, repair and the audit against real `meridian dev` processes:
//! faults injected into chunk files on disk (a flipped bit, a truncated
//! file, a deleted file) are found by the scrub, the replicas are repaired
//! from healthy ones through the links, and no wrong byte is ever served;
//! an audit finds lost data (repaired) and dark data (reclaimed after the
//! grace period); a scrub resumes where it was after a restart.

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use bytes::Bytes;
use meridian_chaos_tests::chunks::{find_chunk_files, flip_byte};
use meridian_chaos_tests::data::{blake3_hex, chunk_hashes, random_bytes, seed_of};
use meridian_chaos_tests::s3;
use meridian_chaos_tests::wait::{poll_until, Check};
use meridian_chaos_tests::{DevCluster, DevOptions, Site};
use serde_json::Value;

const BUCKET: &str = "scrubbed";
const CHUNK: usize = 256 * 1024;
const TIMEOUT: Duration = Duration::from_secs(180);

async fn start(extra: &[&str]) -> Result<DevCluster> {
    let mut opts = DevOptions::default()
        .with_link_scale(1.0)
        .with_chunk_size("256KiB");
    opts.extra_args.extend(extra.iter().map(|s| s.to_string()));
    DevCluster::start_serving(opts).await
}

async fn put_replicated(cluster: &DevCluster, site: Site, key: &str, size: usize) -> Result<Bytes> {
    let data = random_bytes(seed_of(key), size);
    s3::put_bytes(&cluster.s3(site), BUCKET, key, data.clone()).await?;
    cluster
        .ctl()
        .wait_replicated(BUCKET, key, 3, TIMEOUT)
        .await?;
    Ok(data)
}

/// The file of chunk `index` of `data` at `site`.
fn chunk_file(
    cluster: &DevCluster,
    site: Site,
    data: &[u8],
    index: usize,
) -> Result<std::path::PathBuf> {
    let hash = &chunk_hashes(data, CHUNK)[index];
    let files = find_chunk_files(&cluster.chunk_dir(site), hash)?;
    match files.as_slice() {
        [one] => Ok(one.clone()),
        other => bail!("{} files for chunk {hash} at {site}", other.len()),
    }
}

/// Whether `path` holds bytes hashing to its own name.
fn intact(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    std::fs::read(path).is_ok_and(|b| blake3_hex(&b) == name)
}

async fn get(cluster: &DevCluster, site: Site, key: &str) -> Result<Bytes> {
    let out = cluster
        .s3(site)
        .get_object()
        .bucket(BUCKET)
        .key(key)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!(s3::describe_error(&e)))?;
    Ok(out.body.collect().await?.into_bytes())
}

fn site_status(v: &Value, site: Site) -> Result<&Value> {
    v["sites"]
        .as_array()
        .and_then(|a| a.iter().find(|s| s["site"] == site.name()))
        .with_context(|| format!("no {site} in {v}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrub_finds_every_fault_and_repair_restores_the_replicas() -> Result<()> {
    let cluster = start(&["--scrub-rate", "64MiB", "--scrub-rest", "1s"]).await?;
    s3::create_bucket(&cluster.s3(Site::Beijing), BUCKET).await?;
    let size = 3 * CHUNK + 1000;
    let mut objects = Vec::new();
    for (i, site) in [Site::Beijing, Site::Dongguan, Site::Jiangmen]
        .into_iter()
        .enumerate()
    {
        let key = format!("obj-{i}");
        let data = put_replicated(&cluster, site, &key, size).await?;
        objects.push((key, data));
    }
    let ctl = cluster.ctl();
    // One fault of each kind, each at a site holding a complete replica.
    let mut faults = Vec::new();
    for (i, (key, data)) in objects.iter().enumerate() {
        let stat = ctl.object_stat(BUCKET, key).await?;
        let site = stat.complete_sites()[i % 3];
        let file = chunk_file(&cluster, site, data, i)?;
        match i {
            0 => {
                flip_byte(&file)?;
            }
            1 => std::fs::write(&file, &data[..100]).context("truncating")?,
            _ => std::fs::remove_file(&file).context("deleting")?,
        }
        faults.push((key.clone(), site, file));
    }

    // Found (corrupt 2, missing 1 in total across sites), repaired: each
    // replica complete again with its chunk file intact.
    poll_until(
        "every fault found and repaired",
        TIMEOUT,
        Duration::from_millis(500),
        || async {
            let v = ctl.json(&["scrub", "status"]).await?;
            let (mut corrupt, mut missing, mut damaged) = (0, 0, 0);
            for s in v["sites"].as_array().context("sites")? {
                corrupt += s["corrupt_total"].as_u64().unwrap_or(0);
                missing += s["missing_total"].as_u64().unwrap_or(0);
                damaged += s["damaged_replicas"].as_u64().unwrap_or(0);
            }
            let mut repaired = 0;
            for (key, site, file) in &faults {
                let stat = ctl.object_stat(BUCKET, key).await?;
                if stat.complete_sites().contains(site) && stat.fully_replicated(3) && intact(file)
                {
                    repaired += 1;
                }
            }
            if corrupt >= 2 && missing >= 1 && damaged == 0 && repaired == faults.len() {
                Ok(Check::Done(()))
            } else {
                Ok(Check::NotYet(format!(
                "corrupt {corrupt}, missing {missing}, damaged now {damaged}, repaired {repaired}"
            )))
            }
        },
    )
    .await?;

    // Every object reads back right at every site.
    for (key, data) in &objects {
        for site in Site::ALL {
            let got = get(&cluster, site, key).await?;
            ensure!(got == *data, "{key} at {site}: wrong bytes");
        }
    }
    let v = ctl.json(&["scrub", "status"]).await?;
    let bj = site_status(&v, Site::Beijing)?;
    ensure!(bj["pass"].as_u64() >= Some(2), "passes go on: {bj}");
    ensure!(v["repair"]["lost"].as_u64() == Some(0), "nothing lost: {v}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_audit_finds_lost_and_dark_data_and_both_are_dealt_with() -> Result<()> {
    let cluster = start(&["--scrub-rate", "0", "--gc-grace", "3s", "--gc-period", "1s"]).await?;
    s3::create_bucket(&cluster.s3(Site::Beijing), BUCKET).await?;
    let data = put_replicated(&cluster, Site::Huairou, "lost-one", 2 * CHUNK).await?;
    let ctl = cluster.ctl();
    let holder = ctl.object_stat(BUCKET, "lost-one").await?.complete_sites()[0];
    let lost = chunk_file(&cluster, holder, &data, 1)?;
    std::fs::remove_file(&lost)?;

    // Dark data: a well-formed chunk file nothing references, at Daocheng.
    let dark = random_bytes(7, 5000);
    let dark_hash = blake3_hex(&dark);
    let dark_dir = cluster.chunk_dir(Site::Daocheng).join(&dark_hash[..2]);
    std::fs::create_dir_all(&dark_dir)?;
    let dark_file = dark_dir.join(&dark_hash);
    std::fs::write(&dark_file, &dark)?;
    // And a stray file, which is reported, never touched.
    let stray = dark_dir.join("notes.txt");
    std::fs::write(&stray, b"left by someone")?;

    let v = ctl.json(&["audit", "run", "--timeout", "120"]).await?;
    let reports = v["reports"].as_array().context("reports")?;
    ensure!(reports.len() == 5, "a report per site: {v}");
    let of = |site: Site| -> Result<&Value> {
        reports
            .iter()
            .find(|r| r["site"] == site.name())
            .map(|r| &r["report"])
            .with_context(|| format!("no report of {site}"))
    };
    let h = of(holder)?;
    ensure!(
        h["lost_chunks"] == 1 && h["lost_replicas"] == 1,
        "lost chunk found at {holder}: {h}"
    );
    ensure!(h["error"] == "", "{h}");
    let d = of(Site::Daocheng)?;
    ensure!(
        d["dark_chunks"] == 1 && d["dark_queued"] == 1,
        "dark chunk found: {d}"
    );
    ensure!(d["dark_bytes"] == 5000, "{d}");
    ensure!(
        d["foreign_files"].as_u64() >= Some(1),
        "the stray file is named: {d}"
    );
    for site in Site::ALL {
        ensure!(
            of(site)?["legacy_refs"] == 0,
            "no uncounted references at {site}"
        );
    }

    // The lost replica is repaired; the dark chunk reclaimed; the stray stays.
    poll_until(
        "lost replica repaired, dark chunk reclaimed",
        TIMEOUT,
        Duration::from_millis(500),
        || async {
            let stat = ctl.object_stat(BUCKET, "lost-one").await?;
            let repaired = stat.complete_sites().contains(&holder)
                && stat.fully_replicated(3)
                && intact(&lost);
            let reclaimed = !dark_file.exists();
            if repaired && reclaimed {
                Ok(Check::Done(()))
            } else {
                Ok(Check::NotYet(format!(
                    "repaired {repaired}, dark reclaimed {reclaimed}: {}",
                    stat.replica_summary()
                )))
            }
        },
    )
    .await?;
    ensure!(
        stray.exists(),
        "a file that is not a chunk is never removed"
    );
    ensure!(
        get(&cluster, holder, "lost-one").await? == data,
        "reads back right"
    );

    // The status carries the last report's summary; a bucket's audit is its own.
    let status = ctl.json(&["status"]).await?;
    let row = status["sites"]
        .as_array()
        .and_then(|a| a.iter().find(|s| s["name"] == Site::Daocheng.name()))
        .context("Daocheng in status")?;
    ensure!(row["last_audit"]["dark_chunks"] == 1, "{row}");
    let v = ctl
        .json(&["audit", "run", "--site", "Beijing", "--bucket", BUCKET])
        .await?;
    let r = &v["reports"][0]["report"];
    ensure!(
        r["bucket"] == BUCKET && r["replicas_checked"] == 1 && r["lost_chunks"] == 0,
        "{v}"
    );
    let all = ctl
        .json(&["audit", "report", "--site", "Beijing", "--every-bucket"])
        .await?;
    ensure!(
        all["reports"].as_array().map(Vec::len) == Some(2),
        "site and bucket reports: {all}"
    );
    let refused = ctl
        .refused(&["audit", "run", "--bucket", "no-such-bucket"])
        .await?;
    ensure!(refused.contains("no bucket named"), "{refused}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scrub_resumes_where_it_was_after_a_restart() -> Result<()> {
    let mut cluster = start(&["--scrub-rate", "1MiB", "--scrub-rest", "1s"]).await?;
    s3::create_bucket(&cluster.s3(Site::Beijing), BUCKET).await?;
    const OBJECTS: u64 = 12;
    for i in 0..OBJECTS {
        put_replicated(&cluster, Site::Beijing, &format!("r-{i:02}"), CHUNK).await?;
    }
    // Beijing holds every object (3 MiB at 1 MiB/s): caught in a pass that
    // began after they were all there.
    let ctl = cluster.ctl();
    let before = poll_until(
        "a full pass under way at Beijing",
        TIMEOUT,
        Duration::from_millis(200),
        || async {
            let v = ctl.json(&["scrub", "status"]).await?;
            let s = site_status(&v, Site::Beijing)?.clone();
            let done = s["bytes_done"].as_u64().unwrap_or(0);
            let total = s["bytes_total"].as_u64().unwrap_or(0);
            if total >= OBJECTS * CHUNK as u64 && done >= CHUNK as u64 && done < total {
                Ok(Check::Done(s))
            } else {
                Ok(Check::NotYet(s.to_string()))
            }
        },
    )
    .await?;
    let pass = before["pass"].as_u64().context("pass")?;
    let done_before = before["bytes_done"].as_u64().unwrap_or(0);
    let total = before["bytes_total"].as_u64().unwrap_or(0);
    cluster.restart_serving().await?;
    let ctl = cluster.ctl();
    let started_over = std::sync::Mutex::new(None::<String>);
    let after = poll_until(
        "the pass finished",
        TIMEOUT,
        Duration::from_millis(200),
        || async {
            let v = ctl.json(&["scrub", "status"]).await?;
            let s = site_status(&v, Site::Beijing)?.clone();
            let now = s["pass"].as_u64().unwrap_or(0);
            let finished = s["last_pass_finished_ms"].as_i64() >= s["pass_started_ms"].as_i64()
                && s["percent"].as_f64() == Some(100.0);
            if now > pass || now == pass && finished {
                return Ok(Check::Done(s));
            }
            // Never behind what was saved before the restart.
            let done = s["bytes_done"].as_u64().unwrap_or(0);
            if now < pass || done < done_before {
                *started_over.lock().unwrap_or_else(|p| p.into_inner()) = Some(s.to_string());
            }
            Ok(Check::NotYet(s.to_string()))
        },
    )
    .await?;
    if let Some(s) = started_over.into_inner().unwrap_or_else(|p| p.into_inner()) {
        bail!("the scrub went back after the restart: {s} (had {done_before} of pass {pass})");
    }
    ensure!(
        after["last_pass_bytes"].as_u64() >= Some(total),
        "the resumed pass read every byte: {after} (total {total})"
    );
    ensure!(
        after["corrupt_total"] == 0 && after["missing_total"] == 0,
        "{after}"
    );
    Ok(())
}
