//! The naive copier, the baseline `meridian-bench replicate` measures the
//! planner against (no server runs it): it turns pending replicas into
//! complete ones, per destination, in index order.
//!
//! It reads the catalogue's pending-replica index (never a scan of all
//! objects), copies each missing chunk from the best complete replica through
//! the links' rate limits, verifies it on arrival, and commits the replica's
//! new state through Raft. Each step is idempotent: a copy interrupted by a
//! crash or an error resumes from the chunks the destination already holds.
//! One source per object, chosen by route bandwidth.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use meridian_meta::catalogue::PendingReplica;

use meridian_core::records::ReplicaState;
use meridian_placement::SiteId;
use tokio::sync::{watch, Notify};

use crate::metagroup::MetaGroup;
use crate::transfer::stats::{ReplicationJob, ReplicationStats};
use meridian_data::DataPlane;

/// Pending entries read per site per pass.
const SCAN_LIMIT: usize = 1024;
/// Longest pause between two attempts at one replica.
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// Jobs remembered (running or backing off) before idle ones are dropped;
/// a dropped one is found again by the next scan.
const MAX_JOBS: usize = 65_536;
/// Idle re-scan period, in case a wake-up was missed.
const TICK: Duration = Duration::from_secs(1);

impl ReplicationJob for Replicator {
    fn stats(&self) -> &ReplicationStats {
        &self.stats
    }

    fn waiting_retry(&self) -> u64 {
        Replicator::waiting_retry(self)
    }
}

struct JobState {
    running: bool,
    attempts: u32,
    retry_at: Instant,
    /// Sources that failed for this replica, avoided while others exist.
    avoid: Vec<u32>,
    last_error: String,
}

pub struct Replicator {
    meta: Arc<MetaGroup>,
    data: Arc<DataPlane>,
    wake: Arc<Notify>,
    per_site: usize,
    jobs: Mutex<HashMap<Vec<u8>, JobState>>,
    /// Where each site's scan of the pending index resumes, so replicas
    /// that keep failing at the front cannot starve the ones behind them.
    cursors: Mutex<HashMap<u32, Vec<u8>>>,
    /// Copy from the ingest site only (the baseline the planner is measured
    /// against), not from the best holder.
    ingest_only: bool,
    pub stats: ReplicationStats,
}

impl Replicator {
    pub fn new(
        meta: Arc<MetaGroup>,
        data: Arc<DataPlane>,
        wake: Arc<Notify>,
        per_site: usize,
    ) -> Arc<Self> {
        Arc::new(Replicator {
            meta,
            data,
            wake,
            per_site,
            jobs: Mutex::new(HashMap::new()),
            cursors: Mutex::new(HashMap::new()),
            ingest_only: false,
            stats: ReplicationStats::default(),
        })
    }

    /// The naive baseline: each replica from its ingest site, in index
    /// order, `per_site` at a time per destination.
    pub fn naive(
        meta: Arc<MetaGroup>,
        data: Arc<DataPlane>,
        wake: Arc<Notify>,
        per_site: usize,
    ) -> Arc<Self> {
        let mut r = Replicator::new(meta, data, wake, per_site);
        if let Some(r) = Arc::get_mut(&mut r) {
            r.ingest_only = true;
        }
        r
    }

    /// Replicas backing off after a failed attempt.
    pub fn waiting_retry(&self) -> u64 {
        self.jobs().values().filter(|j| !j.running).count() as u64
    }

