//! The scheduler, on the metadata leader: plans every site's backlog at
//! once, hands each hop to the node that keeps its
//! destination as a transfer order in the catalogue, watches the orders'
//! outcomes, and commits each replica complete once its chunks are all at
//! its site. Orders outlive the leader: a new leader first lets the orders
//! it finds run out (or times them out), clears them, and plans again from
//! what the sites then hold, so nothing moved is moved twice.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::time::Duration;

use meridian_placement::{Deadline, Plan};
use meridian_proto::v1::command::Op;
use meridian_proto::v1::{ClearOrdersCmd, OrderDoneCmd, OrderState, SetOrdersCmd, TransferOrder};

use super::gather::Gathered;
use super::Scheduler;

/// Orders per Raft command.
const ORDER_BATCH: usize = 1000;
/// How often the leader looks at its orders' outcomes.
const WATCH: Duration = Duration::from_millis(50);
/// An order still pending this long after its planned end (wall clock),
/// beyond three times the plan, is given up (its node may be gone).
const ORDER_GRACE: Duration = Duration::from_secs(60);

/// What a round of orders achieved.
pub(crate) struct Outcome {
    pub completed: usize,
    pub failed_sources: HashSet<u32>,
}

/// A round id: the wall-clock ms it started at, so a later leader knows
/// how long its orders have been out.
pub(crate) fn new_round_id(now_ms: i64, last: u64) -> u64 {
    u64::try_from(now_ms).unwrap_or(0).max(last + 1)
}

pub(crate) async fn run_orders(
    sched: &Scheduler,
    g: Gathered,
    plan: Plan,
    round: u64,
) -> Result<Outcome, String> {
    // The hop that brings each (chunk, site) in this plan: a hop from a
    // relay waits for it.
    let mut brings: HashMap<(usize, u32), usize> = HashMap::new();
    for (i, h) in plan.hops.iter().enumerate() {
        brings.insert((h.chunk, h.to.0), i);
    }
    let orders: Vec<TransferOrder> = plan
        .hops
        .iter()
        .enumerate()
        .map(|(i, h)| TransferOrder {
            round,
            index: i as u32,
            hash: g.hashes[h.chunk].to_vec(),
            size: g.work.chunk_sizes[h.chunk] as u32,
            from: h.from.0,
            to: h.to.0,
            link: h.link.0 as u32,
            keep: h.keep,
            after: brings
                .get(&(h.chunk, h.from.0))
                .filter(|j| **j != i)
                .map_or(0, |j| *j as u32 + 1),
            start_s: h.start_s,
            state: OrderState::OrderPending as i32,
            error: String::new(),
            bytes: 0,
        })
        .collect();
    for batch in orders.chunks(ORDER_BATCH) {
        let cmd = meridian_meta::command(Op::SetOrders(SetOrdersCmd {
            orders: batch.to_vec(),
        }));
        sched.meta.write_one(cmd).await.map_err(|e| e.to_string())?;
    }
    if let Some(x) = &sched.executor {
        x.wake.notify_one();
    }

    // Which items wait for which (chunk, site); items already whole commit now.
    let mut remaining = vec![0usize; g.items.len()];
    let mut waiting: HashMap<(usize, u32), Vec<usize>> = HashMap::new();
    for (i, item) in g.items.iter().enumerate() {
        let mut need = item.chunks.clone();
        need.sort_unstable();
        need.dedup();
        for c in need {
            if !g.work.holders[c].iter().any(|s| s.0 == item.dest) {
                remaining[i] += 1;
                waiting.entry((c, item.dest)).or_default().push(i);
            }
        }
    }
    // Orders are given up, and deadlines judged, by real time (a node may
    // be down; links run in real time); the round gives way to new work by
    // the clock's, which tests move.
    let started = std::time::Instant::now();
    let mut completed = 0;
    let whole: Vec<usize> = (0..g.items.len()).filter(|i| remaining[*i] == 0).collect();
    for i in whole {
        if commit(sched, &g, &plan, started, i).await {
            completed += 1;
        }
    }
    let factor = sched.data.links().time_factor();
    let clock = sched.data.clock().clone();
    let planned_at = clock.instant();
    // New pending replicas (not a mere wake-up) make a long round give
    // way: its pending orders are withdrawn and the next round plans the
    // new work with what is left; chunks already moved stay moved.
    let baseline = sched.pending_at(&all_sites(sched)) + sched.completed();
    let mut seen: HashSet<u32> = HashSet::new();
    let mut failed_sources = HashSet::new();
    loop {
        let all = sched
            .meta
            .reader()
            .orders_of(round)
            .map_err(|e| e.to_string())?;
        let mut pending = 0;
        let mut ready = Vec::new();
        for o in &all {
            let final_state = o.state != OrderState::OrderPending as i32;
            if !final_state {
                pending += 1;
                let due = due_after(sched, o, factor);
                if started.elapsed() > due {
                    give_up(sched, o, "no outcome in time; its node may be down").await;
                }
                continue;
            }
            if !seen.insert(o.index) {
                continue;
            }
            let Some(h) = plan.hops.get(o.index as usize) else {
                continue;
            };
            if o.state == OrderState::OrderDone as i32 {
                sched.progress_hop(h.link.0, o.bytes);
                if o.keep {
                    for i in waiting.remove(&(h.chunk, o.to)).unwrap_or_default() {
                        // Each (chunk, site) an item waits for is counted
                        // once and leaves `waiting` when it arrives.
                        debug_assert!(remaining[i] > 0, "item {i} counted a chunk twice");
                        remaining[i] = remaining[i].saturating_sub(1);
                        if remaining[i] == 0 {
                            ready.push(i);
                        }
                    }
                }
            } else {
                failed_sources.insert(o.from);
            }
        }
        for i in ready {
            if commit(sched, &g, &plan, started, i).await {
                completed += 1;
            }
        }
        if pending == 0 {
            break;
        }
        if clock.instant().saturating_duration_since(planned_at) > super::REPLAN_AFTER
            && sched.pending_at(&all_sites(sched)) + sched.completed() > baseline
        {
            tracing::info!(
                round,
                pending,
                "new work: withdrawing this round's pending orders to replan"
            );
            break;
        }
        tokio::time::sleep(WATCH).await;
    }
    clear(sched, round).await?;
    Ok(Outcome {
        completed,
        failed_sources,
    })
}

