//! `meridian-bench replicate`: how close the planner gets to the links'
//! limit, and how much faster than copying each replica from its ingest site.
//!
//! For each topology (the brief's star, and a mesh with two more links) and
//! each replication job (the planner, then the naive baseline), the real
//! data and meta roles start in this process on a fresh directory with
//! emulated links (declared bandwidth x `--link-scale`). The same workload
//! is written through the gateway at its sites with replication stopped;
//! then the job starts and the clock runs until no replica is pending.
//! The lower bound is the planner's min-cut bound for that pending work.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use bytes::Bytes;
use clap::{Args, ValueEnum};
use meridian_data::DataPlane;
use meridian_node::metagroup::MetaGroup;
use meridian_node::transfer::{self, Mode};
use meridian_objects::NewObject;
use meridian_placement::{lower_bound_s, plan, Policy, Topology};
use serde_json::{json, Value};
use tokio::sync::{watch, Notify};

use crate::size::parse_size;

const STAR: &str = include_str!("../../node/config/topology.toml");
const MESH: &str = include_str!("../../node/config/topology-mesh.toml");
const BUCKET: &str = "raw";
const KIB: usize = 1024;
const MIB: usize = 1024 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Which {
    Star,
    Mesh,
    Both,
}

/// The order objects arrive in (the naive job's FIFO follows it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Arrival {
    /// The three experiments write at once, their files interleaved.
    Interleaved,
    /// Each experiment's run arrives whole, one after the other.
    Bursts,
}

#[derive(Args, Debug, Clone)]
pub struct ReplicateArgs {
    #[arg(long, value_enum, default_value_t = Arrival::Interleaved)]
    pub arrival: Arrival,
    #[arg(long, value_enum, default_value_t = Which::Both)]
    pub topology: Which,
    /// Emulated bandwidth over declared (0.016: the 2 Gb/s link carries 4 MB/s).
    #[arg(long, default_value_t = 0.016)]
    pub link_scale: f64,
    /// Multiplies every object count of the workload.
    #[arg(long, default_value_t = 1.0)]
    pub volume: f64,
    #[arg(long, default_value = "1MiB", value_parser = parse_size)]
    pub chunk_size: u64,
    /// Transfers in flight per link (planner) or per destination (naive).
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// Longest a single run may take before the benchmark gives up.
    #[arg(long, default_value_t = 900.0)]
    pub timeout_s: f64,
    /// Parent of the temporary data directories.
    #[arg(long, default_value = "/var/tmp")]
    pub dir: std::path::PathBuf,
    #[arg(long)]
    pub json: bool,
}

/// Placement for the workload: raw data of JUNO (Jiangmen) and LHAASO
/// (Daocheng) goes to Beijing and Dongguan; HEPS data born at Beijing goes
/// everywhere; urgent JUNO data has a deadline and the top priority; one
/// LHAASO object asks for the impossible.
const POLICY: &str = r#"
[default]
copies = 1

[[rule]]
name = "juno-urgent"
metadata = { experiment = "juno", urgency = "high" }
copies = 3
sites = "Beijing | Dongguan"
priority = 5
within = "WITHIN"

[[rule]]
name = "lhaaso-impossible"
metadata = { experiment = "lhaaso", urgency = "high" }
copies = 3
sites = "Beijing | Dongguan"
priority = 5
within = "1s"

[[rule]]
name = "juno"
metadata = { experiment = "juno" }
copies = 3
sites = "Beijing | Dongguan"

[[rule]]
name = "lhaaso"
metadata = { experiment = "lhaaso" }
copies = 3
sites = "Beijing | Dongguan"

[[rule]]
name = "heps"
metadata = { experiment = "heps" }
copies = 5
"#;

/// One object of the workload, in arrival order.
struct Object {
    experiment: &'static str,
    site: &'static str,
    size: usize,
    urgent: bool,
}

