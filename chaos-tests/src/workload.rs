//! A workload for the chaos matrix: workers doing PUT, GET, DELETE and LIST
//! over S3 and the gRPC client API on a small set of keys, at several
//! sites at once, each operation written to a history (what, on which key,
//! at which site, through which API, when it began and ended, how it came
//! out) that the linearizability checker reads and a file keeps.
//!
//! A value is named by its BLAKE3, so a GET that returns bytes nobody PUT
//! under that key (half-written, or another key's) cannot be explained by
//! any order and the checker refuses it. A write that fails is "unknown"
//! (it may have committed before the error); a read that fails is left out.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use bytes::Bytes;
use rand::{Rng, SeedableRng};
use serde_json::json;

use crate::grpc::Api;
use crate::linearizable::{Event, Op, Outcome};
use crate::sites::Site;

/// One recorded operation.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub worker: usize,
    pub site: Site,
    pub api: &'static str,
    pub event: Event,
    /// LISTs are recorded but not checked as registers: the keys listed.
    pub listed: Option<Vec<String>>,
    /// The error, for one that failed.
    pub error: String,
}

/// The history of a run, shared by its workers.
pub struct History {
    t0: Instant,
    ops: Mutex<Vec<Recorded>>,
}

impl History {
    pub fn new() -> Arc<History> {
        Arc::new(History {
            t0: Instant::now(),
            ops: Mutex::new(Vec::new()),
        })
    }

