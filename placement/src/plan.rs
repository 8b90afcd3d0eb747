//! Transfer planning: for every replica still to make and every chunk of it,
//! the source and the links it crosses, with the time each hop is expected
//! to take on its link.
//!
//! The planner is a list scheduler over the link graph. Each link carries
//! one chunk at a time at its full bandwidth (so no link is ever asked for
//! more than its capacity), and keeps a timeline of the intervals already
//! promised. Replicas are planned in order of priority, then deadline, then
//! arrival; each chunk of a replica takes the route that delivers it
//! earliest given what is already promised (a shortest-path search whose
//! edge cost is "wait for the first gap on this link, then cross it"). A
//! route may start at any site that holds the chunk or will hold it by then
//! (multi-source), and may pass through other sites, which store the chunk
//! and forward it (relay): an object born at Jiangmen that Beijing and
//! Dongguan both want crosses the Jiangmen uplink once, and Beijing forwards
//! it. A chunk a relay holds only in passing is marked transient so the
//! executor can drop it afterwards.
//!
//! Deadlines are admitted only where the plan meets them: a replica with a
//! deadline is planned tentatively; if it would finish late its promises are
//! withdrawn and it is planned again, best effort, after every admitted
//! replica, and reported with its predicted completion.

use std::collections::BTreeSet;

use crate::timeline::Timeline;
use crate::{LinkId, SiteId, Topology};

/// What there is to move.
#[derive(Debug, Clone, PartialEq)]
pub struct Work {
    /// Size in bytes of each chunk; a chunk is named by its index here.
    pub chunk_sizes: Vec<u64>,
    /// The sites holding each chunk now (same length as `chunk_sizes`).
    pub holders: Vec<BTreeSet<SiteId>>,
    pub transfers: Vec<Transfer>,
    /// Sites allowed to store chunks in passing for others; `None`: any.
    pub relays: Option<BTreeSet<SiteId>>,
    /// Seconds of traffic already promised on each link (by `LinkId`);
    /// links past the end of the vector are idle.
    pub link_busy_s: Vec<f64>,
}

/// One replica to make: these chunks, at this site.
#[derive(Debug, Clone, PartialEq)]
pub struct Transfer {
    pub dest: SiteId,
    /// Indexes into [`Work::chunk_sizes`].
    pub chunks: Vec<usize>,
    /// Higher is planned first.
    pub priority: u8,
    /// Seconds from now by which the replica must be complete.
    pub deadline_s: Option<f64>,
}

/// One chunk crossing one link.
#[derive(Debug, Clone, PartialEq)]
pub struct Hop {
    pub chunk: usize,
    pub link: LinkId,
    pub from: SiteId,
    pub to: SiteId,
    pub start_s: f64,
    pub end_s: f64,
    /// Whether `to` keeps the chunk (a replica wants it there); `false`: a
    /// relay holds it only until it has forwarded it.
    pub keep: bool,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Deadline {
    /// No deadline asked.
    None,
    /// The plan meets it.
    Admitted { deadline_s: f64, predicted_s: f64 },
    /// The plan cannot meet it; the replica is still planned, after the
    /// admitted ones, and is expected to complete at `predicted_s`.
    Infeasible { deadline_s: f64, predicted_s: f64 },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Every hop, ordered by start time (then link, then chunk).
    pub hops: Vec<Hop>,
    /// When each transfer completes (by index in [`Work::transfers`]);
    /// infinite for one that cannot be completed.
    pub transfer_done_s: Vec<f64>,
    pub deadlines: Vec<Deadline>,
    /// When the last deliverable chunk arrives.
    pub completion_s: f64,
    /// No plan can finish sooner (see [`crate::lower_bound_s`]).
    pub lower_bound_s: f64,
    /// `(transfer, chunk)` pairs no holder can reach: no site holds the
    /// chunk, or no route from any holder leads to the destination.
    pub undeliverable: Vec<(usize, usize)>,
}

impl Plan {
    /// Plan time over the lower bound: 1.0 is the best any plan can do.
    pub fn ratio_to_bound(&self) -> f64 {
        if self.lower_bound_s > 0.0 {
            self.completion_s / self.lower_bound_s
        } else {
            1.0
        }
    }
}

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum WorkError {
    #[error("holders has {holders} entries for {chunks} chunks")]
    HoldersLength { holders: usize, chunks: usize },
    #[error("transfer {transfer} names chunk {chunk}, but there are {chunks} chunks")]
    UnknownChunk {
        transfer: usize,
        chunk: usize,
        chunks: usize,
    },
    #[error("transfer {transfer} is to site {site}, which the topology does not have")]
    UnknownSite { transfer: usize, site: u32 },
}

impl Work {
    pub fn validate(&self, topo: &Topology) -> Result<(), WorkError> {
        let chunks = self.chunk_sizes.len();
        if self.holders.len() != chunks {
            return Err(WorkError::HoldersLength {
                holders: self.holders.len(),
                chunks,
            });
        }
        for (i, t) in self.transfers.iter().enumerate() {
            if topo.site(t.dest).is_none() {
                return Err(WorkError::UnknownSite {
                    transfer: i,
                    site: t.dest.0,
                });
            }
            if let Some(&c) = t.chunks.iter().find(|&&c| c >= chunks) {
                return Err(WorkError::UnknownChunk {
                    transfer: i,
                    chunk: c,
                    chunks,
                });
            }
        }
        Ok(())
    }
}

/// Seconds for `bytes` to cross a link of `bps`.
pub(crate) fn crossing_s(bytes: u64, bps: u64) -> f64 {
    bytes as f64 * 8.0 / bps.max(1) as f64
}

/// Where a chunk is, or will be: site index, time, and the hop bringing it.
#[derive(Debug, Clone, Copy)]
struct Copy {
    site: usize,
    at: f64,
    hop: Option<usize>,
}

/// The planner's promises so far; cloned to try a deadline tentatively.
#[derive(Clone)]
struct State {
    timelines: Vec<Timeline>,
    copies: Vec<Vec<Copy>>,
    hops: Vec<Hop>,
}

struct Graph<'a> {
    topo: &'a Topology,
    /// Outgoing links per site index: (link id, to index, bandwidth).
    out: Vec<Vec<(usize, usize, u64)>>,
    relay: Vec<bool>,
}