/// A few large objects first, then many small ones across the three
/// experiments (interleaved, or experiment after experiment), then urgent
/// JUNO files with a deadline.
fn workload(volume: f64, arrival: Arrival) -> Vec<Object> {
    let n = |k: f64| ((k * volume).round() as usize).max(1);
    let mut v = Vec::new();
    let large = [
        ("juno", "Jiangmen", 24 * MIB),
        ("lhaaso", "Daocheng", 24 * MIB),
        ("heps", "Beijing", 16 * MIB),
    ];
    for (e, s, size) in large {
        for _ in 0..n(1.0) {
            v.push(Object {
                experiment: e,
                site: s,
                size,
                urgent: false,
            });
        }
    }
    let experiments = [
        ("juno", "Jiangmen"),
        ("lhaaso", "Daocheng"),
        ("heps", "Beijing"),
    ];
    let mut small = Vec::new();
    for i in 0..n(64.0) {
        for (k, (e, s)) in experiments.iter().enumerate() {
            small.push((k, i, *e, *s));
        }
    }
    if arrival == Arrival::Bursts {
        small.sort_by_key(|(k, i, _, _)| (*k, *i));
    }
    for (_, _, e, s) in small {
        v.push(Object {
            experiment: e,
            site: s,
            size: 256 * KIB,
            urgent: false,
        });
    }
    for _ in 0..n(4.0) {
        v.push(Object {
            experiment: "juno",
            site: "Jiangmen",
            size: MIB,
            urgent: true,
        });
    }
    v.push(Object {
        experiment: "lhaaso",
        site: "Daocheng",
        size: 8 * MIB,
        urgent: true,
    });
    v
}

struct RunResult {
    completion_s: f64,
    plan_s: f64,
    lower_bound_s: f64,
    replicas: u64,
    deadline_misses: u64,
    deadlines_admitted: u64,
    deadlines_infeasible: u64,
    bytes_ingested: u64,
}

