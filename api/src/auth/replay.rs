//! The nonces of signed requests seen within the replay window: a request
//! presented twice is refused the second time. Bounded: when full of
//! unexpired nonces, new requests are refused (never let through
//! unremembered) until the oldest expire; expired nonces are forgotten as
//! new ones come.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

/// Nonces kept at most: at a sustained 1,000 signed calls a second, the
/// ten minutes a nonce lives (the window either way) hold 600,000.
pub const CAPACITY: usize = 1_000_000;

#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    Replayed,
    Full,
}

/// The nonces and when each may be forgotten, also in that order, so that
/// each admission forgets what has expired (a few entries at a time, not a
/// scan of the whole cache once it is full).
#[derive(Default)]
struct Seen {
    until: HashMap<String, i64>,
    by_expiry: BTreeSet<(i64, String)>,
}

pub struct ReplayCache {
    seen: Mutex<Seen>,
    capacity: usize,
}

impl ReplayCache {
    pub fn new(capacity: usize) -> Self {
        ReplayCache {
            seen: Mutex::new(Seen::default()),
            capacity,
        }
    }

    /// Records `nonce` (with its key: two keys may pick the same one) until
    /// `expires_ms`; refuses one already recorded and unexpired.
    pub fn admit(&self, nonce: String, expires_ms: i64, now_ms: i64) -> Result<(), Refusal> {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let Seen { until, by_expiry } = &mut *seen;
        while let Some(first) = by_expiry.first() {
            if first.0 > now_ms {
                break;
            }
            if let Some((_, old)) = by_expiry.pop_first() {
                until.remove(&old);
            }
        }
        if until.contains_key(&nonce) {
            return Err(Refusal::Replayed);
        }
        if until.len() >= self.capacity {
            return Err(Refusal::Full);
        }
        until.insert(nonce.clone(), expires_ms);
        by_expiry.insert((expires_ms, nonce));
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .until
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nonce_is_good_once_within_its_life_and_the_cache_is_bounded() {
        let c = ReplayCache::new(2);
        assert_eq!(c.admit("a".into(), 100, 0), Ok(()));
        assert_eq!(c.admit("a".into(), 100, 50), Err(Refusal::Replayed));
        assert_eq!(c.admit("b".into(), 100, 50), Ok(()));
        assert_eq!(c.admit("c".into(), 300, 60), Err(Refusal::Full));
        // Once "a" and "b" expire, room is made.
        assert_eq!(c.admit("c".into(), 300, 100), Ok(()));
        assert_eq!(c.len(), 1);
        // Expired nonces are forgotten as others come, full or not.
        let d = ReplayCache::new(10);
        for (i, until) in [(0, 10), (1, 20), (2, 30)] {
            assert_eq!(d.admit(format!("n{i}"), until, 0), Ok(()));
        }
        assert_eq!(d.admit("n3".into(), 40, 25), Ok(()));
        assert_eq!(d.len(), 2, "n0 and n1 expired by 25");
        // An expired nonce may come again (its time is then out of the
        // window anyway, which the caller checks first).
        assert_eq!(c.admit("a".into(), 400, 150), Ok(()));
    }
}
