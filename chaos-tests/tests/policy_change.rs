//! A policy change: the dry run says what will move and changes nothing;
//! apply then does exactly that, copying before dropping, and no object
//! ever has fewer complete replicas than the rule asks while it moves;
//! then a site drain moves everything off a site the same way.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use meridian_chaos_tests::ctl::{ObjectStat, ReplicaState};
use meridian_chaos_tests::data::random_bytes;
use meridian_chaos_tests::s3;
use meridian_chaos_tests::{DevCluster, DevOptions, Site};
use serde_json::Value;

const OBJECTS: usize = 12;
const NEW_POLICY: &str = "[default]\ncopies = 2\nsites = \"Dongguan | Daocheng\"\n";

async fn stats(ctl: &meridian_chaos_tests::ctl::Ctl) -> Result<Vec<ObjectStat>> {
    let mut v = Vec::new();
    for i in 0..OBJECTS {
        v.push(ctl.object_stat("juno", &format!("raw/f{i:02}")).await?);
    }
    Ok(v)
}

fn sites_of(s: &ObjectStat) -> BTreeSet<String> {
    s.replicas.iter().map(|r| r.site.clone()).collect()
}

fn counts(report: &Value) -> BTreeMap<String, (u64, u64)> {
    report["sites"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|s| {
            (
                s["site"].as_str().unwrap_or("").to_string(),
                (
                    s["copies_in"].as_u64().unwrap_or(0),
                    s["dropped"].as_u64().unwrap_or(0),
                ),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_matches_apply_and_copies_never_drop_below_the_rule() -> Result<()> {
    let opts = DevOptions::default()
        .with_link_scale(0.002)
        .with_chunk_size("256KiB");
    let cluster = DevCluster::start_serving(opts).await?;
    let jiangmen = cluster.s3(Site::Jiangmen);
    s3::create_bucket(&jiangmen, "juno").await?;
    for i in 0..OBJECTS {
        s3::put_bytes(
            &jiangmen,
            "juno",
            &format!("raw/f{i:02}"),
            random_bytes(i as u64, 1 << 20),
        )
        .await?;
    }
    let ctl = cluster.ctl();
    for i in 0..OBJECTS {
        ctl.wait_replicated("juno", &format!("raw/f{i:02}"), 3, Duration::from_secs(120))
            .await?;
    }
    let before = stats(&ctl).await?;

    let dir = tempfile::tempdir()?;
    let file = dir.path().join("policy.toml");
    std::fs::write(&file, NEW_POLICY)?;
    let file = file.display().to_string();
    let dry = ctl.json(&["policy", "apply", &file, "--dry-run"]).await?;
    ensure!(dry["applied"] == false, "{dry}");
    ensure!(dry["objects_scanned"] == OBJECTS as u64, "{dry}");
    ensure!(dry["objects_to_copy"] == OBJECTS as u64, "{dry}");
    // A dry run changes nothing (and starts no copy a moment later).
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after_dry = stats(&ctl).await?;
    for (a, b) in before.iter().zip(&after_dry) {
        ensure!(
            sites_of(a) == sites_of(b),
            "dry run changed {}",
            b.replica_summary()
        );
    }
    let shown = ctl.json(&["policy", "show"]).await?;
    ensure!(shown["rules"][0]["copies"] == 3, "{shown}");

    let applied = ctl.json(&["policy", "apply", &file]).await?;
    ensure!(applied["applied"] == true, "{applied}");
    for field in [
        "objects_to_copy",
        "bytes_to_copy",
        "objects_to_drop",
        "bytes_to_drop",
        "sites",
        "links",
    ] {
        ensure!(
            dry[field] == applied[field],
            "{field}: dry run {dry} but apply {applied}"
        );
    }

    // Watch the move: every object keeps at least two complete replicas
    // (the new rule's count, below the old one's three) at every moment.
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut observations = 0;
    let done = loop {
        let now = stats(&ctl).await?;
        observations += 1;
        for s in &now {
            let complete = s.complete_sites().len();
            ensure!(
                complete >= 2,
                "below the rule's count: {}",
                s.replica_summary()
            );
        }
        let settled = now.iter().all(|s| {
            let sites = sites_of(s);
            sites == BTreeSet::from(["Jiangmen".to_string(), "Dongguan".to_string()])
                && s.replicas.iter().all(|r| r.state == ReplicaState::Complete)
        });
        if settled {
            break now;
        }
        if Instant::now() > deadline {
            bail!(
                "the move did not finish: {:?}",
                now.iter().map(|s| s.replica_summary()).collect::<Vec<_>>()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    ensure!(observations > 1, "the move was never observed in progress");

    // What happened is what the dry run said.
    let mut happened: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for (b, a) in before.iter().zip(&done) {
        let (sb, sa) = (sites_of(b), sites_of(a));
        for s in sa.difference(&sb) {
            happened.entry(s.clone()).or_default().0 += 1;
        }
        for s in sb.difference(&sa) {
            happened.entry(s.clone()).or_default().1 += 1;
        }
    }
    ensure!(
        happened == counts(&dry),
        "dry run said {:?}, the move did {happened:?}",
        counts(&dry)
    );
    // Draining Dongguan moves every copy to Daocheng, the rule's other
    // site, again copy first.
    let drain = ctl.json(&["site", "drain", "Dongguan"]).await?;
    ensure!(drain["objects_to_copy"] == OBJECTS as u64, "{drain}");
    ensure!(drain["drained"][0] == "Dongguan", "{drain}");
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let now = stats(&ctl).await?;
        for s in &now {
            ensure!(
                s.complete_sites().len() >= 2,
                "below the rule's count: {}",
                s.replica_summary()
            );
        }
        let want = BTreeSet::from(["Jiangmen".to_string(), "Daocheng".to_string()]);
        if now
            .iter()
            .all(|s| sites_of(s) == want && s.complete_sites().len() == 2)
        {
            break;
        }
        if Instant::now() > deadline {
            bail!(
                "the drain did not finish: {:?}",
                now.iter().map(|s| s.replica_summary()).collect::<Vec<_>>()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let shown = ctl.json(&["policy", "show"]).await?;
    ensure!(shown["drained"][0] == "Dongguan", "{shown}");

    // The data is whole at its new site.
    let daocheng = cluster.s3(Site::Daocheng);
    for i in [0usize, OBJECTS - 1] {
        let got = s3::get_bytes(&daocheng, "juno", &format!("raw/f{i:02}"))
            .await
            .context("reading a moved object")?;
        ensure!(got == random_bytes(i as u64, 1 << 20), "object {i} differs");
    }
    Ok(())
}
