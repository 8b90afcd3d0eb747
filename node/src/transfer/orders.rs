//! Carrying out transfer orders: every node runs one, for the sites it
//! keeps. An order is one hop of the leader's plan; the node pulls the
//! chunk from the order's source over the order's link (through that
//! link's token bucket), stores it verified (in the transit area if it only
//! relays it), and records the outcome through Raft. An order that waits
//! for a relay starts once the relay's own order is done; if that one
//! failed, so does this. Orders live in the catalogue, so they outlive the
//! leader that wrote them and this process: after a restart the node picks
//! up its pending orders, and a chunk it already holds is not carried again.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use meridian_core::ChunkHash;
use meridian_placement::LinkId;
use meridian_proto::v1::command::Op;
use meridian_proto::v1::{OrderDoneCmd, OrderState, TransferOrder};
use tokio::sync::{watch, Notify};

use crate::metagroup::MetaGroup;
use crate::transfer::stats::ReplicationStats;
use meridian_data::{Area, DataPlane};

/// Pending orders read per site per look.
const READ_LIMIT: usize = 4096;
/// How often pending orders are looked at when nothing wakes the executor.
const POLL: Duration = Duration::from_millis(50);
/// Attempts at one order before it is reported failed.
const ATTEMPTS: u32 = 3;

pub struct OrderExecutor {
    meta: Arc<MetaGroup>,
    data: Arc<DataPlane>,
    /// Orders in flight per link.
    per_link: usize,
    running: Mutex<HashSet<(u64, u32)>>,
    in_flight: Mutex<HashMap<u32, usize>>,
    /// Chunks relayed here, by round: removed once the round's orders are.
    transit: Mutex<BTreeMap<u64, Vec<(ChunkHash, u32)>>>,
    pub wake: Notify,
    /// Bytes carried, attempts failed, transfers running (shown in the
    /// status with the scheduler's counts).
    stats: Arc<ReplicationStats>,
}

impl OrderExecutor {
    pub fn new(
        meta: Arc<MetaGroup>,
        data: Arc<DataPlane>,
        per_link: usize,
        stats: Arc<ReplicationStats>,
    ) -> Arc<Self> {
        Arc::new(OrderExecutor {
            meta,
            data,
            per_link: per_link.max(1),
            running: Mutex::new(HashSet::new()),
            in_flight: Mutex::new(HashMap::new()),
            transit: Mutex::new(BTreeMap::new()),
            wake: Notify::new(),
            stats,
        })
    }

    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        loop {
            if *shutdown.borrow() {
                return;
            }
            if let Err(e) = self.look() {
                tracing::warn!(error = %e, "reading transfer orders");
            }
            self.cleanup().await;
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(POLL) => {}
                _ = shutdown.changed() => {}
            }
        }
    }

    /// Starts every ready order there is room for.
    fn look(self: &Arc<Self>) -> Result<(), meridian_meta::MetaError> {
        let reader = self.meta.reader();
        for site in self.data.local_sites() {
            for o in reader.orders_for(site, READ_LIMIT)? {
                let id = (o.round, o.index);
                if lock(&self.running).contains(&id) {
                    continue;
                }
                if lock(&self.in_flight).get(&o.link).copied().unwrap_or(0) >= self.per_link {
                    continue;
                }
                let from_area = if o.after == 0 {
                    Area::Chunks
                } else {
                    match reader.order(o.round, o.after - 1)? {
                        Some(dep) if dep.state == OrderState::OrderDone as i32 => {
                            if dep.keep {
                                Area::Chunks
                            } else {
                                Area::Transit
                            }
                        }
                        Some(dep) if dep.state == OrderState::OrderFailed as i32 => {
                            lock(&self.running).insert(id);
                            let this = self.clone();
                            tokio::spawn(async move {
                                this.finish(&o, Err("the relay never received the chunk".into()))
                                    .await;
                            });
                            continue;
                        }
                        // Not there yet, or its round was cleared.
                        _ => continue,
                    }
                };
                lock(&self.running).insert(id);
                *lock(&self.in_flight).entry(o.link).or_default() += 1;
                let this = self.clone();
                tokio::spawn(async move {
                    let r = this.carry(&o, from_area).await;
                    if let Some(n) = lock(&this.in_flight).get_mut(&o.link) {
                        debug_assert!(*n > 0, "link {} in flight below zero", o.link);
                        *n = n.saturating_sub(1);
                    }
                    this.finish(&o, r).await;
                });
            }
        }
        Ok(())
    }

    async fn carry(&self, o: &TransferOrder, from_area: Area) -> Result<u64, String> {
        let hash: ChunkHash = o
            .hash
            .as_slice()
            .try_into()
            .map_err(|_| "the order's hash is not 32 bytes".to_string())?;
        let to_area = if o.keep { Area::Chunks } else { Area::Transit };
        let mut last = String::new();
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(200 << (2 * attempt))).await;
            }
            self.stats.running.fetch_add(1, Ordering::Relaxed);
            let r = self
                .data
                .forward(
                    (o.from, from_area),
                    (o.to, to_area),
                    LinkId(o.link as usize),
                    &hash,
                )
                .await;
            self.stats.running.fetch_sub(1, Ordering::Relaxed);
            match r {
                Ok(n) => {
                    self.stats.bytes_copied.fetch_add(n, Ordering::Relaxed);
                    if !o.keep {
                        lock(&self.transit)
                            .entry(o.round)
                            .or_default()
                            .push((hash, o.to));
                    }
                    return Ok(n);
                }
                Err(e) => {
                    self.stats.failures.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(round = o.round, index = o.index, from = o.from, to = o.to, attempt, error = %e, "transfer order failed");
                    last = e.to_string();
                }
            }
        }
        Err(last)
    }

    /// Records an order's outcome; until that is committed the order stays
    /// pending (and is not started twice by this process).
    async fn finish(&self, o: &TransferOrder, r: Result<u64, String>) {
        let (ok, error, bytes) = match &r {
            Ok(n) => (true, String::new(), *n),
            Err(e) => (false, e.clone(), 0),
        };
        let cmd = meridian_meta::command(Op::OrderDone(OrderDoneCmd {
            round: o.round,
            index: o.index,
            ok,
            error,
            bytes,
        }));
        if let Err(e) = self.meta.write_one(cmd).await {
            tracing::warn!(error = %e, "could not record a transfer order's outcome; it runs again");
        }
        lock(&self.running).remove(&(o.round, o.index));
        self.wake.notify_one();
    }

    /// Drops relayed chunks of rounds whose orders are gone.
    async fn cleanup(&self) {
        let rounds: Vec<u64> = lock(&self.transit).keys().copied().collect();
        if rounds.is_empty() {
            return;
        }
        let live = match self.meta.reader().order_rounds(64) {
            Ok(r) => r,
            Err(_) => return,
        };
        for round in rounds {
            if live.contains(&round) {
                continue;
            }
            let chunks = lock(&self.transit).remove(&round).unwrap_or_default();
            for (hash, site) in chunks {
                if let Ok(store) = self.data.store(site) {
                    if let Err(e) = store.delete_transit(&hash).await {
                        tracing::warn!(site, error = %e, "could not drop a relayed chunk; removed at next start");
                    }
                }
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
