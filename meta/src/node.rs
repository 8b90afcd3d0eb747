//! One metadata node: an openraft instance over the RocksDB store.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use meridian_proto::v1::raft_service_server::RaftServiceServer;
use meridian_proto::v1::{Command, CommandBatch};
use openraft::error::{InitializeError, RaftError};
use openraft::{BasicNode, Raft, ServerState, SnapshotPolicy};

use crate::barrier::ReadBarrier;
use crate::catalogue::CatalogueReader;
use crate::commit::{CommitConfig, Committer};
use crate::forward::LeaderLink;
use crate::network::{GrpcNetwork, NoPeers};
use crate::raft_service::RaftGrpc;
use crate::store;
use crate::types::{Outcome, Request, TypeConfig};
use crate::MetaError;

#[derive(Debug, Clone)]
pub struct MetaConfig {
    pub node_id: u64,
    /// Directory of the RocksDB database and the snapshot files.
    pub dir: PathBuf,
    /// Address peers would reach this node at (recorded in the membership
    /// of a single-voter group; with peers, `peers` is authoritative).
    pub addr: String,
    /// Every voter of the group, this node included: node id -> address of
    /// its gRPC server (serving [`MetaNode::raft_service`]). Empty or one
    /// entry: a single-voter group with no network.
    pub peers: BTreeMap<u64, String>,
    /// A learner: not among `peers` (the voters); it asks them to add it
    /// (see [`crate::forward::join`]) and then follows the log.
    pub learner: bool,
    /// Whether this node creates the group (with all `peers` as voters) if
    /// it is not yet initialized. Exactly one node of a new group does.
    pub initialize: bool,
    /// Build a snapshot (and purge the log) after this many applied entries.
    pub snapshot_every: u64,
    /// How long `start` waits for a leader (this node, with one voter).
    pub leader_wait: Duration,
    /// Group commit of concurrent writes.
    pub commit: CommitConfig,
    /// This node's identity on the cluster port: a group of several
    /// members talks only mutual TLS under the cluster CA.
    pub tls: Option<meridian_tls::ClusterTls>,
    /// Keep the files' search indexes (always, in a node). Off only to
    /// measure what they cost (`meridian-bench meta --without-file-index`):
    /// every member of a group must agree, and a catalogue written without
    /// them answers searches of files incompletely.
    pub index_files: bool,
}

impl MetaConfig {
    pub fn new(dir: PathBuf, addr: String) -> Self {
        MetaConfig {
            node_id: 1,
            dir,
            addr,
            peers: BTreeMap::new(),
            learner: false,
            initialize: true,
            snapshot_every: 20_000,
            leader_wait: Duration::from_secs(30),
            commit: CommitConfig::default(),
            tls: None,
            index_files: true,
        }
    }

    /// Node `id` of a group whose members are `peers` (id -> Raft address,
    /// this node included), reached with `tls`. The lowest id forms the
    /// group on first start.
    pub fn member(
        dir: PathBuf,
        id: u64,
        peers: &BTreeMap<u64, String>,
        tls: meridian_tls::ClusterTls,
    ) -> Self {
        let mut cfg = MetaConfig::new(dir, peers.get(&id).cloned().unwrap_or_default());
        cfg.node_id = id;
        cfg.peers = peers.clone();
        cfg.tls = Some(tls);
        cfg.initialize = peers.keys().next() == Some(&id);
        cfg
    }
}

/// What `status` shows of Raft.
#[derive(Debug, Clone, Default)]
pub struct RaftStatus {
    pub node_id: u64,
    pub leader: Option<u64>,
    pub term: u64,
    pub applied_index: u64,
    pub last_log_index: u64,
    pub snapshot_index: u64,
    /// Log entries up to here are deleted (covered by the snapshot); a
    /// peer that needs older ones is sent the snapshot.
    pub purged_index: u64,
    pub state: String,
}

pub struct MetaNode {
    id: u64,
    raft: Raft<TypeConfig>,
    reader: CatalogueReader,
    db: Arc<rocksdb::DB>,
    committer: Committer,
    barrier: ReadBarrier,
    freshness: Arc<crate::freshness::Freshness>,
}

impl MetaNode {
    /// Opens the store, starts Raft, initializes the group if asked to and
    /// it is new, and waits (bounded by `leader_wait`) until a leader is
    /// known: this node, in a single-voter group.
    ///
    /// With several voters the peers must be able to reach this node's
    /// `raft_service` while it waits, or no election can finish: a caller
    /// that serves the service only once it has the `MetaNode` uses
    /// [`MetaNode::open`], serves, then [`MetaNode::wait_for_leader`].
    pub async fn start(cfg: MetaConfig) -> Result<Self, MetaError> {
        let wait = cfg.leader_wait;
        let node = Self::open(cfg).await?;
        node.wait_for_leader(wait).await?;
        Ok(node)
    }