    fn jobs(&self) -> std::sync::MutexGuard<'_, HashMap<Vec<u8>, JobState>> {
        match self.jobs.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Runs until `shutdown` turns true.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        loop {
            if *shutdown.borrow() {
                break;
            }
            if let Err(e) = self.schedule() {
                tracing::warn!(error = %e, "replication scan failed");
            }
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(TICK) => {}
                _ = shutdown.changed() => {}
            }
        }
    }

    fn schedule(self: &Arc<Self>) -> Result<(), meridian_meta::MetaError> {
        // Destinations pull: this process fills the sites it keeps.
        for site in self.data.local_sites() {
            let cursor = self.cursor(site);
            let pending = self
                .meta
                .reader()
                .pending(site, cursor.as_deref(), SCAN_LIMIT)?;
            let now = Instant::now();
            let mut jobs = self.jobs();
            if cursor.is_none() && pending.len() < SCAN_LIMIT {
                // The page is the whole index for this site: forget replicas
                // that are no longer pending (deleted, overwritten).
                let live: std::collections::HashSet<&[u8]> =
                    pending.iter().map(|p| p.cursor.as_slice()).collect();
                jobs.retain(|k, j| {
                    j.running || site_of(k) != Some(site) || live.contains(k.as_slice())
                });
            }
            if jobs.len() > MAX_JOBS {
                jobs.retain(|_, j| j.running);
            }
            // Resume after the last entry looked at; wrap at the end.
            let mut next_cursor = if pending.len() < SCAN_LIMIT {
                None
            } else {
                pending.last().map(|p| p.cursor.clone())
            };
            let mut running = jobs
                .iter()
                .filter(|(k, j)| j.running && site_of(k) == Some(site))
                .count();
            let mut last_seen: Option<Vec<u8>> = None;
            for p in pending {
                if running >= self.per_site {
                    // Not looked at: the next pass starts here.
                    next_cursor = last_seen.clone().or(cursor.clone());
                    break;
                }
                last_seen = Some(p.cursor.clone());
                let ready = match jobs.get(&p.cursor) {
                    None => true,
                    Some(j) => !j.running && j.retry_at <= now,
                };
                if !ready {
                    continue;
                }
                let avoid = jobs
                    .get(&p.cursor)
                    .map(|j| j.avoid.clone())
                    .unwrap_or_default();
                let entry = jobs.entry(p.cursor.clone()).or_insert(JobState {
                    running: true,
                    attempts: 0,
                    retry_at: now,
                    avoid: Vec::new(),
                    last_error: String::new(),
                });
                entry.running = true;
                running += 1;
                let this = self.clone();
                tokio::spawn(async move { this.job(p, avoid).await });
            }
            drop(jobs);
            self.set_cursor(site, next_cursor);
        }
        Ok(())
    }

    fn cursor(&self, site: u32) -> Option<Vec<u8>> {
        let c = self.cursors.lock().unwrap_or_else(|p| p.into_inner());
        c.get(&site).cloned()
    }

    fn set_cursor(&self, site: u32, cursor: Option<Vec<u8>>) {
        let mut c = self.cursors.lock().unwrap_or_else(|p| p.into_inner());
        match cursor {
            Some(k) => c.insert(site, k),
            None => c.remove(&site),
        };
    }

    async fn job(self: Arc<Self>, p: PendingReplica, avoid: Vec<u32>) {
        self.stats.running.fetch_add(1, Ordering::Relaxed);
        let result = self.copy(&p, &avoid).await;
        self.stats.running.fetch_sub(1, Ordering::Relaxed);
        {
            let mut jobs = self.jobs();
            match result {
                Ok(()) => {
                    jobs.remove(&p.cursor);
                    self.stats.completed.fetch_add(1, Ordering::Relaxed);
                }
                Err((source, e)) => {
                    self.stats.failures.fetch_add(1, Ordering::Relaxed);
                    if let Some(j) = jobs.get_mut(&p.cursor) {
                        j.running = false;
                        j.attempts = j.attempts.saturating_add(1);
                        let backoff =
                            Duration::from_millis(250u64.saturating_mul(1 << j.attempts.min(10)));
                        j.retry_at = Instant::now() + backoff.min(MAX_BACKOFF);
                        if let Some(s) = source {
                            if !j.avoid.contains(&s) {
                                j.avoid.push(s);
                            }
                        }
                        j.last_error = e.clone();
                        tracing::warn!(site = p.site, key = %p.key, attempts = j.attempts, error = %e, "replica copy failed; will retry");
                    }
                }
            }
        }
        self.wake.notify_one();
    }

    /// Copies one replica. On failure returns the source that was used, if
    /// any, so the next attempt can avoid it.
    async fn copy(&self, p: &PendingReplica, avoid: &[u32]) -> Result<(), (Option<u32>, String)> {
        let reader = self.meta.reader();
        let Some(bucket) = reader
            .bucket_name(p.bucket_id)
            .map_err(|e| (None, e.to_string()))?
        else {
            return Ok(());
        };
        let Some(rec) = reader
            .object(p.bucket_id, &p.key)
            .map_err(|e| (None, e.to_string()))?
        else {
            return Ok(());
        };
        // The version being copied; an overwrite or delete during the copy
        // stops it (checked before every chunk).
        let version = rec.version_id.clone();
        let topo = self.data.topology();
        let holders: Vec<u32> = rec.complete_sites().collect();
        let candidates: Vec<u32> = holders
            .iter()
            .copied()
            .filter(|h| !avoid.contains(h))
            .collect();
        let candidates = if self.ingest_only && holders.contains(&rec.ingest_site) {
            vec![rec.ingest_site]
        } else if candidates.is_empty() {
            holders
        } else {
            candidates
        };
        let source = candidates
            .iter()
            .copied()
            .max_by_key(|h| {
                let bw = topo
                    .route(SiteId(*h), SiteId(p.site))
                    .map(|r| r.bottleneck_bps)
                    .unwrap_or(0);
                (bw, std::cmp::Reverse(*h))
            })
            .ok_or((None, "no complete replica to copy from".to_string()))?;
        let set_state = |state: ReplicaState| {
            meridian_meta::commands::set_replica_state(
                &bucket,
                &p.key,
                &version,
                p.site,
                state,
                self.data.clock().now_ms(),
            )
        };
        let state = rec
            .replicas
            .iter()
            .find(|r| r.site == p.site)
            .map(|r| r.state);
        if state == Some(ReplicaState::Pending) {
            let o = self
                .meta
                .write_one(set_state(ReplicaState::Copying))
                .await
                .map_err(|e| (None, e.to_string()))?;
            if o == meridian_meta::Outcome::Stale {
                // Overwritten or deleted since the scan: nothing to copy.
                return Ok(());
            }
        }
        for c in &rec.chunks {
            // Stop as soon as the version is overwritten or deleted: a slow
            // link must not carry dead data for hours.
            let current = reader
                .object(p.bucket_id, &p.key)
                .map_err(|e| (None, e.to_string()))?;
            if current.is_none_or(|r| r.version_id != version) {
                return Ok(());
            }
            let n = self
                .data
                .copy_chunk(source, p.site, &c.hash)
                .await
                .map_err(|e| (Some(source), e.to_string()))?;
            self.stats.bytes_copied.fetch_add(n, Ordering::Relaxed);
        }
        self.meta
            .write_one(set_state(ReplicaState::Complete))
            .await
            .map_err(|e| (None, e.to_string()))?;
        tracing::debug!(bucket = %bucket, key = %p.key, to = %topo.name(SiteId(p.site)), from = %topo.name(SiteId(source)), "replica complete");
        Ok(())
    }
}

fn site_of(cursor: &[u8]) -> Option<u32> {
    meridian_meta::catalogue::keys::parse_pending(cursor).map(|(s, _, _)| s)
}
