//! Carrying out a plan: each link works through its hops in the plan's
//! order, a bounded number at a time, taking the first whose source already
//! holds the chunk (a relay forwards a chunk as soon as it has it). A
//! replica is committed complete through Raft the moment its last chunk is
//! stored at its site, verified.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use meridian_core::ChunkHash;
use meridian_placement::{Deadline, Plan};
use tokio::sync::{watch, Notify};

use super::gather::Gathered;
use super::Scheduler;
use crate::data::Area;

/// Hops looked at past the head of a link's queue for one that is ready.
const WINDOW: usize = 256;
/// Attempts at one hop before its chunk is given up for this round.
const HOP_ATTEMPTS: u32 = 3;
/// Longest a worker waits for a source before looking again.
const POLL: Duration = Duration::from_millis(100);

struct State {
    /// Hop indexes per link, in plan order.
    queues: Vec<VecDeque<usize>>,
    /// (chunk, site) held now, and where.
    present: HashMap<(usize, u32), Area>,
    /// (chunk, site) that will not arrive this round.
    lost: HashSet<(usize, u32)>,
    /// Chunks each item still lacks at its site.
    remaining: Vec<usize>,
    /// Items waiting for (chunk, site).
    waiting: HashMap<(usize, u32), Vec<usize>>,
    /// Sources that failed this round.
    failed_sources: HashSet<u32>,
}

struct Round<'a> {
    sched: &'a Scheduler,
    g: Gathered,
    plan: Plan,
    started: Instant,
    state: Mutex<State>,
    changed: Notify,
    stop: watch::Receiver<bool>,
    /// Set when new work should be planned with what is left: workers
    /// take no new hop, in-flight ones finish.
    preempt: Arc<AtomicBool>,
}

impl Round<'_> {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// What a round achieved.
pub(crate) struct Outcome {
    pub completed: usize,
    pub failed_sources: HashSet<u32>,
    /// Relays' chunks kept for the next round (a preempted round leaves
    /// them; a finished one removes them all).
    pub transit: HashSet<(ChunkHash, u32)>,
}

pub(crate) async fn execute(
    sched: &Scheduler,
    g: Gathered,
    plan: Plan,
    stop: watch::Receiver<bool>,
    preempt: Arc<AtomicBool>,
) -> Outcome {
    let links = sched.data.topology().links().len();
    let mut queues = vec![VecDeque::new(); links];
    for (i, h) in plan.hops.iter().enumerate() {
        if let Some(q) = queues.get_mut(h.link.0) {
            q.push_back(i);
        }
    }
    let mut present = HashMap::new();
    for (c, hs) in g.work.holders.iter().enumerate() {
        for s in hs {
            let area = if g.transit_only.contains(&(c, s.0)) {
                Area::Transit
            } else {
                Area::Chunks
            };
            present.insert((c, s.0), area);
        }
    }
    // A destination whose chunk is only in its transit area (relayed in a
    // round cut short) stores it for good before its replica can count it.
    for item in &g.items {
        for &c in &item.chunks {
            if present.get(&(c, item.dest)) == Some(&Area::Transit) {
                let promoted = match sched.data.store(item.dest) {
                    Ok(store) => match store.get_in(Area::Transit, &g.hashes[c]).await {
                        Ok(bytes) => store.put(&g.hashes[c], bytes).await.is_ok(),
                        Err(_) => false,
                    },
                    Err(_) => false,
                };
                if promoted {
                    present.insert((c, item.dest), Area::Chunks);
                } else {
                    present.remove(&(c, item.dest));
                }
            }
        }
    }
    let mut remaining = vec![0; g.items.len()];
    let mut waiting: HashMap<(usize, u32), Vec<usize>> = HashMap::new();
    for (i, item) in g.items.iter().enumerate() {
        let mut need: Vec<usize> = item.chunks.clone();
        need.sort_unstable();
        need.dedup();
        for c in need {
            if !present.contains_key(&(c, item.dest)) {
                remaining[i] += 1;
                waiting.entry((c, item.dest)).or_default().push(i);
            }
        }
    }
    let round = Arc::new(Round {
        sched,
        started: Instant::now(),
        state: Mutex::new(State {
            queues,
            present,
            lost: HashSet::new(),
            remaining,
            waiting,
            failed_sources: HashSet::new(),
        }),
        changed: Notify::new(),
        stop,
        preempt,
        g,
        plan,
    });
    // Replicas whose chunks were all there already (an earlier round's
    // work, or shared content): commit them now.
    let ready: Vec<usize> = round
        .state()
        .remaining
        .iter()
        .enumerate()
        .filter(|(_, r)| **r == 0)
        .map(|(i, _)| i)
        .collect();
    let mut completed = 0;
    for i in ready {
        if commit(&round, i).await {
            completed += 1;
        }
    }
    let per_link = sched.per_link.max(1);
    let mut workers = Vec::new();
    for link in 0..links {
        if round.state().queues[link].is_empty() {
            continue;
        }
        for _ in 0..per_link {
            workers.push(worker(round.clone(), link));
        }
    }
    for n in futures::future::join_all(workers).await {
        completed += n;
    }
    let failed_sources = round.state().failed_sources.clone();
    let transit = if round.preempt.load(Ordering::Relaxed) {
        round
            .state()
            .present
            .iter()
            .filter(|(_, a)| **a == Area::Transit)
            .map(|((c, site), _)| (round.g.hashes[*c], *site))
            .collect()
    } else {
        cleanup_transit(&round).await;
        HashSet::new()
    };
    Outcome {
        completed,
        failed_sources,
        transit,
    }
}