    /// `start` without the wait for a leader.
    pub async fn open(cfg: MetaConfig) -> Result<Self, MetaError> {
        cfg.commit.validate().map_err(MetaError::Raft)?;
        let multi = cfg.peers.len() > 1 || cfg.learner;
        if cfg.learner && (cfg.initialize || cfg.peers.contains_key(&cfg.node_id)) {
            return Err(MetaError::Config(format!(
                "node {} is a learner: it neither forms the group nor is among the voters",
                cfg.node_id
            )));
        }
        let tls = match (&cfg.tls, multi) {
            (Some(tls), true) => Some(tls.clone()),
            (None, true) => {
                return Err(MetaError::Config(format!(
                    "node {}: the members of a group reach each other over mutual TLS, \
                     and this node has no cluster certificate",
                    cfg.node_id
                )))
            }
            (_, false) => None,
        };
        if multi && !cfg.learner && !cfg.peers.contains_key(&cfg.node_id) {
            return Err(MetaError::Config(format!(
                "node {} is not among the peers {:?}",
                cfg.node_id,
                cfg.peers.keys().collect::<Vec<_>>()
            )));
        }
        let (log, mut sm) = store::open(&cfg.dir)?;
        sm.index_files = cfg.index_files;
        let db = sm.db().clone();
        let raft_config = openraft::Config {
            cluster_name: "meridian-meta".into(),
            heartbeat_interval: 250,
            election_timeout_min: 500,
            election_timeout_max: 1000,
            snapshot_policy: SnapshotPolicy::LogsSinceLast(cfg.snapshot_every),
            max_in_snapshot_log_to_keep: 1000,
            // A snapshot travels to a lagging peer in RPCs of this size,
            // each written to disk on arrival: memory stays bounded
            // whatever the catalogue's size.
            snapshot_max_chunk_size: 4 << 20,
            // Each of those RPCs may take this long (openraft's default is
            // 200 ms). A chunk crosses a WAN link shared with bulk
            // replication: at 200 ms a 4 MiB chunk needs 168 Mbit/s free,
            // and a learner behind Jiangmen's shaped link in the chaos
            // matrix retried its snapshot for 5-11 s. 30 s asks for
            // 1.2 Mbit/s; a dead peer is still found by its heartbeats.
            install_snapshot_timeout: 30_000,
            ..Default::default()
        }
        .validate()
        .map_err(|e| MetaError::Raft(e.to_string()))?;
        let raft_config = Arc::new(raft_config);
        let raft = if let Some(tls) = &tls {
            let net = GrpcNetwork::new(cfg.node_id, tls.clone());
            Raft::new(cfg.node_id, raft_config, net, log, sm).await
        } else {
            Raft::new(cfg.node_id, raft_config, NoPeers, log, sm).await
        }
        .map_err(|e| MetaError::Raft(e.to_string()))?;
        if cfg.initialize {
            let members: BTreeMap<u64, BasicNode> = if multi {
                cfg.peers
                    .iter()
                    .map(|(id, addr)| (*id, BasicNode { addr: addr.clone() }))
                    .collect()
            } else {
                BTreeMap::from([(
                    cfg.node_id,
                    BasicNode {
                        addr: cfg.addr.clone(),
                    },
                )])
            };
            initialize(&raft, members).await?;
        }
        let link = tls.map(|tls| {
            Arc::new(LeaderLink::new(
                cfg.node_id,
                raft.clone(),
                cfg.peers.clone(),
                tls,
            ))
        });
        Ok(MetaNode {
            id: cfg.node_id,
            reader: CatalogueReader::new(db.clone()),
            committer: Committer::start(raft.clone(), cfg.commit.clone(), link.clone()),
            barrier: ReadBarrier::new(raft.clone(), link),
            freshness: Arc::new(crate::freshness::Freshness::default()),
            raft,
            db,
        })
    }

