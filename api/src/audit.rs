//! The audit log: every admin change and every refused call, one JSON line
//! each (who, what, when, from where, and how it ended), appended to a file
//! of the node's (`<data_dir>/audit.log`) that `meridianctl audit` reads.
//! Records go through a bounded queue to one writer task; a caller waits
//! for room rather than an event being dropped.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

/// Events queued for the writer at most.
const QUEUE: usize = 4096;
/// Lines `tail` returns at most.
pub const MAX_TAIL: usize = 10_000;
/// Bytes `tail` reads back from the end of the file at most.
const TAIL_BYTES: u64 = 16 << 20;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AuditEvent {
    pub time_ms: i64,
    /// The caller: `admin`, `user NAME`, or what was presented.
    pub who: String,
    /// The credential: `key MK...`, `token JTI of ISS`, or none.
    pub credential: String,
    /// The peer's address.
    pub from: String,
    /// Which port: `client` or `admin`.
    pub port: String,
    /// The gRPC method.
    pub method: String,
    /// What it acted on (`/bucket/key`), where known.
    pub resource: String,
    /// `ok`, or the status code and message it was refused with.
    pub outcome: String,
}

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("audit log {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The handle callers record through.
#[derive(Clone)]
pub struct AuditLog {
    tx: mpsc::Sender<AuditEvent>,
    path: PathBuf,
}

impl AuditLog {
    /// Opens (creating, owner-only) `path` for appending and starts its
    /// writer task.
    pub fn open(path: &Path) -> Result<AuditLog, AuditError> {
        let io = |source| AuditError::Io {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let mut options = std::fs::OpenOptions::new();
        options.append(true).create(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let file = options.open(path).map_err(io)?;
        let (tx, rx) = mpsc::channel(QUEUE);
        let shown = path.to_path_buf();
        tokio::task::spawn_blocking(move || write_all(file, rx, &shown));
        Ok(AuditLog {
            tx,
            path: path.to_path_buf(),
        })
    }

    /// Records `event` (waits while the queue is full).
    pub async fn record(&self, event: AuditEvent) {
        if self.tx.send(event).await.is_err() {
            tracing::error!(path = %self.path.display(), "audit writer stopped; event not recorded");
        }
    }

    /// The last `limit` events (at most [`MAX_TAIL`]) at or after
    /// `since_ms`, oldest first.
    pub fn tail(&self, limit: usize, since_ms: i64) -> Result<Vec<AuditEvent>, AuditError> {
        tail(&self.path, limit.min(MAX_TAIL), since_ms)
    }
}

fn write_all(file: std::fs::File, mut rx: mpsc::Receiver<AuditEvent>, path: &Path) {
    let mut out = std::io::BufWriter::new(file);
    while let Some(first) = rx.blocking_recv() {
        let mut batch = vec![first];
        while let Ok(e) = rx.try_recv() {
            batch.push(e);
        }
        for e in &batch {
            match serde_json::to_string(e) {
                Ok(line) => {
                    if let Err(err) = writeln!(out, "{line}") {
                        tracing::error!(path = %path.display(), error = %err, "writing the audit log");
                    }
                }
                Err(err) => tracing::error!(error = %err, "an audit event did not serialise"),
            }
        }
        // On disk before the next batch: a crash loses at most what was
        // queued, never what a reader was shown.
        if let Err(err) = out.flush().and_then(|()| out.get_ref().sync_data()) {
            tracing::error!(path = %path.display(), error = %err, "syncing the audit log");
        }
    }
}

fn tail(path: &Path, limit: usize, since_ms: i64) -> Result<Vec<AuditEvent>, AuditError> {
    use std::io::{Read, Seek, SeekFrom};
    let io = |source| AuditError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(e)),
    };
    let len = f.metadata().map_err(io)?.len();
    let start = len.saturating_sub(TAIL_BYTES);
    f.seek(SeekFrom::Start(start)).map_err(io)?;
    let mut text = String::new();
    f.take(TAIL_BYTES).read_to_string(&mut text).map_err(io)?;
    let mut lines: Vec<&str> = text.lines().collect();
    if start > 0 && !lines.is_empty() {
        // The first line read may be cut.
        lines.remove(0);
    }
    let events: Vec<AuditEvent> = lines
        .iter()
        .filter_map(|l| serde_json::from_str::<AuditEvent>(l).ok())
        .filter(|e| e.time_ms >= since_ms)
        .collect();
    let skip = events.len().saturating_sub(limit);
    Ok(events.into_iter().skip(skip).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(i: i64) -> AuditEvent {
        AuditEvent {
            time_ms: i,
            who: "admin".into(),
            credential: "key MK1".into(),
            from: "127.0.0.1:5".into(),
            port: "admin".into(),
            method: "/meridian.v1.AdminService/UserCreate".into(),
            resource: String::new(),
            outcome: "ok".into(),
        }
    }

    #[tokio::test]
    async fn events_are_appended_and_read_back_newest_last() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("audit.log");
        let log = AuditLog::open(&path).expect("open");
        for i in 0..5 {
            log.record(event(i)).await;
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while log.tail(100, 0).expect("tail").len() < 5 {
            assert!(std::time::Instant::now() < deadline, "events not written");
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!(log.tail(2, 0).expect("tail"), vec![event(3), event(4)]);
        assert_eq!(log.tail(100, 3).expect("tail").len(), 2);
        // Reopening appends; nothing is lost or rewritten.
        drop(log);
        let again = AuditLog::open(&path).expect("reopen");
        again.record(event(9)).await;
        while again.tail(100, 0).expect("tail").len() < 6 {
            assert!(std::time::Instant::now() < deadline, "event not written");
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!(again.tail(100, 0).expect("tail")[0], event(0));
    }
}