enum Next {
    Hop(usize),
    Wait,
    Done,
}

fn next_hop(round: &Round<'_>, link: usize) -> Next {
    let mut st = round.state();
    let State {
        queues,
        present,
        lost,
        ..
    } = &mut *st;
    let q = &mut queues[link];
    if q.is_empty() {
        return Next::Done;
    }
    let mut pos = 0;
    while pos < q.len().min(WINDOW) {
        let h = &round.plan.hops[q[pos]];
        if present.contains_key(&(h.chunk, h.from.0)) {
            return q.remove(pos).map_or(Next::Wait, Next::Hop);
        }
        if lost.contains(&(h.chunk, h.from.0)) {
            // Its source will never have the chunk: neither will `to`.
            lost.insert((h.chunk, h.to.0));
            q.remove(pos);
            round.changed.notify_waiters();
            continue;
        }
        pos += 1;
    }
    if q.is_empty() {
        Next::Done
    } else {
        Next::Wait
    }
}

/// Works one link's queue; returns the replicas it completed.
async fn worker(round: Arc<Round<'_>>, link: usize) -> usize {
    let mut completed = 0;
    loop {
        if *round.stop.borrow() || round.preempt.load(Ordering::Relaxed) {
            return completed;
        }
        let h = match next_hop(&round, link) {
            Next::Done => return completed,
            Next::Wait => {
                let _ = tokio::time::timeout(POLL, round.changed.notified()).await;
                continue;
            }
            Next::Hop(h) => h,
        };
        let hop = round.plan.hops[h].clone();
        let hash = round.g.hashes[hop.chunk];
        let from_area = round
            .state()
            .present
            .get(&(hop.chunk, hop.from.0))
            .copied()
            .unwrap_or(Area::Chunks);
        let to_area = if hop.keep {
            Area::Chunks
        } else {
            Area::Transit
        };
        let mut result = Err(String::new());
        for attempt in 0..HOP_ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(200 << (2 * attempt))).await;
            }
            let stats = &round.sched.stats;
            stats.running.fetch_add(1, Ordering::Relaxed);
            let r = round
                .sched
                .data
                .forward(
                    (hop.from.0, from_area),
                    (hop.to.0, to_area),
                    hop.link,
                    &hash,
                )
                .await;
            stats.running.fetch_sub(1, Ordering::Relaxed);
            match r {
                Ok(n) => {
                    result = Ok(n);
                    break;
                }
                Err(e) => {
                    stats.failures.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(chunk = %hex::encode(hash), from = hop.from.0, to = hop.to.0, attempt, error = %e, "hop failed");
                    result = Err(e.to_string());
                }
            }
        }
        let done_items = {
            let mut st = round.state();
            match result {
                Ok(n) => {
                    round
                        .sched
                        .stats
                        .bytes_copied
                        .fetch_add(n, Ordering::Relaxed);
                    round.sched.progress_hop(hop.link.0, n);
                    st.present.insert((hop.chunk, hop.to.0), to_area);
                    let mut done = Vec::new();
                    if to_area == Area::Chunks {
                        if let Some(items) = st.waiting.remove(&(hop.chunk, hop.to.0)) {
                            for i in items {
                                st.remaining[i] = st.remaining[i].saturating_sub(1);
                                if st.remaining[i] == 0 {
                                    done.push(i);
                                }
                            }
                        }
                    }
                    done
                }
                Err(_) => {
                    st.lost.insert((hop.chunk, hop.to.0));
                    st.failed_sources.insert(hop.from.0);
                    Vec::new()
                }
            }
        };
        round.changed.notify_waiters();
        for i in done_items {
            if commit(&round, i).await {
                completed += 1;
            }
        }
    }
}

/// Commits item `i` complete, and checks it against its admitted deadline.
async fn commit(round: &Round<'_>, i: usize) -> bool {
    let item = &round.g.items[i];
    if !round.sched.commit_complete(item).await {
        return false;
    }
    if let Some(Deadline::Admitted { deadline_s, .. }) = round.plan.deadlines.get(i) {
        let factor = round.sched.data.links().time_factor();
        if round.started.elapsed().as_secs_f64() / factor > *deadline_s {
            round
                .sched
                .stats
                .deadline_misses
                .fetch_add(1, Ordering::Relaxed);
            tracing::warn!(bucket = %item.bucket, key = %item.key, site = item.dest, "admitted deadline missed");
        }
    }
    true
}

/// Drops what relays held only in passing.
async fn cleanup_transit(round: &Round<'_>) {
    let transit: Vec<(usize, u32)> = round
        .state()
        .present
        .iter()
        .filter(|(_, a)| **a == Area::Transit)
        .map(|(k, _)| *k)
        .collect();
    for (c, site) in transit {
        if let Ok(store) = round.sched.data.store(site) {
            if let Err(e) = store.delete_transit(&round.g.hashes[c]).await {
                tracing::warn!(site, error = %e, "could not drop a transit chunk; removed at next start");
            }
        }
    }
}
