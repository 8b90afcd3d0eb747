//! The replication job, one engine for `meridian dev` and `meridian node`:
//! the scheduler on the metadata leader reads every site's pending replicas,
//! asks the planner (`meridian_placement::plan`) how to move them, and hands
//! each hop to the node that keeps its destination as a transfer order in
//! the catalogue (`leader`); every node's executor carries out the orders
//! for its sites (`orders`). In `meridian dev` one process keeps every site,
//! so its executor carries out all of them; the path is the same.
//!
//! Work goes in rounds. A round plans up to [`ROUND_LIMIT`] replicas at
//! once, so the planner sees them together (that is what lets it relay and
//! split sources); a round that fails some chunks leaves those replicas
//! pending, avoids the failed sources for a while, and the next round plans
//! them again from the chunks already delivered (nothing is copied twice).
//! Every step is idempotent: a crash mid-round loses only the relays'
//! transit chunks, which the next start removes.

mod gather;
mod leader;
pub mod naive;
pub mod orders;
pub mod stats;

pub use gather::pending_work;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use meridian_core::records::ReplicaState;
use meridian_placement::Deadline;
use tokio::sync::{watch, Notify};

use crate::metagroup::MetaGroup;
use crate::placement_policy::PolicyHandle;
use meridian_data::DataPlane;
use stats::{ReplicationJob, ReplicationStats};

/// Replicas planned together in one round.
pub const ROUND_LIMIT: usize = 8192;
/// Idle re-scan period, in case a wake-up was missed.
const TICK: Duration = Duration::from_secs(1);
/// A round at least this old (by the process's clock) gives way to new
/// work: its pending orders are withdrawn, and the next round plans the new
/// work together with what is left.
const REPLAN_AFTER: Duration = Duration::from_secs(10);
/// Longest pause after a round that completed nothing.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// One link's share of a round.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LinkProgress {
    pub planned_bytes: u64,
    pub done_bytes: u64,
}

/// The current or last round, for `meridianctl replication status`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RoundProgress {
    pub round: u64,
    pub active: bool,
    pub started_ms: i64,
    pub finished_ms: i64,
    pub replicas: u64,
    pub replicas_done: u64,
    pub bytes: u64,
    pub bytes_done: u64,
    /// The plan's completion and the lower bound, wall-clock seconds.
    pub plan_s: f64,
    pub lower_bound_s: f64,
    pub deadlines_admitted: u64,
    pub deadlines_infeasible: u64,
    pub links: Vec<LinkProgress>,
}

pub struct Scheduler {
    meta: Arc<MetaGroup>,
    data: Arc<DataPlane>,
    policy: Arc<PolicyHandle>,
    wake: Arc<Notify>,
    /// Hops in flight per link.
    pub(crate) per_link: usize,
    avoid: Mutex<gather::Avoid>,
    /// Carries out this process's transfer orders.
    executor: Option<Arc<orders::OrderExecutor>>,
    /// The last round id handed out as orders.
    last_round: std::sync::atomic::AtomicU64,
    progress: Mutex<RoundProgress>,
    /// Replicas completed and deadlines missed (this process's rounds as
    /// leader); bytes, attempts failed and transfers running (its executor).
    pub stats: Arc<ReplicationStats>,
}

impl Scheduler {
    pub fn new(
        meta: Arc<MetaGroup>,
        data: Arc<DataPlane>,
        policy: Arc<PolicyHandle>,
        wake: Arc<Notify>,
        per_link: usize,
        stats: Arc<ReplicationStats>,
    ) -> Arc<Self> {
        Arc::new(Scheduler {
            meta,
            data,
            policy,
            wake,
            per_link,
            avoid: Mutex::new(gather::Avoid::default()),
            executor: None,
            last_round: std::sync::atomic::AtomicU64::new(0),
            progress: Mutex::new(RoundProgress::default()),
            stats,
        })
    }

    fn progress_mut(&self) -> std::sync::MutexGuard<'_, RoundProgress> {
        self.progress.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn progress_hop(&self, link: usize, bytes: u64) {
        let mut p = self.progress_mut();
        p.bytes_done += bytes;
        if let Some(l) = p.links.get_mut(link) {
            l.done_bytes += bytes;
        }
    }

    pub(crate) fn progress_item(&self) {
        self.progress_mut().replicas_done += 1;
    }

