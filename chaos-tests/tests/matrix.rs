//! The chaos matrix, on real `meridian node` processes in network
//! namespaces joined by shaped links (`netns.rs`): for each fault, a seeded
//! workload of S3 and gRPC PUT, GET, DELETE and LIST at four sites runs
//! while the fault is injected and then undone. Checked after each: the
//! faulty side acknowledges nothing it cannot stand behind (a cut-off or
//! full site refuses with a clear error), the others go on, every key's
//! history is linearizable (a GET of bytes nobody wrote under that key
//! cannot be, so nothing half-written is ever seen; a delete acknowledged
//! stays deleted), and every object left reaches its placement. A cut-off
//! site serves the stale reads asked for and no others. Each
//! history is kept as JSON lines under the temp dir.
//!
//! `MERIDIAN_CHAOS_SEEDS=1,2,3` runs each scenario once per seed (CI: one
//! seed). Without root and network namespaces each test says it skipped.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use meridian_chaos_tests::linearizable::{self, Limits, Op, Outcome};
use meridian_chaos_tests::nodes::{node_id, NodeCluster, NodeOptions};
use meridian_chaos_tests::s3::{self, S3Options};
use meridian_chaos_tests::wait::{poll_until, Check};
use meridian_chaos_tests::workload::{self, History, Recorded, Shape, Target};
use meridian_chaos_tests::Site;

const BUCKET: &str = "chaos";
const KEYS: usize = 6;
/// The small file system a full-disk scenario gives a site's chunks.
const SMALL_DISK: u64 = 48 << 20;

#[derive(Debug, Clone, Copy)]
enum Fault {
    /// Cut off from every other site (not from the test).
    Partition(Site),
    /// Uplink at a tenth of its rate.
    Slow(Site),
    /// SIGSTOP, then SIGCONT.
    Pause(Who),
    /// SIGKILL, then a restart on its data.
    Kill(Who),
    /// Its chunk store's file system filled, then emptied.
    FullDisk(Site),
}

/// A site, or whichever leads the metadata group when the fault comes.
#[derive(Debug, Clone, Copy)]
enum Who {
    Leader,
    Site(Site),
}

fn seeds() -> Vec<u64> {
    std::env::var("MERIDIAN_CHAOS_SEEDS")
        .ok()
        .map(|v| v.split(',').filter_map(|s| s.trim().parse().ok()).collect())
        .filter(|v: &Vec<u64>| !v.is_empty())
        .unwrap_or_else(|| vec![16])
}

async fn leader(cluster: &NodeCluster) -> Result<Site> {
    let v = cluster
        .ctl(Site::Huairou)
        .json(&["meta", "members"])
        .await?;
    let id = v["members"]
        .as_array()
        .and_then(|m| m.iter().find(|x| x["leader"] == true))
        .and_then(|x| x["id"].as_u64())
        .with_context(|| format!("no leader in {v}"))?;
    Site::ALL
        .into_iter()
        .find(|s| node_id(*s) == id)
        .with_context(|| format!("no site for node {id}"))
}

async fn resolve(cluster: &NodeCluster, who: Who) -> Result<Site> {
    match who {
        Who::Leader => leader(cluster).await,
        Who::Site(s) => Ok(s),
    }
}

/// Fills the file system under `dir` until it has no room left.
fn fill(dir: &std::path::Path) -> Result<std::path::PathBuf> {
    use std::io::Write;
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path)?;
    let block = vec![0u8; 1 << 20];
    for _ in 0..(SMALL_DISK >> 20) + 8 {
        if f.write_all(&block).is_err() {
            break;
        }
    }
    let _ = f.sync_all();
    Ok(path)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jiangmen_cut_off() -> Result<()> {
    matrix(Fault::Partition(Site::Jiangmen)).await
}

