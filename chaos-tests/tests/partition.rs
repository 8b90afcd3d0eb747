//! The chaos matrix's partition scenario, on real `meridian node` processes
//! in network namespaces joined by shaped links (`netns.rs`): a workload of
//! S3 and gRPC PUT, GET, DELETE and LIST at four sites runs while Jiangmen
//! (a learner) or Beijing (the hub, and the metadata leader) is cut off and
//! joined again. Checked: the cut-off side acknowledges no
//! write and serves no read it cannot vouch for, the majority goes on, the
//! whole history is linearizable key by key (a GET returning bytes nobody
//! wrote under that key cannot be), and after the heal every surviving
//! object reaches its placement. The history is kept as JSON lines.
//!
//! Without root and network namespaces the test says it skipped.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use meridian_chaos_tests::linearizable::{self, Limits, Op, Outcome};
use meridian_chaos_tests::nodes::{NodeCluster, NodeOptions};
use meridian_chaos_tests::s3::{self, S3Options};
use meridian_chaos_tests::wait::{poll_until, Check};
use meridian_chaos_tests::workload::{self, History, Shape, Target};
use meridian_chaos_tests::Site;

const BUCKET: &str = "chaos";
const SEED: u64 = 16;

fn history_path(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join("meridian-chaos-history");
    let _ = std::fs::create_dir_all(&dir);
    dir.join(format!("{name}-seed{SEED}.jsonl"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jiangmen_cut_off_refuses_and_the_rest_stays_linearizable() -> Result<()> {
    cut_and_heal(Site::Jiangmen).await
}

/// The hub and metadata leader: the other two voters elect a leader of
/// their own and go on; Beijing refuses until it is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hub_cut_off_refuses_and_the_rest_stays_linearizable() -> Result<()> {
    cut_and_heal(Site::Beijing).await
}

async fn cut_and_heal(cut: Site) -> Result<()> {
    if let Err(why) = meridian_chaos_tests::netns::Fabric::check() {
        eprintln!("SKIPPED: network namespaces are not available here: {why:#}");
        return Ok(());
    }
    let mut cluster = tokio::task::block_in_place(|| {
        NodeCluster::start_with(&NodeOptions {
            namespaces: true,
            ..NodeOptions::default()
        })
    })?;
    let opts = S3Options::default();
    s3::create_bucket(&cluster.s3(Site::Beijing, &opts), BUCKET).await?;

    let sites = [Site::Beijing, Site::Huairou, Site::Dongguan, Site::Jiangmen];
    let targets: Vec<Target> = sites
        .iter()
        .map(|&site| Target {
            site,
            s3: cluster.s3(site, &opts),
            grpc: cluster.grpc_endpoint(site),
        })
        .collect();
    let shape = Shape {
        bucket: BUCKET.into(),
        keys: 6,
        max_value: 64 * 1024,
        seed: SEED,
        op_timeout: Duration::from_secs(5),
    };
    let history = History::new();
    let stop = Arc::new(AtomicBool::new(false));
    let load = tokio::spawn(workload::run(targets, shape, history.clone(), stop.clone()));

    tokio::time::sleep(Duration::from_secs(4)).await;
    let cut_at = history.now();
    cluster
        .fabric()
        .context("the cluster runs in namespaces")?
        .partition(cut)?;
    tokio::time::sleep(Duration::from_secs(10)).await;
    let heal_at = history.now();
    cluster
        .fabric()
        .context("the cluster runs in namespaces")?
        .heal(cut)?;
    tokio::time::sleep(Duration::from_secs(6)).await;
    stop.store(true, Ordering::Relaxed);
    load.await.context("the workload")??;

    let path = history_path(&format!("partition-{}", cut.name().to_lowercase()));
    history.save(&path)?;
    eprintln!("history: {}", path.display());
    let ops = history.recorded();
    // Well inside the cut: an operation begun a second after it and ended
    // before the heal.
    let inside =
        |r: &&workload::Recorded| r.event.start > cut_at + 1_000_000_000 && r.event.end < heal_at;
    let cut_off: Vec<_> = ops
        .iter()
        .filter(|r| r.site == cut)
        .filter(inside)
        .collect();
    let acked_there = cut_off
        .iter()
        .filter(|r| r.event.outcome == Outcome::Ok)
        .count();
    let refusals: Vec<&str> = cut_off
        .iter()
        .map(|r| r.error.as_str())
        .filter(|e| !e.is_empty())
        .collect();
    eprintln!(
        "{cut} while cut off: {} operations, {} acknowledged; errors seen: {:?}",
        cut_off.len(),
        acked_there,
        refusals.iter().take(5).collect::<Vec<_>>()
    );
    ensure!(
        !cut_off.is_empty(),
        "the workload reached {cut} while it was cut off"
    );
    ensure!(
        acked_there == 0,
        "the cut-off site acknowledged {acked_there} operations"
    );
    let majority_acks = ops
        .iter()
        .filter(|r| r.site != cut)
        .filter(inside)
        .filter(|r| r.event.outcome == Outcome::Ok && matches!(r.event.op, Op::Put(_)))
        .count();
    ensure!(
        majority_acks > 0,
        "the majority acknowledged no write while {cut} was cut off"
    );

    // Final reads at every site, then the verdict over everything.
    let final_t = history.now();
    for k in 0..6 {
        let key = format!("k{k:02}");
        let value = match cluster
            .s3(Site::Huairou, &opts)
            .get_object()
            .bucket(BUCKET)
            .key(&key)
            .send()
            .await
        {
            Ok(out) => Some(
                blake3::hash(&out.body.collect().await?.into_bytes())
                    .to_hex()
                    .to_string(),
            ),
            Err(e) => {
                let t = s3::describe_error(&e);
                ensure!(t.contains("NoSuchKey"), "final read of {key}: {t}");
                None
            }
        };
        let mut events = history.events();
        events.retain(|e| e.key == key);
        events.push(linearizable::Event {
            key: key.clone(),
            op: Op::Get(value.clone()),
            start: final_t,
            end: history.now(),
            outcome: Outcome::Ok,
        });
        let report = linearizable::check(&events, &None, Limits::default());
        ensure!(
            report.linearizable(),
            "{key} is not linearizable: {:?} (history {})",
            report.problems(),
            path.display()
        );
        // Every object left reaches its placement after the heal.
        if value.is_some() {
            let ctl = cluster.ctl(Site::Huairou);
            poll_until(
                &format!("{key} fully placed"),
                Duration::from_secs(120),
                Duration::from_millis(500),
                || async {
                    let stat = ctl.object_stat(BUCKET, &key).await?;
                    Ok(if stat.fully_replicated(3) {
                        Check::Done(())
                    } else {
                        Check::NotYet(stat.replica_summary())
                    })
                },
            )
            .await?;
        }
    }
    eprintln!(
        "{} operations, {} acknowledged; linearizable on every key",
        ops.len(),
        ops.iter()
            .filter(|r| r.event.outcome == Outcome::Ok)
            .count()
    );
    Ok(())
}
