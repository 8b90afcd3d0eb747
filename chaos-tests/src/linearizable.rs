//! A linearizability checker for single-key operations (Wing and Gong's
//! search with Lowe's memoisation, as Knossos and Porcupine do it), over
//! the history a chaos workload records: every operation with its start
//! and end times and what it returned.
//!
//! Objects are independent registers, so a history is checked key by key
//! (linearizability is compositional). A key's value is what a GET would
//! return: absent, or a version named by its content hash. An operation
//! whose outcome the client never learned (a timeout, a dropped
//! connection, a 5xx) may have taken effect or not: it is given an end at
//! infinity, so the search may place it anywhere after its start,
//! including after everything else, where it is never seen.
//!
//! The search is bounded ([`Limits`]): a history too tangled to decide
//! within it is reported as undecided, never as passing.

use std::collections::{BTreeMap, HashSet};

/// What a key holds: `None` when absent, else the stored version's name
/// (its BLAKE3, say).
pub type Value = Option<String>;

/// What an operation did, as the client saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// A PUT of this value.
    Put(String),
    /// A DELETE.
    Delete,
    /// A GET that returned this (`None`: not found).
    Get(Value),
}

/// Whether the client learned the outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Acknowledged: it happened (a GET's value is what it read).
    Ok,
    /// Refused with a clear error: it did not happen (left out).
    Failed,
    /// Unknown: it may or may not have happened.
    Unknown,
}

/// One operation of a history. Times are in any one clock's units (the
/// workload's monotonic nanoseconds); `start <= end`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub key: String,
    pub op: Op,
    pub start: u64,
    pub end: u64,
    pub outcome: Outcome,
}

/// How far the search may go before it gives up on a key.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Operations of one key.
    pub max_ops: usize,
    /// Search steps per key.
    pub max_steps: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_ops: 10_000,
            max_steps: 5_000_000,
        }
    }
}

/// The verdict on one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Linearizable,
    /// No order explains the history; `stuck_at` is the operation (an
    /// index into the key's events, as passed) the longest attempt could
    /// not place.
    NotLinearizable {
        stuck_at: usize,
    },
    /// The limits were reached first.
    Undecided {
        why: String,
    },
}

/// The verdict on a whole history, per key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub keys: BTreeMap<String, Verdict>,
    /// Operations checked (failed ones and unknown reads left out).
    pub checked: usize,
}

impl Report {
    pub fn linearizable(&self) -> bool {
        self.keys.values().all(|v| *v == Verdict::Linearizable)
    }

    /// The keys that are not known to be linearizable, with why.
    pub fn problems(&self) -> Vec<(&str, &Verdict)> {
        self.keys
            .iter()
            .filter(|(_, v)| **v != Verdict::Linearizable)
            .map(|(k, v)| (k.as_str(), v))
            .collect()
    }
}

/// Checks every key of `history`, starting from `initial` (what each key
/// held before the history: usually absent).
pub fn check(history: &[Event], initial: &Value, limits: Limits) -> Report {
    let mut by_key: BTreeMap<&str, Vec<&Event>> = BTreeMap::new();
    for e in history {
        let useful = match (&e.outcome, &e.op) {
            (Outcome::Failed, _) => false,
            // A read whose answer never came says nothing.
            (Outcome::Unknown, Op::Get(_)) => false,
            _ => true,
        };
        if useful {
            by_key.entry(e.key.as_str()).or_default().push(e);
        }
    }
    let mut report = Report::default();
    for (key, events) in by_key {
        report.checked += events.len();
        report
            .keys
            .insert(key.to_string(), check_key(&events, initial, limits));
    }
    report
}

/// The register's step: whether `op` can follow `state`, and the state
/// after it.
fn step(state: &Value, op: &Op) -> Option<Value> {
    match op {
        Op::Put(v) => Some(Some(v.clone())),
        Op::Delete => Some(None),
        Op::Get(seen) => (seen == state).then(|| state.clone()),
    }
}

