//! This node's access log: object requests as JSON lines
//! (`meridian_core::tracking`), appended to hourly segments
//! (`YYYYMMDDHH.jsonl`) by one task. A request only queues its event (a
//! bounded queue: when it is full the event is dropped and counted, never
//! waited for), so tracking costs a request no disk write and no Raft
//! write; the shipper (`node`'s access job) reads the segments behind it.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use meridian_core::tracking::AccessEvent;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

/// Events queued at most; more are dropped (and counted).
pub const QUEUE: usize = 65_536;
/// Events written per flush at most.
const BATCH: usize = 4096;

/// Counters of the log, for status.
#[derive(Debug, Default)]
pub struct LogStats {
    pub written: AtomicU64,
    pub dropped: AtomicU64,
    pub failed_writes: AtomicU64,
}

pub struct AccessLog {
    tx: mpsc::Sender<AccessEvent>,
    dir: PathBuf,
    stats: Arc<LogStats>,
}

/// The segment an event at `ms` belongs to.
pub fn segment_name(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}{:02}{:02}{:02}.jsonl",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour()
    )
}

impl AccessLog {
    /// A log in `dir` (created if absent) whose writer runs until every
    /// handle is dropped.
    pub fn start(dir: &Path) -> std::io::Result<Arc<AccessLog>> {
        std::fs::create_dir_all(dir)?;
        let (tx, rx) = mpsc::channel(QUEUE);
        let stats = Arc::new(LogStats::default());
        tokio::spawn(write(dir.to_path_buf(), rx, stats.clone()));
        Ok(Arc::new(AccessLog {
            tx,
            dir: dir.to_path_buf(),
            stats,
        }))
    }

    /// Queues `e`; never waits.
    pub fn record(&self, e: AccessEvent) {
        if self.tx.try_send(e).is_err() {
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn stats(&self) -> &LogStats {
        &self.stats
    }
}

async fn write(dir: PathBuf, mut rx: mpsc::Receiver<AccessEvent>, stats: Arc<LogStats>) {
    let mut open: Option<(String, tokio::fs::File)> = None;
    let mut batch = Vec::with_capacity(BATCH);
    while rx.recv_many(&mut batch, BATCH).await > 0 {
        // Lines by segment, in arrival order (a batch may cross an hour).
        let mut runs: Vec<(String, String)> = Vec::new();
        for e in batch.drain(..) {
            let seg = segment_name(e.time_ms);
            match runs.last_mut() {
                Some((s, text)) if *s == seg => {
                    text.push_str(&e.to_line());
                    text.push('\n');
                }
                _ => runs.push((seg, format!("{}\n", e.to_line()))),
            }
        }
        for (seg, text) in runs {
            let lines = text.bytes().filter(|b| *b == b'\n').count() as u64;
            if open.as_ref().is_none_or(|(s, _)| *s != seg) {
                open = match tokio::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(dir.join(&seg))
                    .await
                {
                    Ok(f) => Some((seg.clone(), f)),
                    Err(e) => {
                        tracing::warn!(error = %e, segment = %seg, "access log: cannot open");
                        None
                    }
                };
            }
            let written = match open.as_mut() {
                Some((_, f)) => f.write_all(text.as_bytes()).await.and(f.flush().await),
                None => Err(std::io::Error::other("no segment open")),
            };
            match written {
                Ok(()) => {
                    stats.written.fetch_add(lines, Ordering::Relaxed);
                }
                Err(e) => {
                    stats.failed_writes.fetch_add(lines, Ordering::Relaxed);
                    tracing::warn!(error = %e, "access log: write failed; events lost");
                    open = None;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use meridian_core::tracking::Action;

    #[test]
    fn segments_are_hours_in_utc() {
        assert_eq!(segment_name(1_796_660_166_559), "2026120716.jsonl");
        assert_eq!(segment_name(0), "1970010100.jsonl");
    }

    #[tokio::test]
    async fn events_land_in_their_hours_segment_in_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = AccessLog::start(dir.path()).expect("log");
        for i in 0..3 {
            log.record(AccessEvent {
                time_ms: 1_796_660_166_559 + i,
                who: "alice".into(),
                protocol: "s3",
                action: Action::Read,
                bucket: "b".into(),
                key: format!("k{i}"),
                bytes: 1,
                site: "Beijing".into(),
                status: 200,
            });
        }
        for _ in 0..200 {
            if log.stats().written.load(Ordering::Relaxed) == 3 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        let text = std::fs::read_to_string(dir.path().join("2026120716.jsonl")).expect("segment");
        let keys: Vec<String> = text
            .lines()
            .map(|l| AccessEvent::from_line(l).expect("line").key)
            .collect();
        assert_eq!(keys, ["k0", "k1", "k2"]);
    }
}
