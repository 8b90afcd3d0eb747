//! SIGKILL while writes are in flight, restart on the same data directory,
//! and check the promise of an acknowledged PUT: it is listed, reads back
//! byte-identical, and its replicas complete; an unacknowledged PUT is either
//! invisible or whole.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;
use meridian_chaos_tests::data::{blake3_hex, random_bytes, seed_of};
use meridian_chaos_tests::s3::{self, S3Options};
use meridian_chaos_tests::wait::{poll_until, Check};
use meridian_chaos_tests::{DevCluster, DevOptions, Site};
use rand::Rng;

const BUCKET: &str = "chaos-kill9";
const CHUNK: usize = 256 * 1024;
/// Slow enough that replicas of the larger objects are still in transit
/// when the process dies, fast enough that the backlog drains in seconds.
const LINK_SCALE: f64 = 0.05;
const WRITERS: usize = 8;
const MAX_PUTS_PER_WRITER: usize = 400;
/// Around the chunk boundary, and several chunks long.
const SIZES: [usize; 8] = [
    1,
    4096,
    100_000,
    CHUNK,
    CHUNK + 1,
    700_000,
    1_048_579,
    3 * 1024 * 1024 - 5,
];
const COPIES: usize = 3;
/// Acknowledgements (in the round) after which the process is killed: one
/// range per round, so the kill lands early, mid-way and late.
const KILL_AFTER_ACKS: [(usize, usize); 3] = [(1, 6), (15, 40), (40, 90)];
const ACK_TIMEOUT: Duration = Duration::from_secs(120);
const WRITER_EXIT_TIMEOUT: Duration = Duration::from_secs(120);
const REPLICATION_TIMEOUT: Duration = Duration::from_secs(300);
const READERS: usize = 8;

#[derive(Clone, Debug)]
struct Attempt {
    site: Site,
    size: usize,
    blake3: String,
    acked: bool,
}

/// Every PUT ever started, and whether its success response arrived.
#[derive(Default)]
struct Ledger {
    attempts: Mutex<BTreeMap<String, Attempt>>,
    acked: AtomicUsize,
    /// Failures seen before the kill: the server failed on its own.
    early_errors: Mutex<Vec<String>>,
}

impl Ledger {
    fn begin(&self, key: &str, attempt: Attempt) {
        self.lock().insert(key.to_string(), attempt);
    }

    fn ack(&self, key: &str) {
        if let Some(a) = self.lock().get_mut(key) {
            a.acked = true;
        }
        self.acked.fetch_add(1, Ordering::SeqCst);
    }

