//! Repair of damaged replicas, on the metadata leader. The scrubber and
//! the audit mark a replica whose chunk is missing or corrupt suspect (its
//! bad file set aside, so nothing reads it or counts it as held); this job
//! walks the catalogue's index of damaged replicas and sends each suspect
//! one back to pending when another complete replica exists, so the
//! replication scheduler copies what it lacks from a healthy site through
//! the links like any other pending replica (verified on arrival, committed
//! complete when whole), restoring its placement. A suspect replica with no
//! complete replica left anywhere is marked lost: nothing can repair it, and
//! the audit reports it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use meridian_core::records::ReplicaState;
use meridian_core::SharedClock;
use meridian_meta::{MetaError, Outcome};
use meridian_proto::v1::command::Op;
use meridian_proto::v1::SetReplicaStateCmd;
use tokio::sync::{watch, Notify};

use crate::metagroup::MetaGroup;

/// How often the leader looks at the index.
const PERIOD: Duration = Duration::from_secs(2);
/// Damaged replicas looked at per site and pass.
const PAGE: usize = 1000;

/// What the repair job did since this process started.
#[derive(Debug, Clone, Copy, Default)]
pub struct RepairCounts {
    pub passes: u64,
    /// Suspect replicas sent back to pending for a copy.
    pub requeued: u64,
    /// Suspect replicas with no healthy copy left: marked lost.
    pub lost: u64,
}

pub struct Repair {
    meta: Arc<MetaGroup>,
    sites: Vec<u32>,
    clock: SharedClock,
    replication: Arc<Notify>,
    passes: AtomicU64,
    requeued: AtomicU64,
    lost: AtomicU64,
}

impl Repair {
    pub fn new(
        meta: Arc<MetaGroup>,
        sites: Vec<u32>,
        clock: SharedClock,
        replication: Arc<Notify>,
    ) -> Arc<Self> {
        Arc::new(Repair {
            meta,
            sites,
            clock,
            replication,
            passes: AtomicU64::new(0),
            requeued: AtomicU64::new(0),
            lost: AtomicU64::new(0),
        })
    }

    pub fn counts(&self) -> RepairCounts {
        RepairCounts {
            passes: self.passes.load(Ordering::Relaxed),
            requeued: self.requeued.load(Ordering::Relaxed),
            lost: self.lost.load(Ordering::Relaxed),
        }
    }

    fn leads(&self) -> bool {
        let s = self.meta.status();
        s.leader == Some(s.node_id)
    }

    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        loop {
            if self.leads() {
                match self.pass().await {
                    Ok(0) => {}
                    Ok(_) => self.replication.notify_one(),
                    Err(e) => tracing::warn!(error = %e, "repair pass failed; retrying"),
                }
                self.passes.fetch_add(1, Ordering::Relaxed);
            }
            tokio::select! {
                _ = tokio::time::sleep(PERIOD) => {}
                _ = shutdown.changed() => {}
            }
            if *shutdown.borrow() {
                return;
            }
        }
    }

    /// One look at every site's damaged replicas; how many went back to
    /// pending.
    async fn pass(&self) -> Result<u64, MetaError> {
        let mut requeued = 0;
        for &site in &self.sites {
            let reader = self.meta.reader();
            // Lost ones stay in the index; page past them.
            let mut after: Option<(u64, String)> = None;
            for _ in 0..100 {
                let page =
                    reader.damaged(site, after.as_ref().map(|(b, k)| (*b, k.as_str())), PAGE)?;
                let Some(last) = page.last().cloned() else {
                    break;
                };
                for (bucket_id, key) in &page {
                    let Some(rec) = reader.object(*bucket_id, key)? else {
                        continue;
                    };
                    let Some(mine) = rec.replicas.iter().find(|r| r.site == site) else {
                        continue;
                    };
                    if mine.state != ReplicaState::Suspect {
                        continue;
                    }
                    let Some(bucket) = reader.bucket_name(*bucket_id)? else {
                        continue;
                    };
                    let healthy = rec
                        .replicas
                        .iter()
                        .any(|r| r.site != site && r.state == ReplicaState::Complete);
                    let to = if healthy {
                        meridian_proto::v1::ReplicaState::Pending
                    } else {
                        meridian_proto::v1::ReplicaState::Lost
                    };
                    let cmd = meridian_meta::command(Op::SetReplicaState(SetReplicaStateCmd {
                        bucket,
                        key: key.clone(),
                        version_id: rec.version_id.clone(),
                        site,
                        state: to as i32,
                        now_ms: self.clock.now_ms(),
                    }));
                    let done = match self.meta.write_one(cmd).await {
                        Ok(o) => matches!(o, Outcome::Done),
                        // Moved on since it was read (repaired, overwritten).
                        Err(MetaError::Rejected { .. }) => false,
                        Err(e) => return Err(e),
                    };
                    if done {
                        if healthy {
                            requeued += 1;
                            self.requeued.fetch_add(1, Ordering::Relaxed);
                            tracing::info!(site, %key, "suspect replica queued for repair");
                        } else {
                            self.lost.fetch_add(1, Ordering::Relaxed);
                            tracing::error!(site, %key, "suspect replica has no healthy copy left: lost");
                        }
                    }
                }
                if page.len() < PAGE {
                    break;
                }
                after = Some(last);
            }
        }
        Ok(requeued)
    }
}