    /// Runs until `shutdown` turns true.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        for site in self.data.local_sites() {
            if let Ok(store) = self.data.store(site) {
                match store.clear_transit().await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(
                        site,
                        removed = n,
                        "removed transit chunks of an interrupted round"
                    ),
                    Err(e) => tracing::warn!(site, error = %e, "could not clear transit chunks"),
                }
            }
        }
        let mut backoff = Duration::ZERO;
        loop {
            if *shutdown.borrow() {
                break;
            }
            // A round stopped half-way is safe: its orders are in the
            // catalogue, and the next leader lets them run out first.
            let round = tokio::select! {
                r = self.round() => r,
                _ = shutdown.changed() => break,
            };
            let worked = match round {
                Ok(Some(completed)) => {
                    backoff = if completed > 0 {
                        Duration::ZERO
                    } else {
                        (backoff * 2).clamp(Duration::from_millis(250), MAX_BACKOFF)
                    };
                    true
                }
                Ok(None) => false,
                Err(e) => {
                    tracing::warn!(error = %e, "replication round failed");
                    backoff = (backoff * 2).clamp(Duration::from_millis(250), MAX_BACKOFF);
                    true
                }
            };
            if worked && backoff.is_zero() {
                continue;
            }
            let pause = if worked { backoff } else { TICK };
            tokio::select! {
                _ = self.wake.notified(), if !worked => {}
                _ = tokio::time::sleep(pause) => {}
                _ = shutdown.changed() => {}
            }
        }
    }

    /// One round; `None` when nothing was pending or this process does
    /// not lead the metadata group (only the leader schedules).
    async fn round(&self) -> Result<Option<usize>, String> {
        let s = self.meta.status();
        if s.leader != Some(s.node_id) {
            return Ok(None);
        }
        let earlier = self
            .meta
            .reader()
            .order_rounds(16)
            .map_err(|e| e.to_string())?;
        if !earlier.is_empty() {
            leader::drain(self, &earlier).await?;
            return Ok(None);
        }
        let avoid = lock(&self.avoid).current();
        let g = gather::gather(
            &self.meta,
            &self.data,
            &self.policy.current(&self.meta.reader()).1,
            &avoid,
            ROUND_LIMIT,
        )
        .await
        .map_err(|e| e.to_string())?;
        if g.items.is_empty() {
            return Ok(None);
        }
        let plan =
            meridian_placement::plan(self.data.topology(), &g.work).map_err(|e| e.to_string())?;
        self.start_progress(&g, &plan);
        self.log_plan(&g, &plan);
        let round = leader::new_round_id(
            self.data.clock().now_ms(),
            self.last_round.load(Ordering::Relaxed),
        );
        self.last_round.store(round, Ordering::Relaxed);
        let out = leader::run_orders(self, g, plan, round).await?;
        self.end_round(&out.failed_sources);
        Ok(Some(out.completed))
    }

    fn log_plan(&self, g: &gather::Gathered, plan: &meridian_placement::Plan) {
        let factor = self.data.links().time_factor();
        for (i, d) in plan.deadlines.iter().enumerate() {
            if let (
                Deadline::Infeasible {
                    deadline_s,
                    predicted_s,
                },
                Some(item),
            ) = (d, g.items.get(i))
            {
                tracing::warn!(bucket = %item.bucket, key = %item.key, site = item.dest,
                    deadline_s = deadline_s * factor, predicted_s = predicted_s * factor,
                    "deadline cannot be met; planned best effort");
            }
        }
        tracing::info!(
            replicas = g.items.len(),
            hops = plan.hops.len(),
            plan_s = plan.completion_s * factor,
            lower_bound_s = plan.lower_bound_s * factor,
            undeliverable = plan.undeliverable.len(),
            "replication round planned"
        );
    }
}

/// Which replication job runs: `meridian dev` and `meridian node` run the
/// planner; the naive copier is the baseline `meridian-bench replicate`
/// measures it against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// The planner: multi-source, relays, priorities, deadlines.
    #[default]
    Planned,
    /// The baseline the planner is measured against: each replica copied
    /// from its ingest site over the direct route, first in first out.
    Naive,
}