pub async fn run(args: &ReplicateArgs) -> Result<Value> {
    ensure!(
        args.link_scale > 0.0 && args.link_scale <= 1.0,
        "--link-scale is in (0, 1]"
    );
    ensure!(
        args.volume > 0.0 && args.volume <= 100.0,
        "--volume is in (0, 100]"
    );
    ensure!(
        (64 * 1024..=64 << 20).contains(&args.chunk_size),
        "--chunk-size is between 64KiB and 64MiB"
    );
    ensure!(
        (1..=64).contains(&args.concurrency),
        "--concurrency is 1..=64"
    );
    let topologies: Vec<(&str, &str)> = match args.topology {
        Which::Star => vec![("star", STAR)],
        Which::Mesh => vec![("mesh", MESH)],
        Which::Both => vec![("star", STAR), ("mesh", MESH)],
    };
    let mut out = Vec::new();
    for (name, text) in topologies {
        let topo = Topology::from_toml(text, name)?;
        let planned = one_run(args, &topo, Mode::Planned).await?;
        let naive = one_run(args, &topo, Mode::Naive).await?;
        ensure!(
            planned.replicas == naive.replicas,
            "the two runs made different replicas"
        );
        eprintln!(
            "{name}: planned {:.2} s (plan {:.2} s, bound {:.2} s), naive {:.2} s",
            planned.completion_s, planned.plan_s, planned.lower_bound_s, naive.completion_s
        );
        out.push(json!({
            "topology": name,
            "completion_s": round3(planned.completion_s),
            "plan_s": round3(planned.plan_s),
            "lower_bound_s": round3(planned.lower_bound_s),
            "ratio_to_bound": round3(planned.completion_s / planned.lower_bound_s),
            "naive_completion_s": round3(naive.completion_s),
            "speedup_vs_naive": round3(naive.completion_s / planned.completion_s),
            "deadline_misses": planned.deadline_misses,
            "deadlines_admitted": planned.deadlines_admitted,
            "deadlines_infeasible": planned.deadlines_infeasible,
            "replicas": planned.replicas,
            "bytes_ingested": planned.bytes_ingested,
        }));
    }
    Ok(json!({
        "benchmark": "replicate",
        "link_scale": args.link_scale,
        "chunk_size": args.chunk_size,
        "concurrency": args.concurrency,
        "volume": args.volume,
        "arrival": format!("{:?}", args.arrival).to_lowercase(),
        "topologies": out,
    }))
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

async fn one_run(args: &ReplicateArgs, topo: &Topology, mode: Mode) -> Result<RunResult> {
    let dir = tempfile::Builder::new()
        .prefix("meridian-bench-replicate-")
        .tempdir_in(&args.dir)
        .with_context(|| format!("creating a directory under {}", args.dir.display()))?;
    let topo = Arc::new(topo.clone());
    // The urgent files' deadline: four times what their bytes need on the
    // Jiangmen uplink, so only a plan that puts them first meets it.
    let uplink_mbps = 2e9 * args.link_scale / 8e6;
    let within = ((4.0 * 4.0 * args.volume.max(1.0) / uplink_mbps).ceil() as u64).max(2);
    let policy = meridian_node::placement_policy::PolicyHandle::new(
        topo.clone(),
        Policy::from_toml(
            &POLICY.replace("WITHIN", &format!("{within}s")),
            "replicate policy",
            &topo,
        )?,
    );
    let meta = Arc::new(MetaGroup::single(&dir.path().join("meta"), "127.0.0.1:1".into()).await?);
    let data = Arc::new(DataPlane::open_local(
        topo.clone(),
        dir.path(),
        args.link_scale,
        meridian_core::clock::system(),
    )?);
    let wake = Arc::new(Notify::new());
    let gateway = meridian_node::serve::gateway(
        (meta.clone(), data.clone()),
        topo.clone(),
        policy.clone(),
        args.chunk_size as usize,
        wake.clone(),
        Arc::new(meridian_node::keyring::Keyring::load_or_create(
            &dir.path().join("cluster.key"),
        )?),
        None,
    );
    let site = |name: &str| -> Result<u32> {
        Ok(topo
            .site_by_name(name)
            .with_context(|| format!("no site {name}"))?
            .id
            .0)
    };
    gateway
        .create_bucket(BUCKET, "bench", site("Beijing")?, &Default::default())
        .await?;
    let mut bytes_ingested = 0u64;
    for (i, o) in workload(args.volume, args.arrival).into_iter().enumerate() {
        let mut meta_pairs = HashMap::from([("experiment".to_string(), o.experiment.to_string())]);
        if o.urgent {
            meta_pairs.insert("urgency".into(), "high".into());
        }
        let body = Bytes::from(content(i, o.size));
        let obj = NewObject {
            bucket: BUCKET.into(),
            key: format!("{i:06}-{}", o.experiment),
            content_type: "application/octet-stream".into(),
            user_meta: meta_pairs,
            owner: "bench".into(),
            ..Default::default()
        };
        let stream = futures::stream::iter([Ok::<_, std::io::Error>(body)]);
        gateway
            .put_object(site(o.site)?, obj, stream, Some(o.size as u64))
            .await
            .map_err(|e| anyhow::anyhow!("ingest: {e}"))?;
        bytes_ingested += o.size as u64;
    }

    // The work as the planner sees it, before anything moves.
    let work = transfer::pending_work(&meta, &data, &policy.current(&meta.reader()).1).await?;
    let factor = data.links().time_factor();
    let bound = lower_bound_s(&topo, &work) * factor;
    let predicted_plan = plan(&topo, &work)?;
    let predicted = predicted_plan.completion_s * factor;

    let replicas = work.transfers.len() as u64;

    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    let start = Instant::now();
    let job = transfer::spawn(
        mode,
        (meta.clone(), data.clone(), policy.clone()),
        wake,
        args.concurrency,
        &mut tasks,
        stop_rx,
    );
    let deadline = Duration::from_secs_f64(args.timeout_s);
    loop {
        let reader = meta.reader();
        let mut pending = 0;
        for s in topo.sites() {
            pending += reader.pending(s.id.0, None, 1)?.len();
        }
        if pending == 0 {
            break;
        }
        if start.elapsed() > deadline {
            bail!("{mode:?} run on this topology did not finish in {deadline:?}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let completion_s = start.elapsed().as_secs_f64();
    let progress = job.progress().unwrap_or_default();
    let deadline_misses = job
        .stats()
        .deadline_misses
        .load(std::sync::atomic::Ordering::Relaxed);
    let _ = stop_tx.send(true);
    while tasks.join_next().await.is_some() {}
    meta.shutdown().await?;
    Ok(RunResult {
        completion_s,
        plan_s: predicted,
        lower_bound_s: bound,
        replicas,
        deadline_misses,
        deadlines_admitted: progress.deadlines_admitted,
        deadlines_infeasible: progress.deadlines_infeasible,
        bytes_ingested,
    })
}

/// Distinct, incompressible-looking bytes per object.
fn content(seed: usize, size: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(size + 32);
    let mut block = blake3::hash(&seed.to_le_bytes());
    while out.len() < size {
        out.extend_from_slice(block.as_bytes());
        block = blake3::hash(block.as_bytes());
    }
    out.truncate(size);
    out
}