/// The hub (and, as the cluster starts, the metadata leader): the other two
/// voters elect a leader of their own and go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hub_cut_off() -> Result<()> {
    matrix(Fault::Partition(Site::Beijing)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dongguan_link_at_a_tenth() -> Result<()> {
    matrix(Fault::Slow(Site::Dongguan)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_leader_paused() -> Result<()> {
    matrix(Fault::Pause(Who::Leader)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_leader_killed_and_restarted() -> Result<()> {
    matrix(Fault::Kill(Who::Leader)).await
}

/// A learner, a gateway taking uploads and a data node receiving copies
/// over the slowest link, all at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jiangmen_killed_and_restarted() -> Result<()> {
    matrix(Fault::Kill(Who::Site(Site::Jiangmen))).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dongguan_disk_full() -> Result<()> {
    matrix(Fault::FullDisk(Site::Dongguan)).await
}

async fn matrix(fault: Fault) -> Result<()> {
    if let Err(why) = meridian_chaos_tests::netns::Fabric::check() {
        eprintln!("SKIPPED: network namespaces are not available here: {why:#}");
        return Ok(());
    }
    for seed in seeds() {
        scenario(fault, seed)
            .await
            .with_context(|| format!("{fault:?}, seed {seed}"))?;
    }
    Ok(())
}

async fn scenario(fault: Fault, seed: u64) -> Result<()> {
    let small_disk = match fault {
        Fault::FullDisk(site) => Some((site, SMALL_DISK)),
        _ => None,
    };
    let mut cluster = tokio::task::block_in_place(|| {
        NodeCluster::start_with(&NodeOptions {
            namespaces: true,
            small_disk,
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
        keys: KEYS,
        max_value: 64 * 1024,
        seed,
        op_timeout: Duration::from_secs(5),
    };
    let history = History::new();
    let stop = Arc::new(AtomicBool::new(false));
    let load = tokio::spawn(workload::run(targets, shape, history.clone(), stop.clone()));
    tokio::time::sleep(Duration::from_secs(4)).await;

    // Inject.
    let (victim, filler) = inject(&mut cluster, fault).await?;
    let fault_at = history.now();
    tokio::time::sleep(Duration::from_secs(6)).await;
    if let Fault::Partition(site) = fault {
        stale_reads_only_as_asked(&cluster, site).await?;
    }
    let left =
        Duration::from_secs(10).saturating_sub(Duration::from_nanos(history.now() - fault_at));
    tokio::time::sleep(left).await;
    let heal_at = history.now();
    undo(&mut cluster, fault, victim, filler).await?;
    // Until the victim acknowledges again (how long that takes is the
    // scenario's recovery time), then a little more.
    let recovered = poll_until(
        &format!("{victim} acknowledging again"),
        Duration::from_secs(90),
        Duration::from_millis(200),
        || async {
            let back = history.recorded().iter().any(|r| {
                r.site == victim && r.event.start > heal_at && r.event.outcome == Outcome::Ok
            });
            Ok(if back {
                Check::Done(history.now())
            } else {
                Check::NotYet("nothing acknowledged yet".into())
            })
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, Ordering::Relaxed);
    load.await.context("the workload")??;

    let name = format!("{fault:?}")
        .to_lowercase()
        .replace(['(', ')', ' ', ':'], "-");
    let dir = std::env::temp_dir().join("meridian-chaos-history");
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join(format!("{name}seed{seed}.jsonl"));
    history.save(&path)?;
    let ops = history.recorded();
    let inside = |r: &&Recorded| r.event.start > fault_at + 1_000_000_000 && r.event.end < heal_at;
    let at_victim: Vec<&Recorded> = ops
        .iter()
        .filter(|r| r.site == victim)
        .filter(inside)
        .collect();
    let acked = |rs: &[&Recorded]| rs.iter().filter(|r| r.event.outcome == Outcome::Ok).count();
    let acked_writes = |rs: &[&Recorded]| {
        rs.iter()
            .filter(|r| r.event.outcome == Outcome::Ok && matches!(r.event.op, Op::Put(_)))
            .count()
    };
    let errors: Vec<&str> = at_victim
        .iter()
        .map(|r| r.error.as_str())
        .filter(|e| !e.is_empty())
        .collect();
    eprintln!(
        "{fault:?} (seed {seed}): at {victim} while faulty {} operations, {} acknowledged; first errors: {:?}; history {}",
        at_victim.len(),
        acked(&at_victim),
        errors.iter().take(2).map(|e| e.chars().take(200).collect::<String>()).collect::<Vec<_>>(),
        path.display()
    );
    match fault {
        Fault::Partition(_) => {
            ensure!(
                !at_victim.is_empty(),
                "the workload reached {victim} while it was cut off"
            );
            ensure!(
                acked(&at_victim) == 0,
                "the cut-off site acknowledged operations"
            );
            let clear = errors.iter().filter(|e| e.contains("cut off")).count();
            ensure!(
                clear * 2 >= at_victim.len(),
                "refused with a clear error, not a timeout: {errors:?}"
            );
        }
        Fault::FullDisk(_) => {
            let writes: Vec<&Recorded> = at_victim
                .iter()
                .copied()
                .filter(|r| matches!(r.event.op, Op::Put(_)))
                .collect();
            ensure!(
                !writes.is_empty(),
                "the workload wrote at {victim} while its disk was full"
            );
            ensure!(
                acked_writes(&writes) == 0,
                "a write was acknowledged on a full disk"
            );
            let clear = writes
                .iter()
                .filter(|r| r.error.contains("No space left"))
                .count();
            ensure!(
                clear * 2 >= writes.len(),
                "refused saying the disk is full: {errors:?}"
            );
        }
        Fault::Pause(_) | Fault::Kill(_) => {
            ensure!(
                acked(&at_victim) == 0,
                "a stopped or killed node acknowledged operations"
            );
        }
        Fault::Slow(_) => {}
    }
    let others: Vec<&Recorded> = ops
        .iter()
        .filter(|r| r.site != victim)
        .filter(inside)
        .collect();
    ensure!(
        acked_writes(&others) > 0,
        "the other sites acknowledged no write meanwhile"
    );
    let recovered = recovered.context("the victim serves again after the fault is undone")?;
    eprintln!(
        "{fault:?} (seed {seed}): {victim} acknowledged again {:.1} s after the fault was undone",
        (recovered - heal_at) as f64 / 1e9
    );

    // A final read of each key, then the verdict on its whole history.
    let reader = cluster.s3(Site::Huairou, &opts);
    for k in 0..KEYS {
        let key = format!("k{k:02}");
        let start = history.now();
        let value = match reader.get_object().bucket(BUCKET).key(&key).send().await {
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
            start,
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
        "{fault:?} (seed {seed}): {} operations, {} acknowledged; every key linearizable and placed",
        ops.len(),
        ops.iter().filter(|r| r.event.outcome == Outcome::Ok).count()
    );
    Ok(())
}

/// A cut-off site refuses a read that accepts less staleness than it has,
/// or none, saying why; one that accepts more it may serve from its own
/// state (only if it applied everything the last leader's message said was
/// committed: a learner cut off between receiving and applying cannot vouch
/// for its state and refuses that too).
async fn stale_reads_only_as_asked(cluster: &NodeCluster, site: Site) -> Result<()> {
    let mut api = meridian_chaos_tests::grpc::Api::connect(&cluster.grpc_endpoint(site)).await?;
    let list = |max_staleness_ms: u32| meridian_proto::v1::ListRequest {
        bucket: BUCKET.into(),
        max_staleness_ms,
        ..Default::default()
    };
    let stale = match api.list(list(120_000)).await {
        Ok(_) => "served",
        Err(status) if status.message().contains("cut off") => "refused",
        Err(status) => anyhow::bail!("a read accepting 120 s at the cut-off {site}: {status:?}"),
    };
    for max in [0, 2_000] {
        match api.list(list(max)).await {
            Ok(_) => anyhow::bail!("{site}, cut off for 6 s, served a read accepting {max} ms"),
            Err(status) => ensure!(
                status.message().contains("cut off"),
                "{site} refused a read accepting {max} ms, but not saying why: {status:?}"
            ),
        }
    }
    eprintln!("{site} cut off: a read accepting 120 s {stale}, ones accepting 2 s and 0 refused");
    Ok(())
}

async fn inject(
    cluster: &mut NodeCluster,
    fault: Fault,
) -> Result<(Site, Option<std::path::PathBuf>)> {
    Ok(match fault {
        Fault::Partition(site) => {
            cluster.fabric().context("namespaces")?.partition(site)?;
            (site, None)
        }
        Fault::Slow(site) => {
            let i = site.index() as usize;
            let rate = meridian_chaos_tests::netns::UPLINK_MBIT[i].div_ceil(10);
            cluster
                .fabric()
                .context("namespaces")?
                .set_uplink(site, rate)?;
            (site, None)
        }
        Fault::Pause(who) => {
            let site = resolve(cluster, who).await?;
            cluster.signal(site, "STOP")?;
            (site, None)
        }
        Fault::Kill(who) => {
            let site = resolve(cluster, who).await?;
            cluster.kill9(site)?;
            (site, None)
        }
        Fault::FullDisk(site) => {
            let dir = cluster.data_dir(site)?.join("sites");
            (site, Some(fill(&dir)?))
        }
    })
}

async fn undo(
    cluster: &mut NodeCluster,
    fault: Fault,
    site: Site,
    filler: Option<std::path::PathBuf>,
) -> Result<()> {
    match fault {
        Fault::Partition(_) => cluster.fabric().context("namespaces")?.heal(site)?,
        Fault::Slow(_) => {
            let rate = meridian_chaos_tests::netns::UPLINK_MBIT[site.index() as usize];
            cluster
                .fabric()
                .context("namespaces")?
                .set_uplink(site, rate)?;
        }
        Fault::Pause(_) => cluster.signal(site, "CONT")?,
        Fault::Kill(_) => tokio::task::block_in_place(|| cluster.restart(site))?,
        Fault::FullDisk(_) => {
            if let Some(f) = filler {
                std::fs::remove_file(f)?;
            }
        }
    }
    Ok(())
}
