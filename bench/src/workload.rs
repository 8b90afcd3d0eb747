//! The timed object workload: C workers issue back-to-back requests, over
//! the S3 API or the gRPC client API, until the duration ends; each
//! request's latency is recorded.

use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;
use bytes::Bytes;
use rand::RngCore;

use crate::cli::{Op, Protocol, S3Run};
use crate::client;
use crate::grpc::GrpcClient;
use crate::report::Report;
use crate::size::label;
use crate::stats;

/// A GET working set is at most this many objects and this many bytes.
const MAX_WORKING_SET_OBJECTS: u64 = 256;
const MAX_WORKING_SET_BYTES: u64 = 1 << 30;
/// PUT workers cycle over this many keys each, so a long run does not fill the disk.
const PUT_KEYS_PER_WORKER: u64 = 8;
/// One request may take at most this long; beyond it, it is an error.
const OP_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Default)]
struct WorkerTally {
    latencies_ms: Vec<f64>,
    errors: u64,
    first_error: Option<String>,
}

impl WorkerTally {
    fn error(&mut self, msg: String) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(msg);
        }
    }
}

/// What the workers call.
#[derive(Clone)]
enum Target {
    S3(Client),
    Grpc(GrpcClient),
}

impl Target {
    async fn connect(cfg: &S3Run) -> Result<Target> {
        Ok(match cfg.protocol {
            Protocol::S3 => Target::S3(client::build(
                &cfg.endpoint,
                (&cfg.creds.access_key, &cfg.creds.secret_key),
                cfg.creds.ca_cert.as_deref(),
                OP_TIMEOUT,
            )?),
            Protocol::Grpc => Target::Grpc(
                GrpcClient::connect(
                    &cfg.endpoint,
                    cfg.creds.ca_cert.as_deref(),
                    (&cfg.creds.access_key, &cfg.creds.secret_key),
                )
                .await?,
            ),
        })
    }

    async fn put(&self, bucket: &str, key: &str, body: Bytes) -> Result<()> {
        match self {
            Target::S3(c) => put(c, bucket, key, body).await,
            Target::Grpc(c) => c.put(bucket, key, body).await,
        }
    }

    async fn get(&self, bucket: &str, key: &str, size: u64) -> Result<()> {
        match self {
            Target::S3(c) => get(c, bucket, key, size).await,
            Target::Grpc(c) => c.get(bucket, key, size).await,
        }
    }

    async fn list(&self, bucket: &str, prefix: &str, want: usize) -> Result<()> {
        match self {
            Target::S3(c) => list(c, bucket, prefix, want).await,
            Target::Grpc(c) => c.list(bucket, prefix, want).await,
        }
    }

    async fn ensure_bucket(&self, bucket: &str) -> Result<()> {
        match self {
            Target::S3(c) => ensure_bucket(c, bucket).await,
            Target::Grpc(c) => c.ensure_bucket(bucket).await,
        }
    }
}

pub async fn run(cfg: &S3Run) -> Result<Report> {
    let client = Target::connect(cfg).await?;
    client.ensure_bucket(&cfg.bucket).await?;
    let payload = random_payload(cfg.size);
    let keys = match cfg.op {
        Op::Get => upload_working_set(&client, cfg, &payload, "get").await?,
        Op::List => upload_working_set(&client, cfg, &payload, "list").await?,
        Op::Put => Vec::new(),
    };

    let start = Instant::now();
    let deadline = start + cfg.duration;
    let mut handles = Vec::with_capacity(cfg.concurrency);
    for w in 0..cfg.concurrency {
        // A connection of its own per gRPC worker, as the S3 client's pool
        // gives each request in flight one.
        let client = match cfg.protocol {
            Protocol::S3 => client.clone(),
            Protocol::Grpc => Target::connect(cfg).await?,
        };
        let payload = payload.clone();
        let keys = keys.clone();
        let cfg = cfg.clone();
        handles.push(tokio::spawn(async move {
            worker(w, &cfg, &client, payload, &keys, deadline).await
        }));
    }

    let mut all = WorkerTally::default();
    // In-flight requests at the deadline may finish, within their own timeout.
    let join_deadline = deadline + OP_TIMEOUT + Duration::from_secs(10);
    for h in handles {
        let left = join_deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, h).await {
            Ok(Ok(t)) => {
                all.latencies_ms.extend(t.latencies_ms);
                all.errors += t.errors;
                if all.first_error.is_none() {
                    all.first_error = t.first_error;
                }
            }
            Ok(Err(e)) => all.error(format!("worker panicked: {e}")),
            Err(_) => all.error("worker did not stop in time".to_string()),
        }
    }
    let elapsed = start.elapsed();
    if let Some(e) = &all.first_error {
        eprintln!("meridian-bench: {} errors; first: {e}", all.errors);
    }
    stats::sort(&mut all.latencies_ms);
    Ok(Report::new(cfg, elapsed, &all.latencies_ms, all.errors))
}

