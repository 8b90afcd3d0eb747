//! Abandoned multipart uploads: an upload neither completed nor aborted
//! within `--abandoned-uploads` (7 days by default) is aborted, so its parts'
//! chunks go to chunk reclamation; so is an upload session of the client
//! API left idle for its own idle time. Runs on the metadata leader; each pass
//! pages through the uploads in progress (bounded).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use meridian_proto::v1::command::Op;
use meridian_proto::v1::AbortUploadCmd;
use tokio::sync::watch;

use crate::metagroup::MetaGroup;

const PAGE: usize = 1000;
/// Pages per pass: a pass looks at up to 100,000 uploads.
const PAGES: usize = 100;

pub struct AbandonedUploads {
    meta: Arc<MetaGroup>,
    clock: meridian_core::SharedClock,
    max_age: Duration,
    period: Duration,
    /// Uploads aborted for their age since start.
    pub aborted: AtomicU64,
}

impl AbandonedUploads {
    pub fn new(
        meta: Arc<MetaGroup>,
        clock: meridian_core::SharedClock,
        max_age: Duration,
        period: Duration,
    ) -> Arc<Self> {
        Arc::new(AbandonedUploads {
            meta,
            clock,
            max_age,
            period,
            aborted: AtomicU64::new(0),
        })
    }

    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        loop {
            let s = self.meta.status();
            if s.leader == Some(s.node_id) {
                if let Err(e) = self.pass().await {
                    tracing::warn!(error = %e, "abandoned-upload pass failed; retrying");
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(self.period) => {}
                _ = shutdown.changed() => {}
            }
            if *shutdown.borrow() {
                return;
            }
        }
    }

    async fn pass(&self) -> Result<(), meridian_meta::MetaError> {
        let now = self.clock.now_ms();
        let limit_ms = i64::try_from(self.max_age.as_millis()).unwrap_or(i64::MAX);
        let mut after: Option<String> = None;
        for _ in 0..PAGES {
            let page = self.meta.reader().uploads(after.as_deref(), PAGE)?;
            for u in &page {
                // An upload session expires once idle for its own time;
                // an S3 upload by its age.
                let due = match &u.session {
                    Some(s) => now >= s.expires_ms(),
                    None => now.saturating_sub(u.created_ms) >= limit_ms,
                };
                if !due {
                    continue;
                }
                let cmd = meridian_meta::command(Op::AbortUpload(AbortUploadCmd {
                    upload_id: u.upload_id.clone(),
                }));
                match self.meta.write_one(cmd).await {
                    Ok(_) => {
                        self.aborted.fetch_add(1, Ordering::Relaxed);
                        tracing::info!(bucket = %u.bucket, key = %u.key, upload = %u.upload_id, session = u.session.is_some(), "abandoned upload aborted");
                    }
                    // Completed or aborted meanwhile.
                    Err(meridian_meta::MetaError::Rejected { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
            match page.last() {
                Some(u) if page.len() == PAGE => after = Some(u.upload_id.clone()),
                _ => break,
            }
        }
        Ok(())
    }
}
