//! When a link is busy: the intervals already reserved on it, so a new
//! transfer takes the earliest gap long enough for it.

/// Two reservations closer than this are treated as touching (seconds).
const EPS: f64 = 1e-9;

#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Timeline {
    /// Sorted, disjoint, and merged where they touch: a link kept busy
    /// back to back is one interval, so lookups stay short.
    busy: Vec<(f64, f64)>,
}

impl Timeline {
    /// The earliest start at or after `ready` of a gap `dur` long.
    pub(crate) fn fit(&self, ready: f64, dur: f64) -> f64 {
        // Intervals that end before `ready` cannot be in the way.
        let first = self.busy.partition_point(|&(_, end)| end <= ready + EPS);
        let mut start = ready;
        for &(s, e) in &self.busy[first..] {
            if s >= start + dur - EPS {
                break;
            }
            start = start.max(e);
        }
        start
    }

    /// Marks `[start, start + dur)` busy. The caller found it free with
    /// [`Timeline::fit`].
    pub(crate) fn reserve(&mut self, start: f64, dur: f64) {
        let end = start + dur;
        let at = self.busy.partition_point(|&(s, _)| s < start);
        self.busy.insert(at, (start, end));
        // Merge with the neighbours it touches.
        if at + 1 < self.busy.len() && self.busy[at + 1].0 <= end + EPS {
            self.busy[at].1 = self.busy[at].1.max(self.busy[at + 1].1);
            self.busy.remove(at + 1);
        }
        if at > 0 && self.busy[at - 1].1 + EPS >= self.busy[at].0 {
            self.busy[at - 1].1 = self.busy[at - 1].1.max(self.busy[at].1);
            self.busy.remove(at);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_gaps_and_merges() {
        let mut t = Timeline::default();
        t.reserve(0.0, 1.0);
        t.reserve(3.0, 1.0);
        // A 2 s gap between 1 and 3 fits 2 s but not 2.5 s.
        assert_eq!(t.fit(0.0, 2.0), 1.0);
        assert_eq!(t.fit(0.0, 2.5), 4.0);
        assert_eq!(t.fit(3.5, 0.1), 4.0);
        t.reserve(1.0, 2.0);
        assert_eq!(t.busy, vec![(0.0, 4.0)]);
        assert_eq!(t.fit(10.0, 1.0), 10.0);
    }
}