impl<'a> Graph<'a> {
    fn new(topo: &'a Topology, relays: Option<&BTreeSet<SiteId>>) -> Self {
        let sites = topo.sites();
        let index = |id: SiteId| sites.iter().position(|s| s.id == id);
        let mut out = vec![Vec::new(); sites.len()];
        for (i, l) in topo.links().iter().enumerate() {
            if let (Some(a), Some(b)) = (index(l.from), index(l.to)) {
                out[a].push((i, b, l.bandwidth_bps));
            }
        }
        let relay = sites
            .iter()
            .map(|s| relays.is_none_or(|r| r.contains(&s.id)))
            .collect();
        Graph { topo, out, relay }
    }

    fn index(&self, id: SiteId) -> Option<usize> {
        self.topo.sites().iter().position(|s| s.id == id)
    }

    fn id(&self, index: usize) -> SiteId {
        self.topo.sites()[index].id
    }
}

/// Plans `work` over `topo`. Deterministic: the same input gives the same
/// plan, hop for hop.
pub fn plan(topo: &Topology, work: &Work) -> Result<Plan, WorkError> {
    work.validate(topo)?;
    let graph = Graph::new(topo, work.relays.as_ref());
    let mut state = State {
        timelines: vec![Timeline::default(); topo.links().len()],
        copies: work
            .holders
            .iter()
            .map(|h| {
                h.iter()
                    .filter_map(|s| graph.index(*s))
                    .map(|site| Copy {
                        site,
                        at: 0.0,
                        hop: None,
                    })
                    .collect()
            })
            .collect(),
        hops: Vec::new(),
    };
    for (l, busy) in work.link_busy_s.iter().enumerate() {
        if let Some(t) = state.timelines.get_mut(l) {
            if busy.is_finite() && *busy > 0.0 {
                t.reserve(0.0, *busy);
            }
        }
    }

    let mut order: Vec<usize> = (0..work.transfers.len()).collect();
    order.sort_by(|&a, &b| {
        let (ta, tb) = (&work.transfers[a], &work.transfers[b]);
        tb.priority
            .cmp(&ta.priority)
            .then_with(|| match (ta.deadline_s, tb.deadline_s) {
                (Some(x), Some(y)) => x.total_cmp(&y),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => std::cmp::Ordering::Equal,
            })
            .then(a.cmp(&b))
    });

    let n = work.transfers.len();
    let mut done = vec![0.0f64; n];
    let mut deadlines = vec![Deadline::None; n];
    let mut undeliverable = Vec::new();
    let mut deferred = Vec::new();
    for &t in &order {
        let transfer = &work.transfers[t];
        match transfer.deadline_s {
            Some(deadline_s) => {
                let mut trial = state.clone();
                let (at, lost) = plan_transfer(&graph, work, &mut trial, transfer);
                if lost.is_empty() && at <= deadline_s {
                    state = trial;
                    done[t] = at;
                    deadlines[t] = Deadline::Admitted {
                        deadline_s,
                        predicted_s: at,
                    };
                } else {
                    deferred.push(t);
                }
            }
            None => {
                let (at, lost) = plan_transfer(&graph, work, &mut state, transfer);
                done[t] = at;
                undeliverable.extend(lost.into_iter().map(|c| (t, c)));
            }
        }
    }
    for t in deferred {
        let transfer = &work.transfers[t];
        let (at, lost) = plan_transfer(&graph, work, &mut state, transfer);
        done[t] = at;
        if let Some(deadline_s) = transfer.deadline_s {
            deadlines[t] = Deadline::Infeasible {
                deadline_s,
                predicted_s: at,
            };
        }
        undeliverable.extend(lost.into_iter().map(|c| (t, c)));
    }
    undeliverable.sort_unstable();

    let completion_s = done
        .iter()
        .copied()
        .filter(|d| d.is_finite())
        .fold(0.0, f64::max);
    let mut hops = state.hops;
    hops.sort_by(|a, b| {
        a.start_s
            .total_cmp(&b.start_s)
            .then(a.link.cmp(&b.link))
            .then(a.chunk.cmp(&b.chunk))
    });
    for (i, d) in done.iter_mut().enumerate() {
        if undeliverable.iter().any(|(t, _)| *t == i) {
            *d = f64::INFINITY;
        }
    }
    // The bound is for the work the plan can do: chunks no route reaches
    // (relays refused on the only way) are reported, not timed.
    let lower_bound_s = if undeliverable.is_empty() {
        crate::bound::lower_bound_s(topo, work)
    } else {
        let mut reachable = work.clone();
        for (t, tr) in reachable.transfers.iter_mut().enumerate() {
            tr.chunks
                .retain(|c| undeliverable.binary_search(&(t, *c)).is_err());
        }
        crate::bound::lower_bound_s(topo, &reachable)
    };
    Ok(Plan {
        hops,
        transfer_done_s: done,
        deadlines,
        completion_s,
        lower_bound_s,
        undeliverable,
    })
}

