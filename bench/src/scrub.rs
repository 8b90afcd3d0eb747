//! `meridian-bench scrub`: faults injected into a running federation's chunk
//! files, and how the scrubber and repair deal with them; then the scrub's
//! read-and-hash throughput per core.
//!
//! Against a `meridian dev` started on `--data-dir` (scripts/bench-scrub.sh
//! starts one): objects of random bytes are written at Beijing and
//! replicated; K of them get one fault each, at one complete replica, in a
//! chunk chosen at random: a flipped bit, the file truncated, or the file
//! deleted. Readers GET random objects at random sites throughout and
//! compare every byte. Done when every damaged file is back, intact, and
//! every replica complete. Then, in a directory of its own, a site store of
//! `--throughput-bytes` is re-hashed by one task: MB/s of wall time and per
//! CPU second of this process.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use clap::Args;
use meridian_api::auth::client::SigningChannel;
use meridian_proto::v1::admin_service_client::AdminServiceClient;
use meridian_proto::v1::{ScrubStatusRequest, StatRequest};
use rand::{Rng, SeedableRng};
use serde_json::json;

use crate::size::parse_size;

const BUCKET: &str = "scrub-bench";
const SITES: [&str; 5] = ["Beijing", "Huairou", "Dongguan", "Daocheng", "Jiangmen"];

#[derive(Args, Debug, Clone)]
pub struct ScrubArgs {
    /// The running server's data directory (its `sites/<Site>/chunks`).
    #[arg(long)]
    pub data_dir: PathBuf,
    /// Beijing's S3 endpoint; the other sites' follow it, one port each.
    #[arg(long, default_value = "http://127.0.0.1:19000")]
    pub s3: String,
    #[arg(long, default_value = "http://127.0.0.1:19051")]
    pub admin: String,
    #[arg(long, default_value_t = 60)]
    pub objects: usize,
    #[arg(long, value_parser = parse_size, default_value = "1MiB")]
    pub size: u64,
    /// The server's --chunk-size.
    #[arg(long, value_parser = parse_size, default_value = "256KiB")]
    pub chunk_size: u64,
    /// Faults injected, each in a different object.
    #[arg(long, default_value_t = 30)]
    pub faults: usize,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    #[arg(long, default_value_t = 600)]
    pub timeout_s: u64,
    /// Bytes of chunks re-hashed for the throughput figure (0: skip it).
    #[arg(long, value_parser = parse_size, default_value = "1GiB")]
    pub throughput_bytes: u64,
    /// Where the throughput store goes (a fresh directory under it).
    #[arg(long, default_value = "/var/tmp")]
    pub scratch: PathBuf,
    /// Drop the page cache before re-hashing (root): read from the disk.
    #[arg(long)]
    pub cold: bool,
    #[command(flatten)]
    pub creds: crate::cli::Credentials,
}

type Admin = AdminServiceClient<SigningChannel<tonic::transport::Channel>>;

#[derive(Debug, Clone, Copy)]
enum Fault {
    FlipBit,
    Truncate,
    Delete,
}

struct Injected {
    key: String,
    site: &'static str,
    file: PathBuf,
    kind: Fault,
}

fn s3_endpoint(base: &str, site: usize) -> Result<String> {
    let (head, port) = base
        .rsplit_once(':')
        .context("the S3 endpoint has no port")?;
    let port: u16 = port.trim_end_matches('/').parse().context("the S3 port")?;
    Ok(format!("{head}:{}", port + site as u16))
}

fn chunk_file(data_dir: &Path, site: &str, hash: &str) -> PathBuf {
    data_dir
        .join("sites")
        .join(site)
        .join("chunks")
        .join(&hash[..2])
        .join(hash)
}

fn intact(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    std::fs::read(path).is_ok_and(|b| blake3::hash(&b).to_hex().as_str() == name)
}

/// User plus system CPU seconds of this process so far.
fn cpu_seconds() -> Result<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    // Fields after the command's closing parenthesis; utime, stime are 14, 15.
    let rest = stat.rsplit_once(')').context("/proc/self/stat")?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 =
        f.get(11).context("utime")?.parse::<f64>()? + f.get(12).context("stime")?.parse::<f64>()?;
    Ok(ticks / 100.0)
}

async fn admin(args: &ScrubArgs) -> Result<Admin> {
    let channel = tonic::transport::Endpoint::from_shared(args.admin.clone())?
        .connect()
        .await
        .with_context(|| format!("connecting to {}", args.admin))?;
    Ok(AdminServiceClient::new(SigningChannel::new(
        channel,
        &args.creds.access_key,
        &args.creds.secret_key,
        meridian_core::clock::system(),
    )))
}