    /// Nanoseconds since the history began.
    pub fn now(&self) -> u64 {
        u64::try_from(self.t0.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    pub fn record(&self, r: Recorded) {
        self.ops.lock().unwrap_or_else(|p| p.into_inner()).push(r);
    }

    pub fn recorded(&self) -> Vec<Recorded> {
        self.ops.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The single-key operations, for the checker.
    pub fn events(&self) -> Vec<Event> {
        self.recorded()
            .into_iter()
            .filter(|r| r.listed.is_none())
            .map(|r| r.event)
            .collect()
    }

    /// Writes the history as JSON lines.
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut out = String::new();
        for r in self.recorded() {
            let (op, value) = match &r.event.op {
                Op::Put(v) => ("put", Some(v.clone())),
                Op::Delete => ("delete", None),
                Op::Get(v) => ("get", v.clone()),
            };
            let line = json!({
                "worker": r.worker, "site": r.site.name(), "api": r.api,
                "op": if r.listed.is_some() { "list" } else { op },
                "key": r.event.key, "value": value, "listed": r.listed,
                "start_ns": r.event.start, "end_ns": r.event.end,
                "outcome": format!("{:?}", r.event.outcome), "error": r.error,
            });
            out.push_str(&line.to_string());
            out.push('\n');
        }
        std::fs::write(path, out).with_context(|| format!("writing {}", path.display()))
    }
}

/// Where a worker sends its requests.
pub struct Target {
    pub site: Site,
    pub s3: aws_sdk_s3::Client,
    pub grpc: String,
}

/// The workload's shape.
#[derive(Debug, Clone)]
pub struct Shape {
    pub bucket: String,
    pub keys: usize,
    pub max_value: usize,
    pub seed: u64,
    /// A request that takes longer is abandoned (its outcome unknown).
    pub op_timeout: Duration,
}

fn key_name(i: usize) -> String {
    format!("k{i:02}")
}

/// Runs one worker per target until `stop` is set.
pub async fn run(
    targets: Vec<Target>,
    shape: Shape,
    history: Arc<History>,
    stop: Arc<AtomicBool>,
) -> Result<()> {
    let mut tasks = tokio::task::JoinSet::new();
    for (w, t) in targets.into_iter().enumerate() {
        let (shape, history, stop) = (shape.clone(), history.clone(), stop.clone());
        tasks.spawn(async move { worker(w, t, shape, history, stop).await });
    }
    while let Some(r) = tasks.join_next().await {
        r.context("a worker panicked")??;
    }
    Ok(())
}

async fn worker(
    w: usize,
    t: Target,
    shape: Shape,
    history: Arc<History>,
    stop: Arc<AtomicBool>,
) -> Result<()> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(shape.seed ^ ((w as u64 + 1) * 0x9E37));
    let mut grpc: Option<Api> = None;
    while !stop.load(Ordering::Relaxed) {
        let key = key_name(rng.random_range(0..shape.keys));
        let use_grpc = rng.random_bool(0.4);
        let roll = rng.random_range(0..100);
        let api = if use_grpc { "grpc" } else { "s3" };
        if use_grpc && grpc.is_none() {
            grpc = Api::connect(&t.grpc).await.ok();
        }
        let start = history.now();
        let (op, outcome, listed, error) = if roll < 40 {
            let len = rng.random_range(1..=shape.max_value);
            let mut buf = vec![0u8; len];
            rng.fill(&mut buf[..]);
            let value = blake3::hash(&buf).to_hex().to_string();
            let body = Bytes::from(buf);
            let r = match (use_grpc, grpc.as_mut()) {
                (true, Some(api)) => {
                    timed(
                        shape.op_timeout,
                        grpc_put(api, &shape.bucket, &key, t.site, body),
                    )
                    .await
                }
                (true, None) => Err("no gRPC connection".to_string()),
                _ => timed(shape.op_timeout, s3_put(&t.s3, &shape.bucket, &key, body)).await,
            };
            match r {
                Ok(()) => (Op::Put(value), Outcome::Ok, None, String::new()),
                Err(e) => (Op::Put(value), Outcome::Unknown, None, e),
            }
        } else if roll < 80 {
            let r = match (use_grpc, grpc.as_mut()) {
                (true, Some(api)) => {
                    timed(shape.op_timeout, grpc_get(api, &shape.bucket, &key, t.site)).await
                }
                (true, None) => Err("no gRPC connection".to_string()),
                _ => timed(shape.op_timeout, s3_get(&t.s3, &shape.bucket, &key)).await,
            };
            match r {
                Ok(v) => (Op::Get(v), Outcome::Ok, None, String::new()),
                Err(e) => (Op::Get(None), Outcome::Failed, None, e),
            }
        } else if roll < 92 {
            let r = match (use_grpc, grpc.as_mut()) {
                (true, Some(api)) => {
                    timed(shape.op_timeout, grpc_delete(api, &shape.bucket, &key)).await
                }
                (true, None) => Err("no gRPC connection".to_string()),
                _ => timed(shape.op_timeout, s3_delete(&t.s3, &shape.bucket, &key)).await,
            };
            match r {
                Ok(()) => (Op::Delete, Outcome::Ok, None, String::new()),
                Err(e) => (Op::Delete, Outcome::Unknown, None, e),
            }
        } else {
            let r = match (use_grpc, grpc.as_mut()) {
                (true, Some(api)) => timed(shape.op_timeout, grpc_list(api, &shape.bucket)).await,
                (true, None) => Err("no gRPC connection".to_string()),
                _ => timed(shape.op_timeout, s3_list(&t.s3, &shape.bucket)).await,
            };
            match r {
                Ok(keys) => (Op::Get(None), Outcome::Ok, Some(keys), String::new()),
                Err(e) => (Op::Get(None), Outcome::Failed, Some(Vec::new()), e),
            }
        };
        if use_grpc && !error.is_empty() {
            // A broken channel is made again for the next call.
            grpc = None;
        }
        let end = history.now();
        history.record(Recorded {
            worker: w,
            site: t.site,
            api,
            event: Event {
                key: if listed.is_some() { String::new() } else { key },
                op,
                start,
                end,
                outcome,
            },
            listed,
            error,
        });
        if outcome != Outcome::Ok {
            // Do not spin against a site that refuses everything.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    Ok(())
}

async fn timed<T>(
    limit: Duration,
    f: impl std::future::Future<Output = Result<T, String>>,
) -> Result<T, String> {
    match tokio::time::timeout(limit, f).await {
        Ok(r) => r,
        Err(_) => Err(format!("no answer within {limit:?}")),
    }
}

async fn s3_put(
    c: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    body: Bytes,
) -> Result<(), String> {
    c.put_object()
        .bucket(bucket)
        .key(key)
        .body(body.into())
        .send()
        .await
        .map(drop)
        .map_err(|e| crate::s3::describe_error(&e))
}

async fn s3_get(c: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Result<Option<String>, String> {
    match c.get_object().bucket(bucket).key(key).send().await {
        Ok(out) => {
            let body = out
                .body
                .collect()
                .await
                .map_err(|e| e.to_string())?
                .into_bytes();
            Ok(Some(blake3::hash(&body).to_hex().to_string()))
        }
        Err(e) => {
            let text = crate::s3::describe_error(&e);
            if text.contains("NoSuchKey") {
                Ok(None)
            } else {
                Err(text)
            }
        }
    }
}

async fn s3_delete(c: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Result<(), String> {
    c.delete_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map(drop)
        .map_err(|e| crate::s3::describe_error(&e))
}

async fn s3_list(c: &aws_sdk_s3::Client, bucket: &str) -> Result<Vec<String>, String> {
    let out = c
        .list_objects_v2()
        .bucket(bucket)
        .send()
        .await
        .map_err(|e| crate::s3::describe_error(&e))?;
    Ok(out
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_string))
        .collect())
}

async fn grpc_put(
    api: &mut Api,
    bucket: &str,
    key: &str,
    site: Site,
    body: Bytes,
) -> Result<(), String> {
    use meridian_proto::v1::put_request::Frame;
    use meridian_proto::v1::{PutHeader, PutRequest};
    let frames = vec![
        PutRequest {
            frame: Some(Frame::Header(PutHeader {
                bucket: bucket.into(),
                key: key.into(),
                site: site.name().into(),
                ..Default::default()
            })),
        },
        PutRequest {
            frame: Some(Frame::Data(body)),
        },
    ];
    api.put(frames)
        .await
        .map(drop)
        .map_err(|s| format!("{}: {}", s.code(), s.message()))
}

async fn grpc_get(
    api: &mut Api,
    bucket: &str,
    key: &str,
    site: Site,
) -> Result<Option<String>, String> {
    let r = meridian_proto::v1::GetRequest {
        bucket: bucket.into(),
        key: key.into(),
        site: site.name().into(),
        whole_chunks: true,
        ..Default::default()
    };
    match api.read_verified(r).await {
        Ok((_, body, _)) => Ok(Some(blake3::hash(&body).to_hex().to_string())),
        Err(e) => {
            let text = format!("{e:#}");
            if text.contains("NotFound") || text.contains("not found") {
                Ok(None)
            } else {
                Err(text)
            }
        }
    }
}

async fn grpc_delete(api: &mut Api, bucket: &str, key: &str) -> Result<(), String> {
    let r = meridian_proto::v1::DeleteRequest {
        bucket: bucket.into(),
        key: key.into(),
    };
    api.delete(r)
        .await
        .map(drop)
        .map_err(|s| format!("{}: {}", s.code(), s.message()))
}

async fn grpc_list(api: &mut Api, bucket: &str) -> Result<Vec<String>, String> {
    let r = meridian_proto::v1::ListRequest {
        bucket: bucket.into(),
        ..Default::default()
    };
    let out = api
        .list(r)
        .await
        .map_err(|s| format!("{}: {}", s.code(), s.message()))?
        .into_inner();
    Ok(out.objects.into_iter().map(|o| o.key).collect())
}
