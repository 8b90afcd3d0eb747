//! The nonces of signed requests seen within the replay window: a request
//! presented twice is refused the second time. Bounded: when full of
//! unexpired nonces, new requests are refused (never let through
//! unremembered) until the oldest expire.

use std::collections::HashMap;
use std::sync::Mutex;

/// Nonces kept at most: at a sustained 1,000 signed calls a second, the
/// ten minutes a nonce lives (the window either way) hold 600,000.
pub const CAPACITY: usize = 1_000_000;

#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    Replayed,
    Full,
}

pub struct ReplayCache {
    seen: Mutex<HashMap<String, i64>>,
    capacity: usize,
}

impl ReplayCache {
    pub fn new(capacity: usize) -> Self {
        ReplayCache {
            seen: Mutex::new(HashMap::new()),
            capacity,
        }
    }

    /// Records `nonce` (with its key: two keys may pick the same one) until
    /// `expires_ms`; refuses one already recorded and unexpired.
    pub fn admit(&self, nonce: String, expires_ms: i64, now_ms: i64) -> Result<(), Refusal> {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(&until) = seen.get(&nonce) {
            if until > now_ms {
                return Err(Refusal::Replayed);
            }
        }
        if seen.len() >= self.capacity {
            seen.retain(|_, until| *until > now_ms);
            if seen.len() >= self.capacity {
                return Err(Refusal::Full);
            }
        }
        seen.insert(nonce, expires_ms);
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).len()
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
        // An expired nonce may come again (its time is then out of the
        // window anyway, which the caller checks first).
        assert_eq!(c.admit("a".into(), 400, 150), Ok(()));
    }
}
