//! Time as a dependency. Everything that decides by time (GC grace,
//! lifecycle days, abandoned uploads, presigned URL expiry, re-plan delays,
//! cache lifetimes) asks a [`Clock`], so that tests can move time instead of
//! waiting for it.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A source of wall-clock and monotonic time.
pub trait Clock: Send + Sync + 'static {
    /// Milliseconds since the Unix epoch (UTC).
    fn now_ms(&self) -> i64;
    /// A monotonic instant, for intervals within this process.
    fn instant(&self) -> Instant;
}

/// A clock's time as a UTC date and time (the epoch for one out of range).
pub fn utc_now(clock: &dyn Clock) -> time::OffsetDateTime {
    let nanos = i128::from(clock.now_ms()) * 1_000_000;
    time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

/// Milliseconds since the Unix epoch as RFC 3339 (empty if out of range).
pub fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// The clock shared by the parts of one process.
pub type SharedClock = Arc<dyn Clock>;

/// The operating system's clocks.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        // Before 1970 only on a badly set machine; 0 is as wrong as any.
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
    }

    fn instant(&self) -> Instant {
        Instant::now()
    }
}

/// The system clock, shared.
pub fn system() -> SharedClock {
    Arc::new(SystemClock)
}

/// A clock that moves only when told to: wall and monotonic time advance
/// together by [`ManualClock::advance`].
#[derive(Debug)]
pub struct ManualClock {
    start_ms: i64,
    start: Instant,
    advanced_ms: AtomicI64,
}

impl ManualClock {
    /// A clock reading `start_ms` (milliseconds since the Unix epoch).
    pub fn at(start_ms: i64) -> Arc<Self> {
        Arc::new(ManualClock {
            start_ms,
            start: Instant::now(),
            advanced_ms: AtomicI64::new(0),
        })
    }

    /// A clock reading what the system clock reads now.
    pub fn starting_now() -> Arc<Self> {
        Self::at(SystemClock.now_ms())
    }

    /// Moves both readings forward by `by`.
    pub fn advance(&self, by: Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.advanced_ms.fetch_add(ms, Ordering::SeqCst);
    }

    fn advanced(&self) -> i64 {
        self.advanced_ms.load(Ordering::SeqCst)
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.start_ms.saturating_add(self.advanced())
    }

    fn instant(&self) -> Instant {
        let by = Duration::from_millis(u64::try_from(self.advanced()).unwrap_or(0));
        self.start + by
    }
}

/// The system clock plus an offset that only grows: time flows as on the
/// machine (Raft's timers and network timeouts are unaffected) and a test
/// jumps it ahead to make records and chunk files old without waiting for
/// them. A process runs on one when started with `--test-clock`; the admin
/// API moves it.
#[derive(Debug, Default)]
pub struct OffsetClock {
    offset_ms: AtomicI64,
}

impl OffsetClock {
    pub fn new() -> Arc<Self> {
        Arc::new(OffsetClock::default())
    }

    /// Moves both readings forward by `by`.
    pub fn advance(&self, by: Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.offset_ms.fetch_add(ms, Ordering::SeqCst);
    }

    /// How far ahead of the system clock this one reads.
    pub fn offset(&self) -> Duration {
        Duration::from_millis(u64::try_from(self.offset_ms.load(Ordering::SeqCst)).unwrap_or(0))
    }
}

impl Clock for OffsetClock {
    fn now_ms(&self) -> i64 {
        let ahead = i64::try_from(self.offset().as_millis()).unwrap_or(i64::MAX);
        SystemClock.now_ms().saturating_add(ahead)
    }

    fn instant(&self) -> Instant {
        Instant::now() + self.offset()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_advanced() {
        let c = ManualClock::at(1_000);
        let (t0, i0) = (c.now_ms(), c.instant());
        assert_eq!(t0, 1_000);
        assert_eq!(c.now_ms(), t0);
        c.advance(Duration::from_secs(90));
        assert_eq!(c.now_ms(), 91_000);
        assert_eq!(c.instant() - i0, Duration::from_secs(90));
    }

    #[test]
    fn an_offset_clock_runs_ahead_of_the_system_by_what_it_was_moved() {
        let c = OffsetClock::new();
        let (sys, i0) = (SystemClock.now_ms(), Instant::now());
        c.advance(Duration::from_secs(3600));
        let ahead = c.now_ms() - sys;
        // The system clock may step between the readings; an hour is far
        // larger than any such step on a machine that runs the tests.
        assert!((3_600_000..3_660_000).contains(&ahead), "{ahead}");
        assert!(c.instant() - i0 >= Duration::from_secs(3600));
        assert_eq!(c.offset(), Duration::from_secs(3600));
    }

    #[test]
    fn the_system_clock_reads_this_century() {
        let now = SystemClock.now_ms();
        // 2020-01-01 and 2100-01-01.
        assert!(now > 1_577_836_800_000 && now < 4_102_444_800_000, "{now}");
    }
}
