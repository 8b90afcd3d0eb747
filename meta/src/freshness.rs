//! How fresh a follower's state is, for bounded-staleness reads.
//!
//! Every AppendEntries the follower accepts (heartbeats included) carries
//! the leader's commit index. Once the follower has applied up to it, its
//! state holds every write the leader had committed when it sent that
//! message. So if that message arrived less than `max` ago and has been
//! applied, a read here misses nothing acknowledged more than `max` (plus
//! the message's transit) before the read.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

#[derive(Default)]
pub struct Freshness {
    /// When the last accepted AppendEntries arrived, and its leader commit index.
    last: Mutex<Option<(Instant, u64)>>,
}

impl Freshness {
    pub fn record(&self, leader_commit: u64) {
        let mut g = self.last.lock().unwrap_or_else(|p| p.into_inner());
        *g = Some((Instant::now(), leader_commit));
    }

    /// How long since a leader last reached this node (`None`: never).
    pub fn since_heard(&self) -> Option<Duration> {
        let g = self.last.lock().unwrap_or_else(|p| p.into_inner());
        g.map(|(at, _)| at.elapsed())
    }

    /// Whether state applied up to `applied` is within `max` of the leader.
    pub fn within(&self, max: Duration, applied: u64) -> bool {
        let g = self.last.lock().unwrap_or_else(|p| p.into_inner());
        matches!(*g, Some((at, commit)) if at.elapsed() <= max && applied >= commit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn fresh_only_while_recent_and_applied() {
        let f = Freshness::default();
        assert!(
            !f.within(Duration::from_secs(10), 100),
            "never heard from a leader"
        );
        f.record(50);
        assert!(!f.within(Duration::from_secs(10), 49), "not yet applied");
        assert!(f.within(Duration::from_secs(10), 50));
        tokio::time::advance(Duration::from_millis(600)).await;
        assert!(!f.within(Duration::from_millis(500), 50), "too old");
        assert!(f.within(Duration::from_secs(1), 50));
    }
}