/// Starts the replication job of `mode` as a task of `tasks`.
pub fn spawn(
    mode: Mode,
    (meta, data, policy): (Arc<MetaGroup>, Arc<DataPlane>, Arc<PolicyHandle>),
    wake: Arc<Notify>,
    concurrency: usize,
    tasks: &mut tokio::task::JoinSet<()>,
    stop: watch::Receiver<bool>,
) -> Arc<dyn ReplicationJob> {
    match mode {
        Mode::Planned => {
            let stats = Arc::new(ReplicationStats::default());
            let executor =
                orders::OrderExecutor::new(meta.clone(), data.clone(), concurrency, stats.clone());
            tasks.spawn(executor.clone().run(stop.clone()));
            let mut s = Scheduler::new(meta, data, policy, wake, concurrency, stats);
            if let Some(s) = Arc::get_mut(&mut s) {
                s.executor = Some(executor);
            }
            tasks.spawn(s.clone().run(stop));
            s
        }
        Mode::Naive => {
            let r = naive::Replicator::naive(meta, data, wake, concurrency);
            tasks.spawn(r.clone().run(stop));
            r
        }
    }
}

impl Scheduler {
    /// Avoids the round's failed sources for a while; marks it finished.
    fn end_round(&self, failed_sources: &std::collections::HashSet<u32>) {
        {
            let mut avoid = lock(&self.avoid);
            for s in failed_sources {
                avoid.add(*s);
            }
        }
        let mut p = self.progress_mut();
        p.active = false;
        p.finished_ms = self.data.clock().now_ms();
    }

    /// Commits a replica complete; false if the catalogue refused it (the
    /// object changed) or could not be reached (the next round retries).
    pub(crate) async fn commit_complete(&self, item: &gather::Item) -> bool {
        let cmd = meridian_meta::commands::set_replica_state(
            &item.bucket,
            &item.key,
            &item.version,
            item.dest,
            ReplicaState::Complete,
            self.data.clock().now_ms(),
        );
        match self.meta.write_one(cmd).await {
            Ok(meridian_meta::Outcome::Done) => {
                self.stats.completed.fetch_add(1, Ordering::Relaxed);
                self.progress_item();
                true
            }
            Ok(_) => false,
            Err(e) => {
                tracing::warn!(bucket = %item.bucket, key = %item.key, site = item.dest, error = %e, "could not commit a complete replica; the next round retries");
                false
            }
        }
    }

    /// Resets `replication status` for a new round.
    fn start_progress(&self, g: &gather::Gathered, plan: &meridian_placement::Plan) {
        let topo = self.data.topology();
        let factor = self.data.links().time_factor();
        let mut p = self.progress_mut();
        let round = p.round + 1;
        let mut links = vec![LinkProgress::default(); topo.links().len()];
        for h in &plan.hops {
            if let Some(l) = links.get_mut(h.link.0) {
                l.planned_bytes += g.work.chunk_sizes[h.chunk];
            }
        }
        *p = RoundProgress {
            round,
            active: true,
            started_ms: self.data.clock().now_ms(),
            finished_ms: 0,
            replicas: g.items.len() as u64,
            replicas_done: 0,
            bytes: links.iter().map(|l| l.planned_bytes).sum(),
            bytes_done: 0,
            plan_s: plan.completion_s * factor,
            lower_bound_s: plan.lower_bound_s * factor,
            deadlines_admitted: count(plan, |d| matches!(d, Deadline::Admitted { .. })),
            deadlines_infeasible: count(plan, |d| matches!(d, Deadline::Infeasible { .. })),
            links,
        };
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn count(plan: &meridian_placement::Plan, f: impl Fn(&Deadline) -> bool) -> u64 {
    plan.deadlines.iter().filter(|d| f(d)).count() as u64
}

impl ReplicationJob for Scheduler {
    fn stats(&self) -> &ReplicationStats {
        &self.stats
    }

    fn waiting_retry(&self) -> u64 {
        let p = self.progress_mut();
        if p.active {
            0
        } else {
            p.replicas.saturating_sub(p.replicas_done)
        }
    }

    fn progress(&self) -> Option<RoundProgress> {
        Some(self.progress_mut().clone())
    }
}

impl Scheduler {
    /// Replicas pending at `sites`, per the catalogue.
    pub(crate) fn pending_at(&self, sites: &[u32]) -> u64 {
        let reader = self.meta.reader();
        sites
            .iter()
            .map(|s| reader.pending_counter(*s).map_or(0, |c| c.objects))
            .sum()
    }

    /// Replicas completed so far, across rounds.
    pub fn completed(&self) -> u64 {
        self.stats.completed.load(Ordering::Relaxed)
    }
}