/// One entry of the search's list: an operation's call or its return.
#[derive(Debug, Clone, Copy)]
struct Entry {
    op: usize,
    call: bool,
    prev: usize,
    next: usize,
}

/// The doubly linked list of calls and returns in time order, with a head
/// sentinel at 0, so an operation can be lifted out and put back in O(1).
struct Entries {
    e: Vec<Entry>,
    /// Per operation: its call's and its return's positions in `e`.
    at: Vec<(usize, usize)>,
}

impl Entries {
    fn new(events: &[&Event]) -> Self {
        // (time, calls before returns at the same time: two operations
        // that touch at an instant are concurrent, not ordered)
        let mut points: Vec<(u64, bool, usize)> = Vec::with_capacity(events.len() * 2);
        for (i, e) in events.iter().enumerate() {
            let end = if e.outcome == Outcome::Unknown {
                u64::MAX
            } else {
                e.end.max(e.start)
            };
            points.push((e.start, true, i));
            points.push((end, false, i));
        }
        points.sort_by_key(|&(t, call, i)| (t, !call, i));
        let n = points.len();
        let mut e = Vec::with_capacity(n + 1);
        e.push(Entry {
            op: usize::MAX,
            call: false,
            prev: 0,
            next: if n == 0 { 0 } else { 1 },
        });
        let mut at = vec![(0, 0); events.len()];
        for (j, &(_, call, op)) in points.iter().enumerate() {
            let pos = j + 1;
            e.push(Entry {
                op,
                call,
                prev: pos - 1,
                next: if pos == n { 0 } else { pos + 1 },
            });
            if call {
                at[op].0 = pos;
            } else {
                at[op].1 = pos;
            }
        }
        Entries { e, at }
    }

    fn unlink(&mut self, pos: usize) {
        let Entry { prev, next, .. } = self.e[pos];
        self.e[prev].next = next;
        self.e[next].prev = prev;
    }

    fn relink(&mut self, pos: usize) {
        let Entry { prev, next, .. } = self.e[pos];
        self.e[prev].next = pos;
        self.e[next].prev = pos;
    }

    /// Takes operation `op`'s call and return out of the list.
    fn lift(&mut self, op: usize) {
        let (c, r) = self.at[op];
        self.unlink(r);
        self.unlink(c);
    }

    /// Puts them back (in the reverse order of [`Self::lift`]).
    fn unlift(&mut self, op: usize) {
        let (c, r) = self.at[op];
        self.relink(c);
        self.relink(r);
    }

    fn head(&self) -> usize {
        self.e[0].next
    }
}

