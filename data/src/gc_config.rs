//! When unreferenced chunks go, and the periods of the jobs that keep the
//! catalogue's lifetimes (read by the node's jobs too).

use std::time::Duration;

/// When unreferenced chunks go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GcConfig {
    /// A chunk file written or found in use less than this long ago stays.
    pub grace: Duration,
    /// Pause between passes over the queues.
    pub period: Duration,
    /// A multipart upload left this long is aborted (its parts reclaimed).
    pub abandoned_uploads: Duration,
    /// Pause between passes of the bucket lifecycle job.
    pub lifecycle_period: Duration,
    /// How long a lifecycle rule's day is: a day, except in tests (as
    /// Ceph RGW's `rgw_lc_debug_interval`).
    pub lifecycle_day: Duration,
    /// Versions the lifecycle job looks at per bucket and pass (smaller in
    /// tests, to exercise resuming a walk).
    pub lifecycle_walk: usize,
}

impl Default for GcConfig {
    fn default() -> Self {
        GcConfig {
            grace: Duration::from_secs(3600),
            period: Duration::from_secs(30),
            abandoned_uploads: Duration::from_secs(7 * 86_400),
            lifecycle_period: Duration::from_secs(600),
            lifecycle_day: Duration::from_secs(86_400),
            lifecycle_walk: 100_000,
        }
    }
}

impl GcConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self.grace < Duration::from_secs(1) {
            return Err(format!(
                "the chunk collector's grace period must be at least 1s, got {:?}",
                self.grace
            ));
        }
        if self.abandoned_uploads < Duration::from_secs(1) {
            return Err(format!(
                "abandoned uploads are aborted after at least 1s, got {:?}",
                self.abandoned_uploads
            ));
        }
        if self.lifecycle_period < Duration::from_secs(1)
            || self.lifecycle_day < Duration::from_secs(1)
        {
            return Err(format!(
                "the lifecycle period and day are at least 1s, got {:?} and {:?}",
                self.lifecycle_period, self.lifecycle_day
            ));
        }
        if self.period < Duration::from_secs(1) {
            return Err(format!(
                "the chunk collector's period must be at least 1s, got {:?}",
                self.period
            ));
        }
        Ok(())
    }

    /// The longest a pass goes on removing after its read of the queue.
    pub fn read_bound(&self) -> Duration {
        (self.grace / 4).min(Duration::from_secs(60))
    }

    /// How long a writer may take between writing (or finding) its chunks
    /// and committing before it must freshen them again.
    pub fn write_window(&self) -> Duration {
        self.grace.saturating_sub(self.read_bound()) / 2
    }
}