    /// Waits (bounded) until some leader is known to this node. In a
    /// single-voter group that is this node, leading.
    pub async fn wait_for_leader(&self, timeout: Duration) -> Result<u64, MetaError> {
        let id = self.id;
        let m = self
            .raft
            .wait(Some(timeout))
            .metrics(
                // A lone voter must itself lead before it can take writes;
                // with peers, knowing who leads is enough.
                |m| match m.current_leader {
                    Some(l) if l == id => m.state == ServerState::Leader,
                    Some(_) => {
                        m.membership_config.voter_ids().count() > 1
                            || !m.membership_config.voter_ids().any(|v| v == id)
                    }
                    None => false,
                },
                "a leader is known",
            )
            .await
            .map_err(|e| MetaError::Unavailable(format!("no leader after {timeout:?}: {e}")))?;
        m.current_leader
            .ok_or_else(|| MetaError::Unavailable("no leader".into()))
    }

    /// The Raft service for this node's gRPC server; peers send their Raft
    /// RPCs to it.
    pub fn raft_service(&self) -> RaftServiceServer<RaftGrpc> {
        RaftGrpc::new(self.raft.clone(), self.freshness.clone()).into_server()
    }

    /// The leader this node knows of, if any.
    pub fn current_leader(&self) -> Option<u64> {
        self.raft.metrics().borrow().current_leader
    }

    /// Commits a batch of commands through Raft; returns one outcome per command.
    pub async fn write(&self, commands: Vec<Command>) -> Result<Vec<Outcome>, MetaError> {
        let n = commands.len();
        let req = Request(CommandBatch {
            format: meridian_proto::RECORD_FORMAT,
            commands,
        });
        let resp = self
            .raft
            .client_write(req)
            .await
            .map_err(crate::error::client_write_error)?;
        let outcomes = resp.data.0;
        if outcomes.len() != n {
            return Err(MetaError::Raft(format!(
                "{} outcomes for {n} commands",
                outcomes.len()
            )));
        }
        Ok(outcomes)
    }

    /// Commits one command, batched with concurrent ones into one Raft
    /// entry; a refusal becomes `MetaError::Rejected`.
    pub async fn write_one(&self, command: Command) -> Result<Outcome, MetaError> {
        match self.committer.submit(command).await? {
            Outcome::Rejected { code, message } => Err(MetaError::Rejected { code, message }),
            o => Ok(o),
        }
    }

    /// Commands committed and the Raft entries that carried them.
    pub fn commit_stats(&self) -> (u64, u64) {
        let s = self.committer.stats();
        (
            s.commands.load(std::sync::atomic::Ordering::Relaxed),
            s.batches.load(std::sync::atomic::Ordering::Relaxed),
        )
    }

    /// Returns once this node's state machine reflects every write committed
    /// before the call (linearizable read, by read index; concurrent callers
    /// share one read index).
    pub async fn read_barrier(&self) -> Result<(), MetaError> {
        self.barrier.wait().await
    }

    /// Whether this node's local state may serve a read that tolerates
    /// `max` of staleness without a read barrier: the leader always (it has
    /// applied every write it acknowledged), a follower while it has applied
    /// the commit index of an AppendEntries received within `max`.
    pub fn fresh_within(&self, max: Duration) -> bool {
        let m = self.raft.metrics().borrow().clone();
        if m.current_leader == Some(self.id) {
            // A leader misses nothing acknowledged more than `max` ago only
            // if a quorum acknowledged it within `max`: one cut off longer
            // may have been replaced, and the new leader's writes since
            // then were acknowledged by a quorum this one never hears from
            // (the chaos matrix caught a cut-off old leader serving such a
            // read). A group of one has no quorum to lose.
            return m
                .millis_since_quorum_ack
                .is_none_or(|ms| u128::from(ms) <= max.as_millis());
        }
        let applied = m.last_applied.map(|l| l.index).unwrap_or(0);
        self.freshness.within(max, applied)
    }

    pub fn id(&self) -> u64 {
        self.id
    }

    /// Whether this node has been out of touch with the group for longer
    /// than `limit`, and for how long: a leader no quorum has answered, or
    /// a follower or learner no leader has reached. Such a node is cut off
    /// (or the group has no leader): a write or a linearizable read here
    /// would only wait, so the caller refuses it at once instead.
    /// Called on every write: reads the metrics in place, no copy.
    pub fn out_of_touch(&self, limit: Duration) -> Option<Duration> {
        let (leads, quorum_ack) = {
            let m = self.raft.metrics();
            let m = m.borrow();
            (m.current_leader == Some(self.id), m.millis_since_quorum_ack)
        };
        let silent = if leads {
            // None: a group of one, its own quorum.
            Duration::from_millis(quorum_ack?)
        } else {
            self.freshness.since_heard()?
        };
        (silent > limit).then_some(silent)
    }

