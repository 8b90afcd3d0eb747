//! What the status shows of the replication job that runs.

use std::sync::atomic::AtomicU64;

#[derive(Default)]
pub struct ReplicationStats {
    pub completed: AtomicU64,
    pub bytes_copied: AtomicU64,
    pub failures: AtomicU64,
    pub running: AtomicU64,
    /// Replicas completed after a deadline their plan had admitted.
    pub deadline_misses: AtomicU64,
}

/// What the admin API shows of whichever replication job runs.
pub trait ReplicationJob: Send + Sync {
    fn stats(&self) -> &ReplicationStats;
    /// Replicas backing off after a failed attempt.
    fn waiting_retry(&self) -> u64;
    /// The current or last round of the planner, if the job plans.
    fn progress(&self) -> Option<super::RoundProgress> {
        None
    }
}