/// Plans every chunk of one transfer; returns when the last one arrives and
/// the chunks that cannot be delivered.
fn plan_transfer(
    graph: &Graph<'_>,
    work: &Work,
    state: &mut State,
    transfer: &Transfer,
) -> (f64, Vec<usize>) {
    let mut last = 0.0f64;
    let mut lost = Vec::new();
    let Some(dest) = graph.index(transfer.dest) else {
        return (f64::INFINITY, transfer.chunks.clone());
    };
    for &c in &transfer.chunks {
        match deliver(graph, work.chunk_sizes[c], c, dest, state) {
            Some(at) => last = last.max(at),
            None => lost.push(c),
        }
    }
    (last, lost)
}

/// Promises the earliest delivery of chunk `c` to site index `dest`.
fn deliver(graph: &Graph<'_>, size: u64, c: usize, dest: usize, state: &mut State) -> Option<f64> {
    if let Some(copy) = state.copies[c].iter().find(|k| k.site == dest).copied() {
        // Already there, or on its way through as a relay: now it stays.
        if let Some(h) = copy.hop {
            state.hops[h].keep = true;
        }
        return Some(copy.at);
    }
    let n = graph.out.len();
    let mut arrive = vec![f64::INFINITY; n];
    // How each site is reached: (previous site, link, hop start).
    let mut via: Vec<Option<(usize, usize, f64)>> = vec![None; n];
    for k in &state.copies[c] {
        if k.at < arrive[k.site] {
            arrive[k.site] = k.at;
        }
    }
    let mut settled = vec![false; n];
    loop {
        // The unsettled site reached earliest (ties by index): a handful of
        // sites, so a linear pick beats a heap.
        let mut u = None;
        for i in 0..n {
            if !settled[i]
                && arrive[i].is_finite()
                && u.is_none_or(|j: usize| arrive[i] < arrive[j])
            {
                u = Some(i);
            }
        }
        let Some(u) = u else { break };
        settled[u] = true;
        if u == dest {
            break;
        }
        // Only holders and allowed relays pass a chunk on.
        let holds = state.copies[c].iter().any(|k| k.site == u);
        if !holds && !graph.relay[u] {
            continue;
        }
        for &(link, v, bps) in &graph.out[u] {
            if settled[v] {
                continue;
            }
            let dur = crossing_s(size, bps);
            let start = state.timelines[link].fit(arrive[u], dur);
            let at = start + dur;
            if at < arrive[v] {
                arrive[v] = at;
                via[v] = Some((u, link, start));
            }
        }
    }
    if !arrive[dest].is_finite() {
        return None;
    }
    // Walk back from the destination, promising each link on the way.
    let mut path = Vec::new();
    let mut v = dest;
    while let Some((u, link, start)) = via[v] {
        path.push((u, v, link, start));
        v = u;
    }
    path.reverse();
    for (u, v, link, start) in path {
        let bps = graph.topo.links()[link].bandwidth_bps;
        let dur = crossing_s(size, bps);
        state.timelines[link].reserve(start, dur);
        state.hops.push(Hop {
            chunk: c,
            link: LinkId(link),
            from: graph.id(u),
            to: graph.id(v),
            start_s: start,
            end_s: start + dur,
            keep: v == dest,
        });
        state.copies[c].push(Copy {
            site: v,
            at: start + dur,
            hop: Some(state.hops.len() - 1),
        });
    }
    Some(arrive[dest])
}