    fn snapshot(&self) -> BTreeMap<String, Attempt> {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Attempt>> {
        self.attempts.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_writes_survive_sigkill() -> Result<()> {
    let opts = DevOptions::default()
        .with_link_scale(LINK_SCALE)
        .with_chunk_size("256KiB");
    let mut cluster = DevCluster::start_serving(opts).await?;
    s3::create_bucket(&cluster.s3(Site::Beijing), BUCKET).await?;
    let ledger = Arc::new(Ledger::default());

    for (round, &(lo, hi)) in KILL_AFTER_ACKS.iter().enumerate() {
        let kill_after = rand::rng().random_range(lo..=hi);
        write_and_kill(&mut cluster, &ledger, round, kill_after)
            .await
            .with_context(|| {
                format!("round {round}: writing, then SIGKILL after {kill_after} acks")
            })?;
        cluster
            .restart_serving()
            .await
            .with_context(|| format!("round {round}: restart"))?;
        verify(&cluster, &ledger)
            .await
            .with_context(|| format!("round {round}: after restart"))?;
    }

    // The restarted server still takes writes.
    let data = random_bytes(7, 3 * CHUNK + 11);
    let client = cluster.s3(Site::Dongguan);
    s3::put_bytes(&client, BUCKET, "after-last-restart", data.clone()).await?;
    let back = s3::get_bytes(&client, BUCKET, "after-last-restart").await?;
    assert!(
        back == data,
        "write after the last restart reads back different bytes"
    );
    Ok(())
}

async fn write_and_kill(
    cluster: &mut DevCluster,
    ledger: &Arc<Ledger>,
    round: usize,
    kill_after: usize,
) -> Result<()> {
    // No retries: an error must mean this attempt failed, not a later one.
    let opts = S3Options::default().without_retries();
    let clients: Arc<Vec<Client>> = Arc::new(
        Site::ALL
            .iter()
            .map(|&s| cluster.s3_with(s, &opts))
            .collect(),
    );
    let killed = Arc::new(AtomicBool::new(false));
    let acked_before = ledger.acked.load(Ordering::SeqCst);

    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            tokio::spawn(writer(
                w,
                round,
                Arc::clone(&clients),
                Arc::clone(ledger),
                Arc::clone(&killed),
            ))
        })
        .collect();

    let target = acked_before + kill_after;
    let (ledger_ref, writers_ref) = (ledger.as_ref(), &writers);
    let waited = poll_until(
        &format!("{kill_after} acknowledged PUTs"),
        ACK_TIMEOUT,
        Duration::from_millis(2),
        || async move {
            if ledger_ref.acked.load(Ordering::SeqCst) >= target {
                return Ok(Check::Done(true));
            }
            if writers_ref.iter().all(|h| h.is_finished()) {
                return Ok(Check::Done(false));
            }
            Ok(Check::NotYet(format!(
                "{} acked",
                ledger_ref.acked.load(Ordering::SeqCst) - acked_before
            )))
        },
    )
    .await;
    if !matches!(waited, Ok(true)) {
        let early = ledger
            .early_errors
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let why = match waited {
            Err(e) => format!("{e:#}"),
            Ok(_) => "every writer stopped before the kill".to_string(),
        };
        bail!("{why}\nwriter errors: {early:#?}");
    }

    // A little jitter so that the kill does not always follow an ack.
    let jitter = rand::rng().random_range(0..25);
    tokio::time::sleep(Duration::from_millis(jitter)).await;
    // Set before the kill: any error a writer sees after this may be the kill's doing.
    killed.store(true, Ordering::SeqCst);
    cluster.kill9()?;

    let deadline = Instant::now() + WRITER_EXIT_TIMEOUT;
    for h in writers {
        let left = deadline.saturating_duration_since(Instant::now());
        tokio::time::timeout(left, h)
            .await
            .context("a writer did not stop after the kill")?
            .context("a writer panicked")?;
    }

    let early = ledger
        .early_errors
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    if !early.is_empty() {
        bail!("PUTs failed before the kill: {early:#?}");
    }
    let all = ledger.snapshot();
    let prefix = format!("r{round}/");
    let this_round: Vec<&Attempt> = all
        .iter()
        .filter(|(k, _)| k.starts_with(&prefix))
        .map(|(_, a)| a)
        .collect();
    eprintln!(
        "round {round}: killed after {} acks (+{jitter} ms); {} PUTs started, {} unacknowledged",
        ledger.acked.load(Ordering::SeqCst) - acked_before,
        this_round.len(),
        this_round.iter().filter(|a| !a.acked).count()
    );
    Ok(())
}

async fn writer(
    w: usize,
    round: usize,
    clients: Arc<Vec<Client>>,
    ledger: Arc<Ledger>,
    killed: Arc<AtomicBool>,
) {
    for i in 0..MAX_PUTS_PER_WRITER {
        if killed.load(Ordering::SeqCst) {
            return;
        }
        let key = format!("r{round}/w{w}/o{i:04}");
        let seed = seed_of(&key);
        let size = SIZES[(seed % SIZES.len() as u64) as usize];
        let site = Site::ALL[(w + i) % Site::ALL.len()];
        let data = random_bytes(seed, size);
        ledger.begin(
            &key,
            Attempt {
                site,
                size,
                blake3: blake3_hex(&data),
                acked: false,
            },
        );
        let res = clients[usize::from(site.index())]
            .put_object()
            .bucket(BUCKET)
            .key(&key)
            .body(ByteStream::from(data))
            .send()
            .await;
        match res {
            Ok(_) => ledger.ack(&key),
            Err(e) => {
                if !killed.load(Ordering::SeqCst) {
                    let msg = format!("{key} at {site}: {}", s3::describe_error(&e));
                    ledger
                        .early_errors
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(msg);
                }
                return;
            }
        }
    }
}

/// What a key looked like after the restart.
enum Seen {
    Absent,
    Whole,
}

async fn verify(cluster: &DevCluster, ledger: &Ledger) -> Result<()> {
    let attempts = ledger.snapshot();
    let clients: Vec<Client> = Site::ALL.iter().map(|&s| cluster.s3(s)).collect();
    let listed: BTreeSet<String> = s3::list_all_keys(&clients[0], BUCKET, None)
        .await?
        .into_iter()
        .collect();

    let mut problems: Vec<String> = listed
        .iter()
        .filter(|k| !attempts.contains_key(*k))
        .map(|k| format!("{k:?} is listed but was never written"))
        .collect();

    let results = read_all(&clients, &attempts).await?;
    let mut visible = Vec::new();
    let mut unacked_visible = 0usize;
    for (key, result) in results {
        let a = &attempts[&key];
        match (result, a.acked, listed.contains(&key)) {
            (Err(e), _, _) => problems.push(format!("{key}: {e:#}")),
            (Ok(Seen::Absent), true, _) => {
                problems.push(format!("{key}: acknowledged but not found"))
            }
            (Ok(Seen::Absent), false, true) => {
                problems.push(format!("{key}: listed but HEAD says 404"))
            }
            (Ok(Seen::Absent), false, false) => {}
            (Ok(Seen::Whole), acked, in_list) => {
                if !in_list {
                    problems.push(format!("{key}: readable but not listed"));
                }
                if !acked {
                    unacked_visible += 1;
                }
                visible.push(key);
            }
        }
    }
    if !problems.is_empty() {
        bail!(
            "{} problems after restart:\n{}",
            problems.len(),
            problems.join("\n")
        );
    }
    eprintln!(
        "verified {} objects ({} acknowledged, {unacked_visible} unacknowledged but whole)",
        visible.len(),
        attempts.values().filter(|a| a.acked).count()
    );
    wait_replicated(cluster, &attempts, visible).await
}

/// HEADs (for unacknowledged keys) and GETs every attempted key, several at a time.
async fn read_all(
    clients: &[Client],
    attempts: &BTreeMap<String, Attempt>,
) -> Result<Vec<(String, Result<Seen>)>> {
    let keys: Vec<(String, Attempt)> = attempts
        .iter()
        .map(|(k, a)| (k.clone(), a.clone()))
        .collect();
    let per_task = keys.len().div_ceil(READERS).max(1);
    let mut tasks = Vec::new();
    for group in keys.chunks(per_task) {
        let group = group.to_vec();
        let clients = clients.to_vec();
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::with_capacity(group.len());
            for (key, a) in group {
                let seen = read_one(&clients[usize::from(a.site.index())], &key, &a).await;
                out.push((key, seen));
            }
            out
        }));
    }
    let mut all = Vec::with_capacity(keys.len());
    for t in tasks {
        all.extend(t.await.context("a reader panicked")?);
    }
    Ok(all)
}

