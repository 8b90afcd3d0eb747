//! Lifetimes: an object whose rule gives it a `lifetime` is deleted when it
//! ends. The catalogue keeps the due times in a time-ordered index, so the
//! job reads only what is due; it runs on the metadata leader, and each
//! delete names the version it saw, so an object overwritten meanwhile (a
//! new version, a new lifetime) is left alone.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use meridian_proto::v1::command::Op;
use meridian_proto::v1::DeleteObjectCmd;
use tokio::sync::watch;

use crate::metagroup::MetaGroup;

/// Due objects deleted per pass.
const BATCH: usize = 1000;
const PERIOD: Duration = Duration::from_secs(1);
/// Pages of due lifetimes one pass looks through at most.
const PAGES: usize = 100;

pub struct Expirer {
    meta: Arc<MetaGroup>,
    clock: meridian_core::SharedClock,
    /// Objects deleted at the end of their lifetime since start.
    pub expired: AtomicU64,
}

impl Expirer {
    pub fn new(meta: Arc<MetaGroup>, clock: meridian_core::SharedClock) -> Arc<Self> {
        Arc::new(Expirer {
            meta,
            clock,
            expired: AtomicU64::new(0),
        })
    }

    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        loop {
            let s = self.meta.status();
            if s.leader == Some(s.node_id) {
                match self.pass().await {
                    // Many deleted: more may be due, go on at once.
                    Ok(n) if n >= BATCH => continue,
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "expiry pass failed; retrying"),
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(PERIOD) => {}
                _ = shutdown.changed() => {}
            }
            if *shutdown.borrow() {
                return;
            }
        }
    }

    /// Deletes what is due; the number deleted. Versions that Object Lock
    /// protects are passed over (their entries stay, tried again next
    /// pass), so they never hold up the lifetimes due after them.
    async fn pass(&self) -> Result<usize, meridian_meta::MetaError> {
        let reader = self.meta.reader();
        let now = self.clock.now_ms();
        let mut deleted = 0;
        let mut after = None;
        for _ in 0..PAGES {
            let due = reader.expired_after(now, after.as_ref(), BATCH)?;
            let full = due.len() == BATCH;
            after = due.last().cloned();
            for (bucket_id, key, at) in due {
                let Some(bucket) = reader.bucket_name(bucket_id)? else {
                    continue;
                };
                let Some(rec) = reader.object(bucket_id, &key)? else {
                    continue;
                };
                if rec.expires_ms != at
                    || meridian_core::protection::Retention::of(&rec)
                        .protects(now, false)
                        .is_some()
                {
                    continue;
                }
                let cmd = meridian_meta::command(Op::DeleteObject(DeleteObjectCmd {
                    bucket: bucket.clone(),
                    key: key.clone(),
                    if_version_id: rec.version_id.clone(),
                    // Object Lock is judged against this time.
                    now_ms: now,
                    ..Default::default()
                }));
                match self.meta.write_one(cmd).await {
                    Ok(meridian_meta::Outcome::Done) => {
                        deleted += 1;
                        self.expired.fetch_add(1, Ordering::Relaxed);
                        tracing::info!(bucket = %bucket, key = %key, "lifetime ended: deleted");
                    }
                    Ok(_) => {}
                    // Protected since it was read: tried again next pass.
                    Err(meridian_meta::MetaError::Rejected { message, .. }) => {
                        tracing::info!(bucket = %bucket, key = %key, reason = %message, "lifetime ended but the version is kept");
                    }
                    Err(e) => return Err(e),
                }
            }
            if !full {
                break;
            }
        }
        Ok(deleted)
    }
}
