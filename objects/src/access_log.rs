//! This node's access log: object requests as JSON lines
//! (`meridian_core::tracking`), appended to hourly segments
//! (`YYYYMMDDHH.jsonl`) by one thread of its own. A request only queues
//! its event (a bounded queue: when it is full the event is dropped and
//! counted, never waited for); the writer wakes on a timer and drains
//! what came, so a request costs no disk write, no Raft write and no
//! wake-up of another thread; the shipper (`node`'s access job) reads the
//! segments behind it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use meridian_core::tracking::AccessEvent;
use tokio::sync::mpsc;

/// Events queued at most; more are dropped (and counted).
pub const QUEUE: usize = 65_536;
/// How often the writer drains the queue: events reach the file within it.
const TICK: Duration = Duration::from_millis(50);

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
        let (d, st) = (dir.to_path_buf(), stats.clone());
        std::thread::Builder::new()
            .name("access-log".into())
            .spawn(move || write(d, rx, st))?;
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

/// The segment file open for appending.
struct Open {
    file: std::io::BufWriter<std::fs::File>,
}

fn write(dir: PathBuf, mut rx: mpsc::Receiver<AccessEvent>, stats: Arc<LogStats>) {
    let mut open: Option<Open> = None;
    // The hour of the segment open (its name made only when it changes),
    // and one line buffer for every event.
    let mut hour = i64::MIN;
    let mut line = Vec::with_capacity(512);
    loop {
        std::thread::sleep(TICK);
        let mut lines = 0u64;
        let mut closed = false;
        loop {
            let e = match rx.try_recv() {
                Ok(e) => e,
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => {
                    closed = true;
                    break;
                }
            };
            let h = e.time_ms.div_euclid(3_600_000);
            if open.is_none() || h != hour {
                let seg = segment_name(e.time_ms);
                hour = h;
                if let Some(mut o) = open.take() {
                    flush(&mut o, &mut lines, &stats);
                }
                match std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(dir.join(&seg))
                {
                    Ok(f) => {
                        open = Some(Open {
                            file: std::io::BufWriter::with_capacity(256 << 10, f),
                        })
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, segment = %seg, "access log: cannot open");
                        stats.failed_writes.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                }
            }
            if let Some(o) = open.as_mut() {
                line.clear();
                e.write_line(&mut line);
                line.push(b'\n');
                match o.file.write_all(&line) {
                    Ok(()) => lines += 1,
                    Err(err) => {
                        tracing::warn!(error = %err, "access log: write failed; events lost");
                        stats.failed_writes.fetch_add(lines + 1, Ordering::Relaxed);
                        lines = 0;
                        open = None;
                    }
                }
            }
        }
        if let Some(o) = open.as_mut() {
            flush(o, &mut lines, &stats);
        }
        if closed {
            return;
        }
    }
}

/// Hands the buffered lines to the file (the shipper reads them from
/// there); counts them written, or lost.
fn flush(o: &mut Open, lines: &mut u64, stats: &LogStats) {
    match o.file.flush() {
        Ok(()) => {
            stats.written.fetch_add(*lines, Ordering::Relaxed);
        }
        Err(err) => {
            tracing::warn!(error = %err, "access log: write failed; events lost");
            stats.failed_writes.fetch_add(*lines, Ordering::Relaxed);
        }
    }
    *lines = 0;
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
        // (the writer is a thread: the runtime only hosts the test)
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
