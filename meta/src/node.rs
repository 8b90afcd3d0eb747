//! One metadata node: an openraft instance over the RocksDB store.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use meridian_proto::v1::{Command, CommandBatch};
use openraft::{BasicNode, Raft, ServerState, SnapshotPolicy};

use crate::barrier::ReadBarrier;
use crate::catalogue::CatalogueReader;
use crate::commit::{CommitConfig, Committer};
use crate::network::NoPeers;
use crate::store;
use crate::types::{Outcome, Request, TypeConfig};
use crate::MetaError;

#[derive(Debug, Clone)]
pub struct MetaConfig {
    pub node_id: u64,
    /// Directory of the RocksDB database and the snapshot files.
    pub dir: PathBuf,
    /// Address peers would reach this node at (recorded in the membership).
    pub addr: String,
    /// Build a snapshot (and purge the log) after this many applied entries.
    pub snapshot_every: u64,
    /// How long to wait for this node to become leader at start.
    pub leader_wait: Duration,
    /// Group commit of concurrent writes.
    pub commit: CommitConfig,
}

impl MetaConfig {
    pub fn new(dir: PathBuf, addr: String) -> Self {
        MetaConfig {
            node_id: 1,
            dir,
            addr,
            snapshot_every: 20_000,
            leader_wait: Duration::from_secs(30),
            commit: CommitConfig::default(),
        }
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
    pub state: String,
}

pub struct MetaNode {
    id: u64,
    raft: Raft<TypeConfig>,
    reader: CatalogueReader,
    db: Arc<rocksdb::DB>,
    committer: Committer,
    barrier: ReadBarrier,
}

impl MetaNode {
    /// Opens the store, starts Raft, initializes a new single-voter group on
    /// first start, and waits (bounded) until this node leads.
    pub async fn start(cfg: MetaConfig) -> Result<Self, MetaError> {
        cfg.commit.validate().map_err(MetaError::Raft)?;
        let (log, sm) = store::open(&cfg.dir)?;
        let db = sm.db().clone();
        let raft_config = openraft::Config {
            cluster_name: "meridian-meta".into(),
            heartbeat_interval: 250,
            election_timeout_min: 500,
            election_timeout_max: 1000,
            snapshot_policy: SnapshotPolicy::LogsSinceLast(cfg.snapshot_every),
            max_in_snapshot_log_to_keep: 1000,
            ..Default::default()
        }
        .validate()
        .map_err(|e| MetaError::Raft(e.to_string()))?;
        let raft = Raft::new(cfg.node_id, Arc::new(raft_config), NoPeers, log, sm)
            .await
            .map_err(|e| MetaError::Raft(e.to_string()))?;
        let initialized = raft
            .is_initialized()
            .await
            .map_err(|e| MetaError::Raft(e.to_string()))?;
        if !initialized {
            let members = BTreeMap::from([(
                cfg.node_id,
                BasicNode {
                    addr: cfg.addr.clone(),
                },
            )]);
            raft.initialize(members)
                .await
                .map_err(|e| MetaError::Raft(e.to_string()))?;
        }
        raft.wait(Some(cfg.leader_wait))
            .state(ServerState::Leader, "become leader")
            .await
            .map_err(|e| {
                MetaError::Unavailable(format!("no leader after {:?}: {e}", cfg.leader_wait))
            })?;
        Ok(MetaNode {
            id: cfg.node_id,
            reader: CatalogueReader::new(db.clone()),
            committer: Committer::start(raft.clone(), cfg.commit.clone()),
            barrier: ReadBarrier::new(raft.clone()),
            raft,
            db,
        })
    }

    /// Commits a batch of commands through Raft; returns one outcome per command.
    pub async fn write(&self, commands: Vec<Command>) -> Result<Vec<Outcome>, MetaError> {
        let n = commands.len();
        let req = Request(CommandBatch {
            format: meridian_proto::RECORD_FORMAT,
            commands,
        });
        let resp = self.raft.client_write(req).await.map_err(|e| match e {
            openraft::error::RaftError::APIError(e) => MetaError::Unavailable(e.to_string()),
            openraft::error::RaftError::Fatal(e) => MetaError::Raft(e.to_string()),
        })?;
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

    pub fn reader(&self) -> &CatalogueReader {
        &self.reader
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
            state: format!("{:?}", m.state),
        }
    }

    /// Flushes and compacts the catalogue, then returns the bytes its SST
    /// files take on disk (what a record costs at rest).
    pub fn catalogue_disk_bytes(&self) -> Result<u64, MetaError> {
        let cf = self
            .db
            .cf_handle(crate::store::CF_CATALOGUE)
            .ok_or_else(|| MetaError::Unavailable("catalogue column family missing".into()))?;
        self.db.flush_cf(cf)?;
        self.db.compact_range_cf(cf, None::<&[u8]>, None::<&[u8]>);
        Ok(self
            .db
            .property_int_value_cf(cf, "rocksdb.total-sst-files-size")?
            .unwrap_or(0))
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