async fn read_one(client: &Client, key: &str, a: &Attempt) -> Result<Seen> {
    if !a.acked {
        match client.head_object().bucket(BUCKET).key(key).send().await {
            Ok(_) => {}
            Err(e) if s3::http_status(&e) == Some(404) => return Ok(Seen::Absent),
            Err(e) => bail!("HEAD: {}", s3::describe_error(&e)),
        }
    }
    let body = s3::get_bytes(client, BUCKET, key).await?;
    let what = if a.acked {
        "acknowledged"
    } else {
        "unacknowledged but visible"
    };
    if body.len() != a.size {
        bail!("{what}: {} bytes, wrote {}", body.len(), a.size);
    }
    if blake3_hex(&body) != a.blake3 {
        bail!("{what}: content differs from what was written");
    }
    Ok(Seen::Whole)
}

/// Replication that was pending at the kill resumes: every visible object
/// reaches `COPIES` complete replicas, and the catalogue's hash is the content's.
async fn wait_replicated(
    cluster: &DevCluster,
    attempts: &BTreeMap<String, Attempt>,
    keys: Vec<String>,
) -> Result<()> {
    let ctl = cluster.ctl();
    let deadline = Instant::now() + REPLICATION_TIMEOUT;
    let mut pending = keys;
    let mut checked_hash = BTreeSet::new();
    loop {
        let mut still = Vec::new();
        let mut example = String::new();
        for key in pending {
            let a = &attempts[&key];
            match ctl.object_stat(BUCKET, &key).await {
                Ok(stat) => {
                    if checked_hash.insert(key.clone())
                        && (stat.blake3 != a.blake3 || stat.size != a.size as u64)
                    {
                        bail!(
                            "{key}: object stat says size {} blake3 {}, wrote size {} blake3 {}",
                            stat.size,
                            stat.blake3,
                            a.size,
                            a.blake3
                        );
                    }
                    if !stat.fully_replicated(COPIES) {
                        example = format!("{key}: {}", stat.replica_summary());
                        still.push(key);
                    }
                }
                Err(e) => {
                    example = format!("{key}: {e:#}");
                    still.push(key);
                }
            }
        }
        if still.is_empty() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!(
                "{} objects not fully replicated within {REPLICATION_TIMEOUT:?}, e.g. {example}",
                still.len()
            );
        }
        pending = still;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
