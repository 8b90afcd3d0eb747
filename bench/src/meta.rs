//! `meridian-bench meta`: the catalogue at scale.
//!
//! Starts a metadata node in a temporary directory (its Raft log synced as
//! in production), inserts N realistic file records from C concurrent
//! clients through group commit, then measures linearizable point reads
//! (stat), range-scan listings and the catalogue's size on disk after
//! compaction. Prints one JSON object.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use clap::Args;
use meridian_meta::{MetaConfig, MetaNode};
use meridian_proto::v1::command::Op;
use meridian_proto::v1::{
    ChunkRef, CreateBucketCmd, ObjectRecord, PutObjectCmd, Replica, ReplicaState,
};
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

use crate::stats::{percentile, sort};

const BUCKET: &str = "hep-catalogue";
/// Upper bounds, so a typo cannot fill the disk.
const MAX_RECORDS: u64 = 100_000_000;
const MAX_CLIENTS: usize = 4096;

#[derive(Args, Debug, Clone)]
pub struct MetaArgs {
    /// Raft voters: 1, or 3 in this process talking over loopback gRPC.
    #[arg(long, default_value_t = 3)]
    pub voters: usize,
    /// File records to insert.
    #[arg(long, default_value_t = 100_000)]
    pub records: u64,
    /// Concurrent writers (and readers in the stat phase).
    #[arg(long, default_value_t = 256)]
    pub clients: usize,
    /// Distinct key prefixes (directories).
    #[arg(long, default_value_t = 3000)]
    pub prefixes: u64,
    /// Stat calls to time.
    #[arg(long, default_value_t = 20_000)]
    pub stats: u64,
    /// Longest time the listing phase may take.
    #[arg(long, default_value_t = 20.0)]
    pub list_seconds: f64,
    /// Replicas per record still pending (0..=2). 0 is the steady state of
    /// a large catalogue; each pending replica adds an index entry until
    /// it completes.
    #[arg(long, default_value_t = 0)]
    pub pending_replicas: usize,
    /// Chunks listed per record (random hashes, 4 MiB each; 0..=64). Each
    /// adds its ChunkRef to the record and one reference key per chunk
    /// (its per-site counts) to the catalogue.
    #[arg(long, default_value_t = 0)]
    pub chunks: usize,
    /// Give each record what a described file has: a format its bytes
    /// showed and two user metadata entries (run, detector), each one more
    /// search index entry.
    #[arg(long)]
    pub described: bool,
    /// Keep no search indexes of files: the same run without them, to
    /// measure what they cost.
    #[arg(long)]
    pub without_file_index: bool,
    /// Build a Raft snapshot (and purge the log) every this many entries.
    #[arg(long, default_value_t = 20_000)]
    pub snapshot_every: u64,
    /// Parent of the temporary data directory.
    #[arg(long, default_value = "/var/tmp")]
    pub dir: std::path::PathBuf,
    #[arg(long)]
    pub json: bool,
}

/// A key of about 60 bytes in one of `prefixes` directories.
pub fn key(i: u64, prefixes: u64) -> String {
    let p = i % prefixes;
    format!(
        "juno/raw/2026/p{p:05}/run{:07}/file-{i:012}.h5",
        i / prefixes % 10_000_000
    )
}

/// Formats a data centre's files show, by share of files.
pub const FORMATS: [(&str, u32); 6] = [
    ("ROOT", 40),
    ("HDF5", 30),
    ("FITS", 10),
    ("Parquet", 8),
    ("NetCDF", 2),
    ("", 10),
];

/// Distinct runs among described records.
pub const RUNS: u64 = 100_000;
pub const DETECTORS: u64 = 12;

/// `record` with a format and user metadata (run, detector), as a
/// described file has: the run's number is selective (one in [`RUNS`]).
pub fn described(mut r: ObjectRecord, i: u64, rng: &mut impl Rng) -> ObjectRecord {
    let mut pick = rng.random_range(0..100u32);
    for (f, share) in FORMATS {
        if pick < share {
            r.file_format = f.to_string();
            break;
        }
        pick -= share;
    }
    r.user_meta.insert("run".into(), format!("{}", i % RUNS));
    r.user_meta
        .insert("detector".into(), format!("det{:02}", i % DETECTORS));
    r
}