/// The sites holding a complete replica of `key`, and whether every one of
/// its replicas is complete.
async fn holders(admin: &mut Admin, key: &str) -> Result<(Vec<String>, bool)> {
    let info = admin
        .object_stat(StatRequest {
            bucket: BUCKET.into(),
            key: key.into(),
            ..Default::default()
        })
        .await?
        .into_inner();
    let complete: Vec<String> = info
        .replicas
        .iter()
        .filter(|r| r.state == "complete")
        .map(|r| r.site.clone())
        .collect();
    let all = complete.len() == info.replicas.len() && !complete.is_empty();
    Ok((complete, all))
}

pub async fn run(args: &ScrubArgs) -> Result<serde_json::Value> {
    if args.faults > args.objects {
        bail!("--faults is at most --objects (one fault per object)");
    }
    if args.faults == 0 {
        return Ok(json!({ "throughput": throughput(args).await? }));
    }
    let creds = (
        args.creds.access_key.as_str(),
        args.creds.secret_key.as_str(),
    );
    let clients: Vec<aws_sdk_s3::Client> = (0..SITES.len())
        .map(|i| {
            crate::client::build(
                &s3_endpoint(&args.s3, i)?,
                creds,
                None,
                Duration::from_secs(120),
            )
        })
        .collect::<Result<_>>()?;
    let mut admin = admin(args).await?;
    let _ = clients[0].create_bucket().bucket(BUCKET).send().await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(args.seed);
    let mut objects: Vec<(String, Bytes)> = Vec::new();
    for i in 0..args.objects {
        let mut buf = vec![0u8; args.size as usize];
        rng.fill(&mut buf[..]);
        let key = format!("obj-{i:04}");
        let body = Bytes::from(buf);
        clients[0]
            .put_object()
            .bucket(BUCKET)
            .key(&key)
            .body(body.clone().into())
            .send()
            .await
            .with_context(|| format!("PUT {key}"))?;
        objects.push((key, body));
    }
    let deadline = Instant::now() + Duration::from_secs(args.timeout_s);
    for (key, _) in &objects {
        while !holders(&mut admin, key).await?.1 {
            if Instant::now() > deadline {
                bail!("{key} not replicated in time");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let before = found(&mut admin).await?;

    // One fault in each of `faults` objects.
    let mut injected = Vec::new();
    let mut order: Vec<usize> = (0..objects.len()).collect();
    for i in (1..order.len()).rev() {
        order.swap(i, rng.random_range(0..=i));
    }
    for &o in order.iter().take(args.faults) {
        let (key, data) = &objects[o];
        let (sites, _) = holders(&mut admin, key).await?;
        let site_name = &sites[rng.random_range(0..sites.len())];
        let site = SITES
            .iter()
            .copied()
            .find(|s| s == site_name)
            .context("site name")?;
        let chunks: Vec<&[u8]> = data.chunks(args.chunk_size as usize).collect();
        let c = rng.random_range(0..chunks.len());
        let hash = blake3::hash(chunks[c]).to_hex().to_string();
        let file = chunk_file(&args.data_dir, site, &hash);
        let kind = match rng.random_range(0..3) {
            0 => Fault::FlipBit,
            1 => Fault::Truncate,
            _ => Fault::Delete,
        };
        match kind {
            Fault::FlipBit => {
                let mut b = std::fs::read(&file).with_context(|| format!("{}", file.display()))?;
                let at = rng.random_range(0..b.len());
                b[at] ^= 1 << rng.random_range(0..8);
                std::fs::write(&file, b)?;
            }
            Fault::Truncate => {
                let f = std::fs::OpenOptions::new().write(true).open(&file)?;
                f.set_len(rng.random_range(0..chunks[c].len() as u64))?;
            }
            Fault::Delete => std::fs::remove_file(&file)?,
        }
        injected.push(Injected {
            key: key.clone(),
            site,
            file,
            kind,
        });
    }
    let t0 = Instant::now();

    // Readers check every byte they are served while the faults are mended.
    let stop = Arc::new(AtomicBool::new(false));
    let (reads, wrong, errors) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
    );
    let objects = Arc::new(objects);
    let mut readers = Vec::new();
    for r in 0..2u64 {
        let (clients, objects, stop) = (clients.clone(), objects.clone(), stop.clone());
        let (reads, wrong, errors) = (reads.clone(), wrong.clone(), errors.clone());
        let seed = args.seed ^ (r + 1);
        readers.push(tokio::spawn(async move {
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            while !stop.load(Ordering::Relaxed) {
                let (key, want) = &objects[rng.random_range(0..objects.len())];
                let c = &clients[rng.random_range(0..clients.len())];
                let got = match c.get_object().bucket(BUCKET).key(key).send().await {
                    Ok(out) => out.body.collect().await.map(|b| b.into_bytes()).ok(),
                    Err(_) => None,
                };
                reads.fetch_add(1, Ordering::Relaxed);
                match got {
                    Some(b) if b == *want => {}
                    Some(_) => {
                        wrong.fetch_add(1, Ordering::Relaxed);
                    }
                    None => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }

    let (mut detected_s, mut repaired_s) = (None, None);
    let (mut detected, mut repaired) = (0u64, 0usize);
    while Instant::now() < deadline {
        detected = found(&mut admin).await? - before;
        if detected_s.is_none() && detected >= args.faults as u64 {
            detected_s = Some(t0.elapsed().as_secs_f64());
        }
        repaired = 0;
        for f in &injected {
            let (sites, all) = holders(&mut admin, &f.key).await?;
            if all && sites.iter().any(|s| s == f.site) && intact(&f.file) {
                repaired += 1;
            }
        }
        if repaired == injected.len() {
            repaired_s = Some(t0.elapsed().as_secs_f64());
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        let _ = r.await;
    }
    let count = |k: fn(&Fault) -> bool| injected.iter().filter(|f| k(&f.kind)).count();
    let status = admin
        .scrub_status(ScrubStatusRequest {})
        .await?
        .into_inner();
    let mut report = json!({
        "objects": args.objects, "object_bytes": args.size, "chunk_bytes": args.chunk_size,
        "faults": args.faults,
        "flipped_bits": count(|k| matches!(k, Fault::FlipBit)),
        "truncated": count(|k| matches!(k, Fault::Truncate)),
        "deleted": count(|k| matches!(k, Fault::Delete)),
        "detected": detected, "repaired": repaired,
        "all_detected_s": detected_s, "all_repaired_s": repaired_s,
        "reads": reads.load(Ordering::Relaxed),
        "wrong_reads": wrong.load(Ordering::Relaxed),
        "failed_reads": errors.load(Ordering::Relaxed),
        "repair_lost": status.repair_lost,
        "scrub_rate_bytes_per_s": status.sites.first().and_then(|s| s.progress.as_ref()).map(|p| p.rate_bytes_per_s),
    });
    if args.throughput_bytes > 0 {
        report["throughput"] = throughput(args).await?;
    }
    Ok(report)
}

/// Chunks the scrubbers found damaged so far, every site, every pass.
async fn found(admin: &mut Admin) -> Result<u64> {
    let s = admin
        .scrub_status(ScrubStatusRequest {})
        .await?
        .into_inner();
    Ok(s.sites
        .iter()
        .filter_map(|x| x.progress.as_ref())
        .map(|p| p.corrupt_total + p.missing_total)
        .sum())
}

/// One task re-hashing a store of `throughput_bytes` (4 MiB chunks).
async fn throughput(args: &ScrubArgs) -> Result<serde_json::Value> {
    let dir = tempfile::tempdir_in(&args.scratch)?;
    let store =
        meridian_data::SiteStore::open_local("bench", dir.path(), meridian_core::clock::system())?;
    const CHUNK: usize = 4 << 20;
    let n = (args.throughput_bytes as usize).div_ceil(CHUNK);
    let mut rng = rand::rngs::StdRng::seed_from_u64(args.seed);
    let mut hashes = Vec::with_capacity(n);
    for _ in 0..n {
        let mut b = vec![0u8; CHUNK];
        rng.fill(&mut b[..]);
        let c = meridian_core::Chunk::hash_of(Bytes::from(b));
        hashes.push(*c.hash());
        store.put(c).await?;
    }
    if args.cold {
        std::fs::write("/proc/sys/vm/drop_caches", "3")
            .context("dropping the page cache (root)")?;
    }
    let (cpu0, t0) = (cpu_seconds()?, Instant::now());
    let mut bytes = 0u64;
    for h in &hashes {
        match store.check(h).await? {
            meridian_data::ChunkCheck::Intact(b) => bytes += b,
            other => bail!("chunk {} found {other:?}", hex::encode(h)),
        }
    }
    let (wall, cpu) = (t0.elapsed().as_secs_f64(), cpu_seconds()? - cpu0);
    let mb = bytes as f64 / 1e6;
    Ok(json!({
        "bytes": bytes, "chunks": n, "cold_cache": args.cold,
        "wall_s": wall, "cpu_s": cpu,
        "mb_per_s": mb / wall,
        "mb_per_cpu_s": if cpu > 0.0 { mb / cpu } else { f64::NAN },
    }))
}
