//! `meridian-bench query`: search at the data centre's scale.
//!
//! Starts a metadata node (its Raft log synced as in production), inserts
//! N described file records (a format, a run number, a detector; sizes and
//! times as `meta`'s) and D datasets with dataset and experiment packages
//! (keywords from a vocabulary of 1000, six facilities, fifty detectors,
//! three in ten closed), then times selective searches as the catalogue
//! answers them: a linearizable read barrier, the plan, the walk. Prints
//! one JSON object.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{ensure, Context, Result};
use clap::Args;
use meridian_core::search::{parse_filter, plan, Query, Target};
use meridian_meta::MetaNode;
use meridian_proto::v1::command::Op;
use meridian_proto::v1::{
    CreateBucketCmd, CreateDatasetCmd, DatasetMetadata, DatasetRecord, PutObjectCmd,
    SetDatasetMetadataCmd, SetDatasetStateCmd,
};
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

use crate::meta::{described, key, ms, record, Cluster, RUNS};
use crate::stats::{percentile, sort};

const BUCKET: &str = "hep-files";
const MAX_FILES: u64 = 100_000_000;
const MAX_DATASETS: u64 = 10_000_000;
const KEYWORDS: u64 = 1000;
const DETECTORS: u64 = 50;
const FACILITIES: [&str; 6] = ["JUNO", "LHAASO", "CSNS", "HEPS", "BEPCII", "DayaBay"];
/// The first record's time; record i is written i ms later.
const T0: i64 = 1_790_000_000_000;

#[derive(Args, Debug, Clone)]
pub struct QueryArgs {
    /// Raft voters: 1, or 3 in this process over loopback gRPC.
    #[arg(long, default_value_t = 1)]
    pub voters: usize,
    #[arg(long, default_value_t = 10_000_000)]
    pub files: u64,
    #[arg(long, default_value_t = 100_000)]
    pub datasets: u64,
    /// Concurrent writers.
    #[arg(long, default_value_t = 256)]
    pub clients: usize,
    /// Searches timed per kind.
    #[arg(long, default_value_t = 1000)]
    pub queries: u64,
    /// Keep no search indexes of files (to measure what they cost; the
    /// file searches are then skipped).
    #[arg(long)]
    pub without_file_index: bool,
    #[arg(long, default_value = "/var/tmp")]
    pub dir: std::path::PathBuf,
    #[arg(long)]
    pub json: bool,
}

