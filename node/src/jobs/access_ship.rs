//! Ships this node's access log to the catalogue: every `period`, the
//! events after the shipped cursor (a segment and a byte offset, kept in
//! `shipped` beside the segments) are read, a bounded run at a time,
//! resolved to users (an access key to its user, the root key to
//! `admin`), added up per file and proposed as shipments of at most
//! 10,000 files each; the cursor moves only once they are committed. A
//! shipment is named by the node and the byte range it covers, which is
//! the command's request id, so one re-sent after a crash adds nothing.
//! Segments older than the retention, and wholly shipped, are deleted.
//! Runs on every node (each has its own log); progress in the status.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use meridian_core::tracking::{tally_events, AccessEvent, FileTally, MAX_SHIPMENT_FILES};
use meridian_core::{CoreError, SharedClock};
use meridian_objects::Objects;
use tokio::sync::watch;

/// Events read per pass at most (the rest wait for the next pass).
const MAX_EVENTS: usize = 200_000;
/// Bytes read from a segment per pass at most.
const MAX_READ: u64 = 64 << 20;
const CURSOR: &str = "shipped";

/// What the job has done, for the status.
#[derive(Debug, Default)]
pub struct ShipProgress {
    pub events_shipped: AtomicU64,
    pub shipments: AtomicU64,
    pub bad_lines: AtomicU64,
    /// Bytes of log not yet shipped, as of the last pass.
    pub behind_bytes: AtomicU64,
    pub last_ship_ms: AtomicI64,
    pub segments_removed: AtomicU64,
}

pub struct AccessShipper {
    gw: Arc<Objects>,
    dir: PathBuf,
    node: String,
    root_key: String,
    period: Duration,
    retention: Duration,
    clock: SharedClock,
    pub progress: ShipProgress,
}

/// Where shipping stands: the segment and the byte offset in it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct Cursor {
    segment: String,
    offset: u64,
}

fn read_cursor(dir: &Path) -> Cursor {
    let text = std::fs::read_to_string(dir.join(CURSOR)).unwrap_or_default();
    let mut parts = text.split_whitespace();
    match (parts.next(), parts.next().and_then(|o| o.parse().ok())) {
        (Some(s), Some(o)) => Cursor {
            segment: s.to_string(),
            offset: o,
        },
        _ => Cursor::default(),
    }
}

fn write_cursor(dir: &Path, c: &Cursor) -> std::io::Result<()> {
    let tmp = dir.join(format!("{CURSOR}.tmp"));
    std::fs::write(&tmp, format!("{} {}\n", c.segment, c.offset))?;
    std::fs::rename(tmp, dir.join(CURSOR))
}

/// The segments in `dir`, oldest first.
fn segments(dir: &Path) -> std::io::Result<Vec<(String, u64)>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let name = e.file_name().to_string_lossy().into_owned();
        if name.len() == 16 && name.ends_with(".jsonl") {
            out.push((name, e.metadata()?.len()));
        }
    }
    out.sort();
    Ok(out)
}

/// Complete lines of `path` from `offset`, at most `max` bytes: (the
/// text, where the last complete line ends).
fn read_lines(path: &Path, offset: u64, max: u64) -> std::io::Result<(String, u64)> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(path)?;
    f.seek(SeekFrom::Start(offset))?;
    let mut buf = Vec::new();
    f.take(max).read_to_end(&mut buf)?;
    let end = buf.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    buf.truncate(end);
    Ok((
        String::from_utf8_lossy(&buf).into_owned(),
        offset + end as u64,
    ))
}

