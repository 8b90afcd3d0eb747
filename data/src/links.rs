//! Inter-site links: a token bucket per direction, and what each carries.
//!
//! The bucket allows debt: a taker reserves its bytes at once and sleeps until
//! the debt is paid, so takers are served in arrival order and a slow link
//! never lets a burst through. Transfers take tokens in slices of
//! [`SLICE_BYTES`], so a large chunk shares the link with the others.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use meridian_placement::{Link, LinkId, Load, Topology};

/// Bytes taken from a bucket at a time.
pub const SLICE_BYTES: usize = 64 * 1024;
/// Longest a single reservation may wait: a bound, not a tuning knob; a
/// slice of 64 KiB on a 1 kb/s link would wait 512 s.
const MAX_WAIT: Duration = Duration::from_secs(600);

pub struct TokenBucket {
    bytes_per_s: f64,
    burst: f64,
    state: Mutex<(f64, Instant)>,
}

impl TokenBucket {
    /// A bucket for `bytes_per_s`; rates below one byte a second are raised
    /// to it, so no wait is infinite.
    pub fn new(bytes_per_s: f64) -> Self {
        let bytes_per_s = if bytes_per_s.is_finite() {
            bytes_per_s.max(1.0)
        } else {
            1.0
        };
        // A burst of 50 ms of traffic (at least one slice) keeps the rate
        // smooth at every scale.
        let burst = (bytes_per_s * 0.05).max(SLICE_BYTES as f64);
        TokenBucket {
            bytes_per_s,
            burst,
            state: Mutex::new((burst, Instant::now())),
        }
    }

    pub fn bytes_per_s(&self) -> f64 {
        self.bytes_per_s
    }

    /// Reserves `n` bytes now and returns how long until the link has
    /// carried them.
    pub fn reserve(&self, n: usize) -> Duration {
        let mut st = match self.state.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        let now = Instant::now();
        let elapsed = now.duration_since(st.1).as_secs_f64();
        st.0 = (st.0 + elapsed * self.bytes_per_s).min(self.burst);
        st.1 = now;
        st.0 -= n as f64;
        if st.0 >= 0.0 {
            Duration::ZERO
        } else {
            Duration::try_from_secs_f64(-st.0 / self.bytes_per_s)
                .unwrap_or(MAX_WAIT)
                .min(MAX_WAIT)
        }
    }

    /// Reserves `n` bytes and waits until the link has carried them.
    pub async fn take(&self, n: usize) {
        let wait = self.reserve(n);
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

/// One direction of a link, with its counters.
pub struct LinkState {
    pub link: Link,
    pub bucket: TokenBucket,
    /// Bytes queued or in flight over this link.
    pub backlog_bytes: AtomicU64,
    pub backlog_chunks: AtomicU64,
    pub transferred_bytes: AtomicU64,
}

pub struct Links {
    links: Vec<LinkState>,
    /// Emulated bandwidth over declared bandwidth (1.0 on real links).
    scale: f64,
}

impl Links {
    pub fn new(topology: &Topology, scale: f64) -> Self {
        Links {
            links: topology
                .links()
                .iter()
                .map(|l| LinkState {
                    link: l.clone(),
                    bucket: TokenBucket::new(l.bandwidth_bps as f64 * scale / 8.0),
                    backlog_bytes: AtomicU64::new(0),
                    backlog_chunks: AtomicU64::new(0),
                    transferred_bytes: AtomicU64::new(0),
                })
                .collect(),
            scale,
        }
    }

    /// Wall-clock seconds per second of declared-bandwidth time: plans are
    /// made in the topology's bandwidths, and run on these links.
    pub fn time_factor(&self) -> f64 {
        1.0 / self.scale
    }

    pub fn all(&self) -> &[LinkState] {
        &self.links
    }

    pub fn get(&self, id: LinkId) -> Option<&LinkState> {
        self.links.get(id.0)
    }

    /// Each link's queue in seconds, for placement to weigh.
    pub fn load(&self) -> Load {
        Load {
            free_bytes: Default::default(),
            link_backlog_s: self
                .links
                .iter()
                .map(|l| l.backlog_bytes.load(Ordering::Relaxed) as f64 / l.bucket.bytes_per_s())
                .collect(),
        }
    }

    /// Carries `bytes` over every link of a route, slice by slice; the
    /// slowest link sets the pace. Backlog counters cover the whole call,
    /// also when the future is dropped half-way.
    pub async fn carry(&self, route: &[LinkId], bytes: usize) {
        let states: Vec<&LinkState> = route.iter().filter_map(|l| self.get(*l)).collect();
        let _backlog = Backlog::enter(&states, bytes as u64);
        let mut left = bytes;
        while left > 0 {
            let n = left.min(SLICE_BYTES);
            // Every link of the route carries the slice at once (the
            // transfer is pipelined through the relay), so the slowest link
            // sets the pace rather than the sum of them.
            let wait = states
                .iter()
                .map(|s| s.bucket.reserve(n))
                .max()
                .unwrap_or(Duration::ZERO);
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
            for s in &states {
                s.transferred_bytes.fetch_add(n as u64, Ordering::Relaxed);
            }
            left -= n;
        }
    }
}

struct Backlog<'a> {
    states: Vec<&'a LinkState>,
    bytes: u64,
}

impl<'a> Backlog<'a> {
    fn enter(states: &[&'a LinkState], bytes: u64) -> Self {
        for s in states {
            s.backlog_bytes.fetch_add(bytes, Ordering::Relaxed);
            s.backlog_chunks.fetch_add(1, Ordering::Relaxed);
        }
        Backlog {
            states: states.to_vec(),
            bytes,
        }
    }
}

impl Drop for Backlog<'_> {
    fn drop(&mut self) {
        for s in &self.states {
            s.backlog_bytes.fetch_sub(self.bytes, Ordering::Relaxed);
            s.backlog_chunks.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn bucket_paces_at_its_rate() {
        let b = TokenBucket::new(1_000_000.0); // 1 MB/s, burst 64 KiB
        let start = tokio::time::Instant::now();
        for _ in 0..32 {
            b.take(SLICE_BYTES).await;
        }
        let took = start.elapsed().as_secs_f64();
        // 2 MiB at 1 MB/s, less the initial burst: about 2.03 s.
        let expect = (32.0 * SLICE_BYTES as f64 - SLICE_BYTES as f64) / 1_000_000.0;
        assert!(
            (took - expect).abs() < 0.05,
            "took {took}, expected {expect}"
        );
    }
}