/// `count` commands made by `make(i)`, written by `clients` writers; the
/// rate they were committed at.
async fn write_all(
    node: &Arc<MetaNode>,
    count: u64,
    clients: usize,
    make: impl Fn(u64, &mut rand::rngs::StdRng) -> Vec<Op> + Send + Sync + 'static,
) -> Result<f64> {
    let make = Arc::new(make);
    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (node, next, make) = (node.clone(), next.clone(), make.clone());
        tasks.push(tokio::spawn(async move {
            let mut rng = rand::rngs::StdRng::seed_from_u64(c as u64);
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    break;
                }
                for op in make(i, &mut rng) {
                    node.write_one(meridian_meta::command(op))
                        .await
                        .with_context(|| format!("command of record {i}"))?;
                }
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await.context("writer panicked")??;
    }
    Ok(count as f64 / start.elapsed().as_secs_f64())
}

fn dataset_ops(i: u64, rng: &mut impl Rng) -> Vec<Op> {
    let name = format!("ds-{i:08}");
    let facility = FACILITIES[(i % FACILITIES.len() as u64) as usize];
    let kw: Vec<String> = (0..3)
        .map(|_| format!("kw{:04}", rng.random_range(0..KEYWORDS)))
        .collect();
    let dataset = json!({
        "title": format!("{facility} run block {i}"),
        "description": "raw data of one run block",
        "creators": [{"name": "DAQ", "affiliation": "IHEP"}],
        "keywords": kw,
        "facility": facility,
        "license": "CC-BY-4.0",
        "created": "2026-11-30",
    });
    let experiment = json!({
        "subject": {"title": "commissioning"},
        "detector": {"name": format!("det{:02}", rng.random_range(0..DETECTORS))},
        "acquisition": {"mode": if i.is_multiple_of(2) { "physics" } else { "calibration" }},
    });
    let mut ops = vec![Op::CreateDataset(CreateDatasetCmd {
        dataset: Some(DatasetRecord {
            name: name.clone(),
            owner: "juno-daq".into(),
            kind: "facility".into(),
            facility: facility.into(),
            ..Default::default()
        }),
        now_ms: T0 + i as i64,
    })];
    for (package, doc) in [("dataset", dataset), ("experiment", experiment)] {
        ops.push(Op::SetDatasetMetadata(SetDatasetMetadataCmd {
            name: name.clone(),
            metadata: Some(DatasetMetadata {
                package: package.into(),
                schema_version: 1,
                document: doc.to_string(),
                set_ms: 0,
            }),
            if_version: 0,
            now_ms: T0 + i as i64,
        }));
    }
    if i % 10 < 3 {
        ops.push(Op::SetDatasetState(SetDatasetStateCmd {
            name,
            state: 1,
            if_version: 0,
            now_ms: T0 + i as i64,
        }));
    }
    ops
}

/// One kind of search, timed `n` times with fresh parameters.
async fn time_kind(
    node: &Arc<MetaNode>,
    n: u64,
    target: Target,
    make: impl Fn(&mut rand::rngs::StdRng) -> (Vec<String>, Option<&'static str>, bool, usize),
) -> Result<Value> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let (mut lat, mut examined, mut hits) = (Vec::new(), 0u64, 0u64);
    let mut walked = String::new();
    for _ in 0..n {
        let (filters, sort_by, descending, limit) = make(&mut rng);
        let q = Query {
            target,
            filters: filters
                .iter()
                .map(|f| parse_filter(target, f))
                .collect::<Result<_, _>>()?,
            sort: sort_by.map(String::from),
            descending,
            limit,
            after: None,
        };
        let t = Instant::now();
        node.read_barrier().await?;
        let p = plan(&q)?;
        let page = node.reader().search(&q, &p)?;
        lat.push(ms(t.elapsed()));
        examined += page.examined;
        hits += (page.files.len() + page.datasets.len()) as u64;
        walked = page.walked;
    }
    sort(&mut lat);
    Ok(json!({
        "p50_ms": percentile(&lat, 50.0),
        "p99_ms": percentile(&lat, 99.0),
        "mean_examined": examined as f64 / n as f64,
        "mean_hits": hits as f64 / n as f64,
        "walked": walked,
    }))
}

pub async fn run(a: &QueryArgs) -> Result<Value> {
    ensure!(a.voters == 1 || a.voters == 3, "--voters must be 1 or 3");
    ensure!(
        (1..=MAX_FILES).contains(&a.files),
        "--files must be 1..={MAX_FILES}"
    );
    ensure!(
        (1..=MAX_DATASETS).contains(&a.datasets),
        "--datasets must be 1..={MAX_DATASETS}"
    );
    ensure!(
        (1..=4096).contains(&a.clients),
        "--clients must be 1..=4096"
    );
    ensure!(a.queries >= 1, "--queries must be at least 1");
    let tmp = tempfile::Builder::new()
        .prefix("meridian-bench-query.")
        .tempdir_in(&a.dir)
        .with_context(|| format!("temporary directory in {}", a.dir.display()))?;
    let cluster = Cluster::start(tmp.path(), a.voters, 20_000, !a.without_file_index).await?;
    let node = cluster.leader.clone();
    node.write_one(meridian_meta::command(Op::CreateBucket(CreateBucketCmd {
        name: BUCKET.into(),
        owner: "bench".into(),
        ingest_site: 5,
        now_ms: 0,
        ..Default::default()
    })))
    .await?;

    let files_per_s = write_all(&node, a.files, a.clients, |i, rng| {
        let rec = described(record(i, (0, 0), rng), i, rng);
        vec![Op::PutObject(PutObjectCmd {
            bucket: BUCKET.into(),
            key: key(i, 3000),
            record: Some(rec),
            ..Default::default()
        })]
    })
    .await?;
    let file_disk = node.catalogue_disk_bytes()?;
    let datasets_per_s = write_all(&node, a.datasets, a.clients, dataset_ops).await?;
    let disk = node.catalogue_disk_bytes()?;

    let n = a.queries;
    let files = a.files;
    let mut searches = serde_json::Map::new();
    if !a.without_file_index {
        searches.insert(
            "files_by_run".into(),
            time_kind(&node, n, Target::Files, |r| {
                (
                    vec![format!("meta.run={}", r.random_range(0..RUNS))],
                    None,
                    false,
                    100,
                )
            })
            .await?,
        );
        searches.insert(
            "files_in_100ms".into(),
            time_kind(&node, n, Target::Files, move |r| {
                let t = T0 + r.random_range(0..files.saturating_sub(100).max(1)) as i64;
                (
                    vec![format!("created>={t}"), format!("created<{}", t + 100)],
                    None,
                    false,
                    100,
                )
            })
            .await?,
        );
        searches.insert(
            "files_fits_over_140gb_first_20".into(),
            time_kind(&node, n, Target::Files, |_| {
                (
                    vec!["format=FITS".into(), "size>=140GB".into()],
                    None,
                    false,
                    20,
                )
            })
            .await?,
        );
    }
    searches.insert(
        "datasets_by_keyword".into(),
        time_kind(&node, n, Target::Datasets, |r| {
            (
                vec![format!(
                    "dataset.keywords=kw{:04}",
                    r.random_range(0..KEYWORDS)
                )],
                None,
                false,
                100,
            )
        })
        .await?,
    );
    searches.insert(
        "datasets_by_detector_closed".into(),
        time_kind(&node, n, Target::Datasets, |r| {
            (
                vec![
                    format!(
                        "experiment.detector.name=det{:02}",
                        r.random_range(0..DETECTORS)
                    ),
                    "state=closed".into(),
                ],
                None,
                false,
                100,
            )
        })
        .await?,
    );
    searches.insert(
        "datasets_of_a_facility_newest_20".into(),
        time_kind(&node, n, Target::Datasets, |r| {
            let f = FACILITIES[r.random_range(0..FACILITIES.len())];
            (vec![format!("facility={f}")], Some("created"), true, 20)
        })
        .await?,
    );
    cluster.shutdown().await;
    Ok(json!({
        "voters": a.voters,
        "files": a.files,
        "datasets": a.datasets,
        "clients": a.clients,
        "file_index": !a.without_file_index,
        "file_inserts_per_s": files_per_s,
        "dataset_writes_per_s": datasets_per_s,
        "disk_bytes_per_file": file_disk as f64 / a.files as f64,
        "disk_bytes_total": disk,
        "queries_per_kind": n,
        "searches": searches,
    }))
}