impl AccessShipper {
    pub fn new(
        gw: Arc<Objects>,
        dir: PathBuf,
        (node, root_key): (String, String),
        (period, retention): (Duration, Duration),
        clock: SharedClock,
    ) -> Arc<Self> {
        Arc::new(AccessShipper {
            gw,
            dir,
            node,
            root_key,
            period,
            retention,
            clock,
            progress: ShipProgress::default(),
        })
    }

    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(self.period) => {}
                _ = shutdown.changed() => {}
            }
            // One last pass on the way out, so a clean stop leaves nothing
            // behind.
            if let Err(e) = self.pass().await {
                tracing::warn!(error = %e, "access log shipping failed; retrying");
            }
            if *shutdown.borrow() {
                return;
            }
        }
    }

    /// Ships what is behind the cursor (up to the pass's bounds).
    pub async fn pass(&self) -> Result<(), CoreError> {
        let io = |e: std::io::Error| CoreError::Internal(format!("access log: {e}"));
        let mut cursor = read_cursor(&self.dir);
        let segs = segments(&self.dir).map_err(io)?;
        let mut events = Vec::new();
        let mut reached = cursor.clone();
        for (name, len) in &segs {
            if *name < cursor.segment {
                continue;
            }
            let from = if *name == cursor.segment {
                cursor.offset
            } else {
                0
            };
            if from >= *len {
                reached = Cursor {
                    segment: name.clone(),
                    offset: from,
                };
                continue;
            }
            let (text, end) = read_lines(&self.dir.join(name), from, MAX_READ).map_err(io)?;
            for line in text.lines() {
                match AccessEvent::from_line(line) {
                    Ok(e) => events.push(e),
                    Err(_) => {
                        self.progress.bad_lines.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            reached = Cursor {
                segment: name.clone(),
                offset: end,
            };
            if events.len() >= MAX_EVENTS || end < *len {
                break;
            }
        }
        if !events.is_empty() {
            self.ship(&cursor, &reached, &events).await?;
        }
        if reached != cursor {
            write_cursor(&self.dir, &reached).map_err(io)?;
            cursor = reached;
        }
        let behind: u64 = segs
            .iter()
            .map(|(name, len)| match name.cmp(&cursor.segment) {
                std::cmp::Ordering::Less => 0,
                std::cmp::Ordering::Equal => len.saturating_sub(cursor.offset),
                std::cmp::Ordering::Greater => *len,
            })
            .sum();
        self.progress.behind_bytes.store(behind, Ordering::Relaxed);
        self.expire(&segs, &cursor).map_err(io)
    }

    async fn ship(
        &self,
        from: &Cursor,
        to: &Cursor,
        events: &[AccessEvent],
    ) -> Result<(), CoreError> {
        let mut users: HashMap<String, String> = HashMap::new();
        for e in events {
            if let Some(k) = e.who.strip_prefix("key:") {
                if users.contains_key(&e.who) {
                    continue;
                }
                let name = if k == self.root_key {
                    "admin".to_string()
                } else {
                    match self.gw.access_key(k).await? {
                        Some(owner) => owner.user,
                        // A key never valid (its requests were refused) or
                        // revoked since: named by the key.
                        None => e.who.clone(),
                    }
                };
                users.insert(e.who.clone(), name);
            }
        }
        let tallies = tally_events(events, |w| {
            users.get(w).cloned().unwrap_or_else(|| w.into())
        });
        let files: Vec<FileTally> = tallies
            .into_iter()
            .filter(|(_, t)| !t.is_empty())
            .map(|((bucket, key), tally)| FileTally { bucket, key, tally })
            .collect();
        for (i, part) in files.chunks(MAX_SHIPMENT_FILES).enumerate() {
            let name = format!(
                "{}:{}:{}-{}:{}:{i}",
                self.node, from.segment, from.offset, to.segment, to.offset
            );
            self.gw
                .catalogue()
                .record_access(&name, part.to_vec())
                .await?;
            self.progress.shipments.fetch_add(1, Ordering::Relaxed);
        }
        self.progress
            .events_shipped
            .fetch_add(events.len() as u64, Ordering::Relaxed);
        self.progress
            .last_ship_ms
            .store(self.clock.now_ms(), Ordering::Relaxed);
        tracing::debug!(
            events = events.len(),
            files = files.len(),
            "access log shipped"
        );
        Ok(())
    }

    /// Deletes segments wholly shipped and older than the retention.
    fn expire(&self, segs: &[(String, u64)], cursor: &Cursor) -> std::io::Result<()> {
        let cutoff_ms = self
            .clock
            .now_ms()
            .saturating_sub(i64::try_from(self.retention.as_millis()).unwrap_or(i64::MAX));
        let cutoff = meridian_objects::access_log::segment_name(cutoff_ms);
        for (name, _) in segs {
            if *name < cutoff && *name < cursor.segment {
                std::fs::remove_file(self.dir.join(name))?;
                self.progress
                    .segments_removed
                    .fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_complete_lines_are_read_and_the_cursor_survives() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("2026120716.jsonl");
        std::fs::write(&p, "{\"a\":1}\n{\"b\":2}\n{\"c\":").expect("write");
        let (text, end) = read_lines(&p, 0, 1 << 20).expect("read");
        assert_eq!(text, "{\"a\":1}\n{\"b\":2}\n");
        assert_eq!(end, 16);
        let (text, _) = read_lines(&p, 8, 1 << 20).expect("read");
        assert_eq!(text, "{\"b\":2}\n");
        let c = Cursor {
            segment: "2026120716.jsonl".into(),
            offset: 16,
        };
        write_cursor(dir.path(), &c).expect("cursor");
        assert_eq!(read_cursor(dir.path()), c);
        assert_eq!(segments(dir.path()).expect("segments").len(), 1);
    }
}