/// A file record as the gateway writes it: size, BLAKE3, ETag, owner,
/// version id and a three-site replica map (ingest complete, the other two
/// complete or, with `pending`, that many still pending).
pub fn record(i: u64, (pending, chunks): (usize, usize), rng: &mut impl Rng) -> ObjectRecord {
    let now = 1_790_000_000_000 + i as i64;
    ObjectRecord {
        format: meridian_proto::RECORD_FORMAT,
        size: rng.random_range(1_000_000..150_000_000_000),
        blake3: rng.random::<[u8; 32]>().to_vec(),
        etag: hex::encode(rng.random::<[u8; 16]>()),
        owner: "juno-daq".into(),
        chunk_size: 4 << 20,
        chunks: (0..chunks)
            .map(|_| ChunkRef {
                hash: rng.random::<[u8; 32]>().to_vec(),
                size: 4 << 20,
            })
            .collect(),
        policy: "default".into(),
        replicas: [5u32, 1, 2]
            .iter()
            .enumerate()
            .map(|(n, site)| {
                let st = if n == 0 || n > pending {
                    ReplicaState::Complete
                } else {
                    ReplicaState::Pending
                };
                Replica {
                    site: *site,
                    state: st as i32,
                    verified_at_ms: if st == ReplicaState::Complete { now } else { 0 },
                    // As the gateway records them: ingest, then chosen by arrival.
                    reason: if n == 0 { 1 } else { 4 },
                }
            })
            .collect(),
        created_ms: now,
        ingest_site: 5,
        version_id: format!("{now:x}{:08x}", rng.random::<u32>()),
        ..Default::default()
    }
}

/// The metadata group under test: one voter, or three in this process, each
/// with its own RocksDB and its own Raft gRPC server on loopback.
pub struct Cluster {
    nodes: Vec<Arc<MetaNode>>,
    pub leader: Arc<MetaNode>,
    servers: Vec<(
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<()>,
    )>,
}

impl Cluster {
    pub async fn start(
        dir: &std::path::Path,
        voters: usize,
        snapshot_every: u64,
        index_files: bool,
    ) -> Result<Cluster> {
        if voters == 1 {
            let mut cfg = MetaConfig::new(dir.join("node-1"), "127.0.0.1:0".into());
            cfg.snapshot_every = snapshot_every;
            cfg.index_files = index_files;
            let node = Arc::new(
                MetaNode::start(cfg)
                    .await
                    .context("starting the metadata node")?,
            );
            return Ok(Cluster {
                nodes: vec![node.clone()],
                leader: node,
                servers: Vec::new(),
            });
        }
        let mut listeners = Vec::new();
        let mut peers = std::collections::BTreeMap::new();
        for id in 1..=voters as u64 {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            peers.insert(id, l.local_addr()?.to_string());
            listeners.push((id, l));
        }
        // The voters talk mutual TLS, as a cluster's do.
        let now = std::time::SystemTime::now();
        let tls = meridian_tls::ClusterCa::generate("bench", now)?.identity(
            "bench",
            &["127.0.0.1".into()],
            now,
        )?;
        let mut nodes = Vec::new();
        let mut servers = Vec::new();
        for (id, listener) in listeners {
            let mut cfg =
                MetaConfig::member(dir.join(format!("node-{id}")), id, &peers, tls.clone());
            cfg.snapshot_every = snapshot_every;
            cfg.index_files = index_files;
            let node = Arc::new(
                MetaNode::open(cfg)
                    .await
                    .with_context(|| format!("opening node {id}"))?,
            );
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let svc = node.raft_service();
            let server_tls = tls.clone();
            let server = tokio::spawn(async move {
                let _ = meridian_meta::raft_service::serve(listener, svc, &server_tls, async {
                    let _ = stopped.await;
                })
                .await;
            });
            servers.push((stop, server));
            nodes.push(node);
        }
        let mut leader_id = 0;
        for n in &nodes {
            leader_id = n.wait_for_leader(Duration::from_secs(30)).await?;
        }
        let leader = nodes
            .iter()
            .find(|n| n.status().node_id == leader_id)
            .cloned()
            .context("the elected leader is not one of ours")?;
        Ok(Cluster {
            nodes,
            leader,
            servers,
        })
    }