fn check_key(events: &[&Event], initial: &Value, limits: Limits) -> Verdict {
    if events.len() > limits.max_ops {
        return Verdict::Undecided {
            why: format!(
                "{} operations on one key; the checker takes at most {}",
                events.len(),
                limits.max_ops
            ),
        };
    }
    let mut list = Entries::new(events);
    let words = events.len().div_ceil(64);
    let mut done = vec![0u64; words];
    let mut state = initial.clone();
    // What has been tried: the set of operations placed and the state
    // they left. Reaching the same pair again cannot end differently.
    let mut seen: HashSet<(Vec<u64>, Value)> = HashSet::new();
    let mut stack: Vec<(usize, Value)> = Vec::new();
    let mut deepest = (0usize, 0usize);
    let mut steps = 0u64;
    let mut pos = list.head();
    loop {
        if pos == 0 {
            // Every operation placed.
            return Verdict::Linearizable;
        }
        steps += 1;
        if steps > limits.max_steps {
            return Verdict::Undecided {
                why: format!("no verdict within {} search steps", limits.max_steps),
            };
        }
        let entry = list.e[pos];
        if entry.call {
            if let Some(next) = step(&state, &events[entry.op].op) {
                let mut placed = done.clone();
                placed[entry.op / 64] |= 1 << (entry.op % 64);
                if seen.insert((placed.clone(), next.clone())) {
                    stack.push((entry.op, state));
                    done = placed;
                    state = next;
                    list.lift(entry.op);
                    if stack.len() > deepest.0 {
                        deepest = (stack.len(), entry.op);
                    }
                    pos = list.head();
                    continue;
                }
            }
            pos = entry.next;
        } else {
            // An operation returned before any order could place it:
            // undo the last placement and try what comes after it.
            let Some((op, before)) = stack.pop() else {
                let stuck_at = if deepest.0 == 0 { entry.op } else { deepest.1 };
                return Verdict::NotLinearizable { stuck_at };
            };
            done[op / 64] &= !(1 << (op % 64));
            state = before;
            list.unlift(op);
            pos = list.e[list.at[op].0].next;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(key: &str, op: Op, start: u64, end: u64) -> Event {
        Event {
            key: key.into(),
            op,
            start,
            end,
            outcome: Outcome::Ok,
        }
    }

    fn put(v: &str, s: u64, e: u64) -> Event {
        ev("k", Op::Put(v.into()), s, e)
    }

    fn get(v: Option<&str>, s: u64, e: u64) -> Event {
        ev("k", Op::Get(v.map(String::from)), s, e)
    }

    fn verdict(h: &[Event]) -> Verdict {
        let r = check(h, &None, Limits::default());
        r.keys.get("k").cloned().unwrap_or(Verdict::Linearizable)
    }

    #[test]
    fn sequential_histories_are_linearizable_when_reads_see_the_last_write() {
        let h = [
            get(None, 0, 1),
            put("a", 2, 3),
            get(Some("a"), 4, 5),
            ev("k", Op::Delete, 6, 7),
            get(None, 8, 9),
        ];
        assert_eq!(verdict(&h), Verdict::Linearizable);
    }

    #[test]
    fn a_stale_read_after_an_acknowledged_write_is_refused() {
        // The known non-linearizable history: b is acknowledged at 5, and
        // a read that starts after it still returns a.
        let h = [put("a", 0, 1), put("b", 2, 5), get(Some("a"), 6, 7)];
        assert!(matches!(verdict(&h), Verdict::NotLinearizable { .. }));
    }

    #[test]
    fn concurrent_operations_may_take_either_order() {
        // The read overlaps the write: old or new value are both fine.
        for seen in [Some("a"), Some("b")] {
            let h = [put("a", 0, 1), put("b", 2, 10), get(seen, 3, 4)];
            assert_eq!(verdict(&h), Verdict::Linearizable, "{seen:?}");
        }
        // But a value nobody wrote never is.
        let h = [put("a", 0, 1), put("b", 2, 10), get(Some("c"), 3, 4)];
        assert!(matches!(verdict(&h), Verdict::NotLinearizable { .. }));
    }

    #[test]
    fn two_readers_may_not_see_the_write_in_opposite_orders() {
        // Reader 1 sees b then reader 2, strictly later, sees a again:
        // the write cannot be undone.
        let h = [
            put("a", 0, 1),
            put("b", 2, 20),
            get(Some("b"), 3, 4),
            get(Some("a"), 5, 6),
        ];
        assert!(matches!(verdict(&h), Verdict::NotLinearizable { .. }));
    }

    #[test]
    fn a_write_of_unknown_outcome_may_have_happened_or_not() {
        let mut lost = put("b", 2, 3);
        lost.outcome = Outcome::Unknown;
        // Never seen: fine. Seen, even long after its client gave up: fine.
        assert_eq!(
            verdict(&[put("a", 0, 1), lost.clone(), get(Some("a"), 10, 11)]),
            Verdict::Linearizable
        );
        assert_eq!(
            verdict(&[put("a", 0, 1), lost.clone(), get(Some("b"), 10, 11)]),
            Verdict::Linearizable
        );
        // Seen and then unseen is not.
        assert!(matches!(
            verdict(&[
                put("a", 0, 1),
                lost,
                get(Some("b"), 10, 11),
                get(Some("a"), 12, 13)
            ]),
            Verdict::NotLinearizable { .. }
        ));
    }

    #[test]
    fn failed_operations_did_not_happen() {
        let mut refused = put("b", 2, 3);
        refused.outcome = Outcome::Failed;
        assert!(matches!(
            verdict(&[put("a", 0, 1), refused, get(Some("b"), 10, 11)]),
            Verdict::NotLinearizable { .. }
        ));
    }

    #[test]
    fn keys_are_checked_apart() {
        let h = [
            ev("x", Op::Put("1".into()), 0, 1),
            ev("y", Op::Put("2".into()), 0, 1),
            ev("x", Op::Get(Some("1".into())), 2, 3),
            ev("y", Op::Get(Some("1".into())), 2, 3),
        ];
        let r = check(&h, &None, Limits::default());
        assert_eq!(r.checked, 4);
        assert_eq!(r.keys["x"], Verdict::Linearizable);
        assert!(matches!(r.keys["y"], Verdict::NotLinearizable { .. }));
        assert!(!r.linearizable());
        assert_eq!(r.problems().len(), 1);
    }

    #[test]
    fn many_concurrent_writers_are_decided_within_the_limits() {
        // 12 writers all overlapping, then reads that pin the last one:
        // without memoisation this is 12! orders.
        let mut h: Vec<Event> = (0..12).map(|i| put(&format!("v{i}"), i, 100 + i)).collect();
        h.push(get(Some("v7"), 200, 201));
        h.push(get(Some("v7"), 202, 203));
        assert_eq!(verdict(&h), Verdict::Linearizable);
        h.push(get(Some("v3"), 204, 205));
        assert!(matches!(verdict(&h), Verdict::NotLinearizable { .. }));
    }

    #[test]
    fn histories_made_from_a_sequential_run_always_pass() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(16);
        for round in 0..300 {
            // Each operation takes effect at its own instant (10 apart);
            // its interval is stretched around that instant at random, so
            // neighbours overlap, but the instants are a valid order.
            let mut state: Value = None;
            let mut h = Vec::new();
            for i in 0..10u64 {
                let at = 1000 + i * 10;
                let (start, end) = (at - rng.random_range(0..25), at + rng.random_range(0..25));
                let op = match rng.random_range(0..3) {
                    0 => {
                        let v = format!("v{round}-{i}");
                        state = Some(v.clone());
                        Op::Put(v)
                    }
                    1 => {
                        state = None;
                        Op::Delete
                    }
                    _ => Op::Get(state.clone()),
                };
                h.push(ev("k", op, start, end));
            }
            assert_eq!(verdict(&h), Verdict::Linearizable, "round {round}: {h:?}");
            // A read of a value nobody wrote, strictly after everything,
            // is never explained.
            h.push(get(Some("never"), 2000, 2001));
            assert!(
                matches!(verdict(&h), Verdict::NotLinearizable { .. }),
                "round {round}"
            );
        }
    }

    #[test]
    fn the_limits_give_an_undecided_verdict_not_a_pass() {
        let h: Vec<Event> = (0..20).map(|i| put(&format!("v{i}"), i, 100)).collect();
        let r = check(
            &h,
            &None,
            Limits {
                max_ops: 10,
                max_steps: 1000,
            },
        );
        assert!(matches!(r.keys["k"], Verdict::Undecided { .. }));
        assert!(!r.linearizable());
        let mut h: Vec<Event> = (0..14).map(|i| put(&format!("v{i}"), i, 100 + i)).collect();
        h.push(get(Some("nobody"), 200, 201));
        let r = check(
            &h,
            &None,
            Limits {
                max_ops: 100,
                max_steps: 50,
            },
        );
        assert!(matches!(r.keys["k"], Verdict::Undecided { .. }), "{r:?}");
    }
}