async fn worker(
    w: usize,
    cfg: &S3Run,
    client: &Target,
    payload: Bytes,
    keys: &[String],
    deadline: Instant,
) -> WorkerTally {
    let mut tally = WorkerTally::default();
    let mut i: u64 = 0;
    while Instant::now() < deadline {
        let t0 = Instant::now();
        let result = match cfg.op {
            Op::Put => {
                let key = format!(
                    "bench/put/{}/w{w}/k{}",
                    label(cfg.size),
                    i % PUT_KEYS_PER_WORKER
                );
                client.put(&cfg.bucket, &key, payload.clone()).await
            }
            Op::Get => {
                let key = &keys[(w + i as usize) % keys.len()];
                client.get(&cfg.bucket, key, cfg.size).await
            }
            Op::List => {
                client
                    .list(&cfg.bucket, &list_prefix(cfg.size), keys.len())
                    .await
            }
        };
        match result {
            Ok(()) => tally.latencies_ms.push(t0.elapsed().as_secs_f64() * 1000.0),
            Err(e) => tally.error(format!("{e:#}")),
        }
        i += 1;
    }
    tally
}

async fn put(client: &Client, bucket: &str, key: &str, body: Bytes) -> Result<()> {
    client
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(body))
        .send()
        .await
        .map_err(|e| anyhow!("PUT {key}: {}", DisplayErrorContext(&e)))?;
    Ok(())
}

async fn get(client: &Client, bucket: &str, key: &str, size: u64) -> Result<()> {
    let out = client
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| anyhow!("GET {key}: {}", DisplayErrorContext(&e)))?;
    let body = out
        .body
        .collect()
        .await
        .with_context(|| format!("GET {key}: body"))?;
    let got = body.into_bytes().len() as u64;
    if got != size {
        bail!("GET {key}: {got} bytes, expected {size}");
    }
    Ok(())
}

fn list_prefix(size: u64) -> String {
    format!("bench/list/{}/", label(size))
}

/// One page of the listing working set; all of it must be there.
async fn list(client: &Client, bucket: &str, prefix: &str, want: usize) -> Result<()> {
    let out = client
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .max_keys(1000)
        .send()
        .await
        .map_err(|e| anyhow!("LIST {prefix}: {}", DisplayErrorContext(&e)))?;
    let got = out.contents().len();
    if got != want {
        bail!("LIST {prefix}: {got} keys, expected {want}");
    }
    Ok(())
}

async fn ensure_bucket(client: &Client, bucket: &str) -> Result<()> {
    if client.head_bucket().bucket(bucket).send().await.is_ok() {
        return Ok(());
    }
    match client.create_bucket().bucket(bucket).send().await {
        Ok(_) => Ok(()),
        // Created by a concurrent run between our HEAD and CREATE.
        Err(e)
            if matches!(
                e.code(),
                Some("BucketAlreadyOwnedByYou") | Some("BucketAlreadyExists")
            ) =>
        {
            Ok(())
        }
        Err(e) => bail!("creating bucket {bucket}: {}", DisplayErrorContext(&e)),
    }
}

/// Keys the LIST working set holds at most (one full page).
const LIST_KEYS: u64 = 1000;

fn working_set_len(size: u64, concurrency: usize) -> u64 {
    let by_bytes = MAX_WORKING_SET_BYTES / size.max(1);
    (2 * concurrency as u64)
        .clamp(4, MAX_WORKING_SET_OBJECTS)
        .min(by_bytes)
        .max(1)
}

/// Uploads the objects GET (or LIST) workers read, `concurrency` at a
/// time. Not timed.
async fn upload_working_set(
    client: &Target,
    cfg: &S3Run,
    payload: &Bytes,
    what: &str,
) -> Result<Vec<String>> {
    let n = if what == "list" {
        LIST_KEYS
            .min(MAX_WORKING_SET_BYTES / cfg.size.max(1))
            .max(1)
    } else {
        working_set_len(cfg.size, cfg.concurrency)
    };
    let keys: Vec<String> = (0..n)
        .map(|i| format!("bench/{what}/{}/{i}", label(cfg.size)))
        .collect();
    for batch in keys.chunks(cfg.concurrency) {
        let mut tasks = Vec::with_capacity(batch.len());
        for key in batch {
            let (client, bucket, key, body) = (
                client.clone(),
                cfg.bucket.clone(),
                key.clone(),
                payload.clone(),
            );
            tasks.push(tokio::spawn(async move {
                client.put(&bucket, &key, body).await
            }));
        }
        for t in tasks {
            t.await
                .context("an upload task panicked")?
                .context("uploading the GET working set")?;
        }
    }
    Ok(keys)
}

/// Random so that neither compression nor chunk dedupe flatters the numbers.
fn random_payload(size: u64) -> Bytes {
    let mut buf = vec![0u8; size as usize];
    rand::rng().fill_bytes(&mut buf);
    Bytes::from(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn working_set_is_bounded() {
        assert_eq!(working_set_len(4096, 1), 4);
        assert_eq!(working_set_len(4096, 16), 32);
        assert_eq!(working_set_len(4096, 1000), MAX_WORKING_SET_OBJECTS);
        assert_eq!(working_set_len(64 << 20, 64), 16);
        assert_eq!(working_set_len(1 << 30, 8), 1);
    }
}