    pub async fn shutdown(self) {
        for n in &self.nodes {
            let _ = n.shutdown().await;
        }
        for (stop, server) in self.servers {
            let _ = stop.send(());
            let _ = server.await;
        }
    }
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

pub async fn run(a: &MetaArgs) -> Result<Value> {
    ensure!(a.voters == 1 || a.voters == 3, "--voters must be 1 or 3");
    ensure!(
        (1..=MAX_RECORDS).contains(&a.records),
        "--records must be 1..={MAX_RECORDS}"
    );
    ensure!(
        (1..=MAX_CLIENTS).contains(&a.clients),
        "--clients must be 1..={MAX_CLIENTS}"
    );
    ensure!(a.prefixes >= 1, "--prefixes must be at least 1");
    ensure!(
        a.pending_replicas <= 2,
        "--pending-replicas must be 0, 1 or 2"
    );
    ensure!(a.chunks <= 64, "--chunks must be 0..=64");
    let tmp = tempfile::Builder::new()
        .prefix("meridian-bench-meta.")
        .tempdir_in(&a.dir)
        .with_context(|| format!("temporary directory in {}", a.dir.display()))?;
    let cluster = Cluster::start(
        tmp.path(),
        a.voters,
        a.snapshot_every,
        !a.without_file_index,
    )
    .await?;
    let node = cluster.leader.clone();
    node.write_one(meridian_meta::command(Op::CreateBucket(CreateBucketCmd {
        name: BUCKET.into(),
        owner: "bench".into(),
        ingest_site: 5,
        now_ms: 0,
        ..Default::default()
    })))
    .await?;

    // Insert phase.
    let next = Arc::new(AtomicU64::new(0));
    let (cmds0, batches0) = node.commit_stats();
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..a.clients {
        let (node, next) = (node.clone(), next.clone());
        let (n, prefixes, shape) = (a.records, a.prefixes, (a.pending_replicas, a.chunks));
        let described_records = a.described;
        tasks.push(tokio::spawn(async move {
            let mut rng = rand::rngs::StdRng::seed_from_u64(c as u64);
            let mut lat = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break;
                }
                let mut rec = record(i, shape, &mut rng);
                if described_records {
                    rec = described(rec, i, &mut rng);
                }
                let cmd = meridian_meta::command(Op::PutObject(PutObjectCmd {
                    bucket: BUCKET.into(),
                    key: key(i, prefixes),
                    record: Some(rec),
                    ..Default::default()
                }));
                let t = Instant::now();
                node.write_one(cmd).await?;
                lat.push(ms(t.elapsed()));
            }
            anyhow::Ok(lat)
        }));
    }
    let mut commit = Vec::with_capacity(a.records as usize);
    for t in tasks {
        commit.extend(t.await.context("writer panicked")??);
    }
    let insert_s = start.elapsed().as_secs_f64();
    let (cmds, batches) = node.commit_stats();
    sort(&mut commit);

    // Stat phase: linearizable point reads of random keys.
    let bucket_id = node
        .reader()
        .bucket(BUCKET)?
        .context("bench bucket vanished")?
        .id;
    let per_client = a.stats.div_ceil(a.clients as u64);
    let mut tasks = Vec::new();
    for c in 0..a.clients {
        let node = node.clone();
        let (n, prefixes) = (a.records, a.prefixes);
        tasks.push(tokio::spawn(async move {
            let mut rng = rand::rngs::StdRng::seed_from_u64(1_000_000 + c as u64);
            let mut lat = Vec::new();
            for _ in 0..per_client {
                let k = key(rng.random_range(0..n), prefixes);
                let t = Instant::now();
                node.read_barrier().await?;
                let found = node.reader().object(bucket_id, &k)?;
                lat.push(ms(t.elapsed()));
                ensure!(found.is_some(), "stat of {k} found nothing");
            }
            anyhow::Ok(lat)
        }));
    }
    let mut stat = Vec::new();
    for t in tasks {
        stat.extend(t.await.context("reader panicked")??);
    }
    sort(&mut stat);

    // List phase: pages of 1000 from the start, bounded in time.
    let deadline = Instant::now() + Duration::from_secs_f64(a.list_seconds);
    let t = Instant::now();
    let mut listed = 0u64;
    let mut after: Option<String> = None;
    while Instant::now() < deadline {
        let page = node
            .reader()
            .list(bucket_id, "", None, after.as_deref(), 1000)?;
        listed += page.items.len() as u64;
        after = page.items.last().map(|i| match i {
            meridian_meta::catalogue::ListItem::Object { key, .. } => key.clone(),
            meridian_meta::catalogue::ListItem::Prefix(p) => p.clone(),
        });
        if !page.truncated {
            break;
        }
    }
    let list_s = t.elapsed().as_secs_f64();

    let disk = node.catalogue_disk_bytes()?;
    cluster.shutdown().await;
    Ok(json!({
        "voters": a.voters,
        "pending_replicas": a.pending_replicas,
        "chunks": a.chunks,
        "described": a.described,
        "file_index": !a.without_file_index,
        "snapshot_every": a.snapshot_every,
        "records": a.records,
        "clients": a.clients,
        "inserts_per_s": a.records as f64 / insert_s,
        "commit_p50_ms": percentile(&commit, 50.0),
        "commit_p99_ms": percentile(&commit, 99.0),
        "commands_per_raft_entry": (cmds - cmds0) as f64 / (batches - batches0).max(1) as f64,
        "stat_p50_ms": percentile(&stat, 50.0),
        "stat_p99_ms": percentile(&stat, 99.0),
        "list_keys_per_s": listed as f64 / list_s,
        "disk_bytes_per_record": disk as f64 / a.records as f64,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_about_sixty_bytes_and_spread_over_prefixes() {
        let k = key(123_456_789, 3000);
        assert!((50..=70).contains(&k.len()), "{k} is {} bytes", k.len());
        let dirs: std::collections::BTreeSet<_> =
            (0..9000).map(|i| key(i, 3000)[..20].to_string()).collect();
        assert_eq!(dirs.len(), 3000);
    }
}