fn all_sites(sched: &Scheduler) -> Vec<u32> {
    sched
        .data
        .topology()
        .sites()
        .iter()
        .map(|s| s.id.0)
        .collect()
}

/// Lets the orders of an earlier leader's rounds run out, then clears them.
pub(crate) async fn drain(sched: &Scheduler, rounds: &[u64]) -> Result<(), String> {
    let now = u64::try_from(sched.data.clock().now_ms()).unwrap_or(0);
    for &round in rounds {
        let all = sched
            .meta
            .reader()
            .orders_of(round)
            .map_err(|e| e.to_string())?;
        let factor = sched.data.links().time_factor();
        let mut pending = 0;
        for o in &all {
            if o.state != OrderState::OrderPending as i32 {
                continue;
            }
            pending += 1;
            let due_ms = round + due_after(sched, o, factor).as_millis() as u64;
            if now > due_ms {
                give_up(sched, o, "no outcome in time; its node may be down").await;
            }
        }
        if pending == 0 {
            clear(sched, round).await?;
            tracing::info!(round, "orders of an earlier round finished; cleared");
        }
    }
    Ok(())
}

/// How long after its round started an order may stay without an outcome:
/// three times its planned end (the plan's start plus its crossing time,
/// counted for every order that may share the link with it), and a grace.
fn due_after(sched: &Scheduler, o: &TransferOrder, factor: f64) -> Duration {
    let bps = sched
        .data
        .topology()
        .links()
        .get(o.link as usize)
        .map_or(1, |l| l.bandwidth_bps.max(1));
    let crossing_s = f64::from(o.size) * 8.0 / bps as f64 * sched.per_link.max(1) as f64;
    let end_s = (o.start_s.max(0.0) + crossing_s) * factor;
    Duration::from_secs_f64((end_s * 3.0).min(86_400.0)) + ORDER_GRACE
}

async fn give_up(sched: &Scheduler, o: &TransferOrder, why: &str) {
    let cmd = meridian_meta::command(Op::OrderDone(OrderDoneCmd {
        round: o.round,
        index: o.index,
        ok: false,
        error: why.to_string(),
        bytes: 0,
    }));
    if let Err(e) = sched.meta.write_one(cmd).await {
        tracing::warn!(error = %e, "could not give up a transfer order");
    }
}

async fn clear(sched: &Scheduler, round: u64) -> Result<(), String> {
    // Bounded: each command removes at most 100,000 orders.
    for _ in 0..1000 {
        if sched
            .meta
            .reader()
            .orders_of(round)
            .map_err(|e| e.to_string())?
            .is_empty()
        {
            return Ok(());
        }
        let cmd = meridian_meta::command(Op::ClearOrders(ClearOrdersCmd {
            round,
            limit: 100_000,
        }));
        sched.meta.write_one(cmd).await.map_err(|e| e.to_string())?;
    }
    Err(format!("round {round}: orders left after clearing"))
}

/// Commits item `i` complete, and checks it against its admitted deadline.
async fn commit(
    sched: &Scheduler,
    g: &Gathered,
    plan: &Plan,
    started: std::time::Instant,
    i: usize,
) -> bool {
    let item = &g.items[i];
    if !sched.commit_complete(item).await {
        return false;
    }
    if let Some(Deadline::Admitted { deadline_s, .. }) = plan.deadlines.get(i) {
        let factor = sched.data.links().time_factor();
        if started.elapsed().as_secs_f64() / factor > *deadline_s {
            sched.stats.deadline_misses.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(bucket = %item.bucket, key = %item.key, site = item.dest, "admitted deadline missed");
        }
    }
    true
}