    /// Whether this node leads now (no copy of the metrics).
    pub fn is_leader(&self) -> bool {
        self.raft.metrics().borrow().current_leader == Some(self.id)
    }

    pub fn reader(&self) -> &CatalogueReader {
        &self.reader
    }

    /// Adds `id` (reachable at `addr`) as a learner and returns once it has
    /// caught up with the log (by snapshot if the log was purged). Leader only.
    pub async fn add_learner(&self, id: u64, addr: String) -> Result<(), MetaError> {
        self.raft
            .add_learner(id, BasicNode { addr }, true)
            .await
            .map(|_| ())
            .map_err(crate::error::membership_error)
    }

    /// Makes the voters exactly `voters`; voters left out leave the group.
    /// Every new voter must already be a learner. Leader only.
    pub async fn set_voters(
        &self,
        voters: std::collections::BTreeSet<u64>,
    ) -> Result<(), MetaError> {
        if voters.is_empty() {
            return Err(MetaError::Membership(
                "a group needs at least one voter".into(),
            ));
        }
        self.raft
            .change_membership(voters, false)
            .await
            .map(|_| ())
            .map_err(crate::error::membership_error)
    }

    /// Current voter ids.
    pub fn voter_ids(&self) -> std::collections::BTreeSet<u64> {
        self.raft
            .metrics()
            .borrow()
            .membership_config
            .membership()
            .voter_ids()
            .collect()
    }

    /// Members of the group as this node knows them: (id, address, voter?,
    /// matched log index if this node leads and has seen it).
    pub fn members(&self) -> Vec<(u64, String, bool, Option<u64>)> {
        let m = self.raft.metrics().borrow().clone();
        let membership = m.membership_config.membership();
        let voters: std::collections::BTreeSet<u64> = membership.voter_ids().collect();
        membership
            .nodes()
            .map(|(id, node)| {
                let matched = m
                    .replication
                    .as_ref()
                    .and_then(|r| r.get(id).cloned().flatten())
                    .map(|l| l.index);
                (*id, node.addr.clone(), voters.contains(id), matched)
            })
            .collect()
    }

    pub fn status(&self) -> RaftStatus {
        let m = self.raft.metrics().borrow().clone();
        RaftStatus {
            node_id: self.id,
            leader: m.current_leader,
            term: m.current_term,
            applied_index: m.last_applied.map(|l| l.index).unwrap_or(0),
            last_log_index: m.last_log_index.unwrap_or(0),
            snapshot_index: m.snapshot.map(|l| l.index).unwrap_or(0),
            purged_index: m.purged.map(|l| l.index).unwrap_or(0),
            state: format!("{:?}", m.state),
        }
    }

    /// Flushes and compacts the catalogue and its search indexes, then
    /// returns the bytes their SST files take on disk (what a record costs
    /// at rest).
    pub fn catalogue_disk_bytes(&self) -> Result<u64, MetaError> {
        let mut total = 0;
        for name in [crate::store::CF_CATALOGUE, crate::store::CF_SEARCH] {
            let cf = self
                .db
                .cf_handle(name)
                .ok_or_else(|| MetaError::Unavailable(format!("{name} column family missing")))?;
            self.db.flush_cf(cf)?;
            self.db.compact_range_cf(cf, None::<&[u8]>, None::<&[u8]>);
            total += self
                .db
                .property_int_value_cf(cf, "rocksdb.total-sst-files-size")?
                .unwrap_or(0);
        }
        Ok(total)
    }

    /// Stops Raft and flushes the database.
    pub async fn shutdown(&self) -> Result<(), MetaError> {
        self.raft
            .shutdown()
            .await
            .map_err(|e| MetaError::Raft(e.to_string()))?;
        self.db.flush_wal(true)?;
        Ok(())
    }
}

/// Creates the group unless it already exists. A node that has already
/// received a peer's log or vote (the group formed while it was down) is
/// not allowed to initialize, and that is fine.
async fn initialize(
    raft: &Raft<TypeConfig>,
    members: BTreeMap<u64, BasicNode>,
) -> Result<(), MetaError> {
    let initialized = raft
        .is_initialized()
        .await
        .map_err(|e| MetaError::Raft(e.to_string()))?;
    if initialized {
        return Ok(());
    }
    match raft.initialize(members).await {
        Ok(()) => Ok(()),
        Err(RaftError::APIError(InitializeError::NotAllowed(e))) => {
            tracing::info!(error = %e, "the group already exists; not initializing");
            Ok(())
        }
        Err(e) => Err(MetaError::Raft(e.to_string())),
    }
}
