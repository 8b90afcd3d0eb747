//! Group commit: concurrent writes ride one Raft entry.
//!
//! Callers queue single commands; a batcher takes everything queued (up to
//! `max_batch`) into one `CommandBatch`, so one log append and one fsync
//! serve many writers. A bounded number of batches are in flight at once;
//! while they are, new commands accumulate, so batches grow with load and
//! an idle system adds no delay. The queue is bounded: when it is full,
//! callers wait (back-pressure), never an unbounded buffer.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use meridian_proto::v1::{Command, CommandBatch};
use openraft::Raft;
use tokio::sync::{mpsc, oneshot, Semaphore};

use crate::forward::LeaderLink;
use crate::types::{Outcome, Request, TypeConfig};
use crate::MetaError;

#[derive(Debug, Clone)]
pub struct CommitConfig {
    /// Most commands in one Raft entry.
    pub max_batch: usize,
    /// Batches being committed at once.
    pub max_in_flight: usize,
    /// Commands waiting to be batched before callers are held back.
    pub queue: usize,
    /// Extra time a batch may wait for company when it is not full. Zero
    /// by default: batching comes from load, not from delay.
    pub linger: Duration,
}

impl Default for CommitConfig {
    fn default() -> Self {
        CommitConfig {
            max_batch: 1024,
            max_in_flight: 4,
            queue: 65_536,
            linger: Duration::ZERO,
        }
    }
}

impl CommitConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self.max_batch == 0 || self.max_in_flight == 0 || self.queue == 0 {
            return Err("max_batch, max_in_flight and queue are at least 1".into());
        }
        if self.linger > Duration::from_millis(100) {
            return Err(format!(
                "linger {:?} is above the 100 ms bound",
                self.linger
            ));
        }
        Ok(())
    }
}

/// The longest a batch waits for its commit at the leader.
const COMMIT_TIMEOUT: Duration = Duration::from_secs(10);

/// Counters of the batcher, for status and benchmarks.
#[derive(Debug, Default)]
pub struct CommitStats {
    pub batches: AtomicU64,
    pub commands: AtomicU64,
}

struct Pending {
    command: Command,
    reply: oneshot::Sender<Result<Outcome, MetaError>>,
}

pub struct Committer {
    tx: mpsc::Sender<Pending>,
    stats: Arc<CommitStats>,
}

impl Committer {
    /// `link`: how this node reaches the leader when it does not lead
    /// (batches are then forwarded whole); `None` for a lone voter.
    pub fn start(raft: Raft<TypeConfig>, cfg: CommitConfig, link: Option<Arc<LeaderLink>>) -> Self {
        let (tx, rx) = mpsc::channel(cfg.queue);
        let stats = Arc::new(CommitStats::default());
        tokio::spawn(run(raft, link, rx, cfg, stats.clone()));
        Committer { tx, stats }
    }

    pub fn stats(&self) -> &CommitStats {
        &self.stats
    }

    /// Commits one command, batched with whatever else is waiting.
    pub async fn submit(&self, command: Command) -> Result<Outcome, MetaError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Pending { command, reply })
            .await
            .map_err(|_| MetaError::Unavailable("the commit queue is closed".into()))?;
        rx.await.map_err(|_| {
            MetaError::Unavailable("the commit was abandoned (shutting down)".into())
        })?
    }
}

async fn run(
    raft: Raft<TypeConfig>,
    link: Option<Arc<LeaderLink>>,
    mut rx: mpsc::Receiver<Pending>,
    cfg: CommitConfig,
    stats: Arc<CommitStats>,
) {
    let slots = Arc::new(Semaphore::new(cfg.max_in_flight));
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            break;
        };
        let Some(first) = rx.recv().await else {
            break;
        };
        let mut batch = vec![first];
        while batch.len() < cfg.max_batch {
            match rx.try_recv() {
                Ok(p) => batch.push(p),
                Err(_) => break,
            }
        }
        if batch.len() < cfg.max_batch && !cfg.linger.is_zero() {
            let deadline = tokio::time::Instant::now() + cfg.linger;
            while batch.len() < cfg.max_batch {
                match tokio::time::timeout_at(deadline, rx.recv()).await {
                    Ok(Some(p)) => batch.push(p),
                    _ => break,
                }
            }
        }
        stats.batches.fetch_add(1, Ordering::Relaxed);
        stats
            .commands
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        let raft = raft.clone();
        let link = link.clone();
        tokio::spawn(async move {
            let _slot = slot;
            commit(&raft, link.as_deref(), batch).await;
        });
    }
}

async fn commit(raft: &Raft<TypeConfig>, link: Option<&LeaderLink>, batch: Vec<Pending>) {
    let (commands, replies): (Vec<Command>, Vec<_>) =
        batch.into_iter().map(|p| (p.command, p.reply)).unzip();
    let n = commands.len();
    let batch = CommandBatch {
        format: meridian_proto::RECORD_FORMAT,
        commands,
    };
    let result = match link {
        Some(link) if !link.local_leads() => link.write(batch).await,
        // Bounded: a leader that loses its leadership with this entry in
        // its log may never answer it (the entry is truncated by the next
        // leader), and a batch that never ends would hold its in-flight
        // slot for good. The outcome is then unknown; the caller's retry
        // carries the same request ids, so it is applied at most once.
        _ => match tokio::time::timeout(COMMIT_TIMEOUT, raft.client_write(Request(batch))).await {
            Ok(r) => r
                .map(|resp| resp.data.0)
                .map_err(crate::error::client_write_error),
            Err(_) => Err(MetaError::Unavailable(format!(
                "no commit within {COMMIT_TIMEOUT:?} (leadership lost?); outcome unknown"
            ))),
        },
    };
    match result {
        Ok(outcomes) if outcomes.len() == n => {
            for (reply, outcome) in replies.into_iter().zip(outcomes) {
                let _ = reply.send(Ok(outcome));
            }
        }
        Ok(outcomes) => {
            let msg = format!("{} outcomes for {n} commands", outcomes.len());
            for reply in replies {
                let _ = reply.send(Err(MetaError::Raft(msg.clone())));
            }
        }
        Err(e) => {
            // Every writer of the batch gets the same error; MetaError is
            // not Clone (it can hold io errors), so rebuild it per reply,
            // keeping what a caller decides on: retryable or not.
            let (unavailable, msg) = match e {
                MetaError::Unavailable(m) => (true, m),
                MetaError::Raft(m) => (false, m),
                other => (false, other.to_string()),
            };
            for reply in replies {
                let err = if unavailable {
                    MetaError::Unavailable(msg.clone())
                } else {
                    MetaError::Raft(msg.clone())
                };
                let _ = reply.send(Err(err));
            }
        }
    }
}
