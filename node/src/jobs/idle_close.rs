//! Facility datasets close when their run ends: a facility dataset with
//! `close_after_idle_ms` closes once no file has joined it for that long:
//! none attached (its `last_join_ms`), and none written under its rules'
//! prefixes (asked of the search index on `created`, newest first, so only
//! the files of the idle window are read). Runs on the metadata leader; a
//! pass pages through the datasets (bounded), and closes each with the
//! version it judged, so a file attached meanwhile keeps it open.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use meridian_core::catalogue::Catalogue;
use meridian_core::dataset::{DatasetChange, DatasetKind, DatasetRecord, DatasetState};
use meridian_core::search::{Filter, Op, Query, Target, Value};
use meridian_core::CoreError;
use tokio::sync::watch;

use crate::metagroup::MetaGroup;

const PAGE: usize = 1000;
/// Datasets a pass looks at, at most.
const PAGES: usize = 100;

/// What the job has done since start, for the status.
#[derive(Debug, Default)]
pub struct IdleCloseProgress {
    pub passes: AtomicU64,
    pub closed: AtomicU64,
    /// Facility datasets found idle whose window held too many new files
    /// to tell (left open, judged again next pass).
    pub undecided: AtomicU64,
}

pub struct IdleClose {
    meta: Arc<MetaGroup>,
    catalogue: Arc<dyn Catalogue>,
    clock: meridian_core::SharedClock,
    period: Duration,
    pub progress: IdleCloseProgress,
}

impl IdleClose {
    pub fn new(
        meta: Arc<MetaGroup>,
        catalogue: Arc<dyn Catalogue>,
        clock: meridian_core::SharedClock,
        period: Duration,
    ) -> Arc<Self> {
        Arc::new(IdleClose {
            meta,
            catalogue,
            clock,
            period,
            progress: IdleCloseProgress::default(),
        })
    }

    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        loop {
            let s = self.meta.status();
            if s.leader == Some(s.node_id) {
                if let Err(e) = self.pass().await {
                    tracing::warn!(error = %e, "idle-close pass failed; retrying");
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

    pub async fn pass(&self) -> Result<(), CoreError> {
        let now = self.clock.now_ms();
        let mut after = String::new();
        for _ in 0..PAGES {
            let page = self.catalogue.list_datasets(&after, PAGE).await?;
            for d in &page {
                if d.idle_close_due(now) && !self.rule_files_since(d, now).await? {
                    match self
                        .catalogue
                        .change_dataset(&d.name, DatasetChange::Close, d.version)
                        .await
                    {
                        Ok(()) => {
                            self.progress.closed.fetch_add(1, Ordering::Relaxed);
                            tracing::info!(dataset = %d.name, "facility dataset closed: its run went idle");
                        }
                        // Changed meanwhile (a file joined, a call closed
                        // it): judged again next pass.
                        Err(CoreError::PreconditionFailed(_) | CoreError::DatasetState(_)) => {}
                        Err(e) => return Err(e),
                    }
                }
            }
            match page.last() {
                Some(d) if page.len() == PAGE => after = d.name.clone(),
                _ => break,
            }
        }
        self.progress.passes.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Whether a file under one of `d`'s rules was written within its idle
    /// window (or too many files were written to tell).
    async fn rule_files_since(&self, d: &DatasetRecord, now: i64) -> Result<bool, CoreError> {
        let DatasetKind::Facility {
            close_after_idle_ms,
            ..
        } = &d.kind
        else {
            return Ok(false);
        };
        if d.state != DatasetState::Open {
            return Ok(false);
        }
        for rule in &d.rules {
            let q = Query {
                target: Target::Files,
                filters: vec![
                    Filter {
                        field: "created".into(),
                        op: Op::Range {
                            lo: Some((Value::Int(now - close_after_idle_ms), true)),
                            hi: None,
                        },
                    },
                    Filter {
                        field: "bucket".into(),
                        op: Op::Eq(Value::Text(rule.bucket.clone())),
                    },
                    Filter {
                        field: "key".into(),
                        op: Op::Prefix(rule.prefix.clone()),
                    },
                ],
                // Walk the time index, not the bucket: only the window's
                // files are read.
                sort: Some("created".into()),
                descending: true,
                limit: 1,
                after: None,
            };
            let page = self.catalogue.search(&q).await?;
            if !page.files.is_empty() {
                return Ok(true);
            }
            if page.next.is_some() {
                self.progress.undecided.fetch_add(1, Ordering::Relaxed);
                return Ok(true);
            }
        }
        Ok(false)
    }
}
