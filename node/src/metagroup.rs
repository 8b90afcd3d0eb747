//! The metadata group as the rest of the node sees it: one voter, or
//! several in this process (`meridian dev --meta-voters 3`) talking over
//! loopback gRPC. Writes go to the current leader; a write that meets a
//! change of leader is retried, bounded, with the same request id, so the
//! state machine applies it once.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use meridian_meta::catalogue::CatalogueReader;
use meridian_meta::node::RaftStatus;
use meridian_meta::{MetaConfig, MetaError, MetaNode, Outcome};
use meridian_proto::v1::Command;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// How long a write or a read barrier keeps following changes of leader:
/// enough for a leader to be declared lost and another elected. A deadline,
/// not a count: one attempt can itself wait seconds (a forwarded commit).
const RETRY_BUDGET: Duration = Duration::from_secs(20);
/// Pause between two attempts: an election takes 0.5-1 s.
const RETRY_PAUSE: Duration = Duration::from_millis(100);
/// Silence from the group after which a member counts as cut off: twenty
/// heartbeats (250 ms), and above the 1.7-3.2 s a new leader took to be
/// heard after the old one was killed (docs/benchmarks.md), so a write
/// during an election waits for it instead of being refused.
const OUT_OF_TOUCH: Duration = Duration::from_secs(5);
/// How often an attempt in flight looks whether its member was cut off.
const CUT_OFF_CHECK: Duration = Duration::from_millis(250);
const LEADER_WAIT: Duration = Duration::from_secs(30);

/// A node's Raft gRPC server: its stop signal and its task.
type Server = (oneshot::Sender<()>, JoinHandle<()>);

pub struct MetaGroup {
    nodes: Vec<Arc<MetaNode>>,
    /// Raft servers, by node id.
    servers: std::sync::Mutex<BTreeMap<u64, Server>>,
    /// Nodes stopped on purpose; never chosen as leader again.
    stopped: std::sync::Mutex<std::collections::BTreeSet<u64>>,
}

impl MetaGroup {
    /// One voter under `dir`.
    pub async fn single(dir: &Path, addr: String) -> Result<Self, MetaError> {
        let node = MetaNode::start(MetaConfig::new(dir.to_path_buf(), addr)).await?;
        Ok(MetaGroup {
            nodes: vec![Arc::new(node)],
            servers: std::sync::Mutex::new(BTreeMap::new()),
            stopped: std::sync::Mutex::new(Default::default()),
        })
    }

    /// This process's member of a multi-process group (`meridian node`):
    /// the node's Raft service is served by the caller; writes and
    /// linearizable reads that this node cannot serve go to the leader.
    pub fn member(node: Arc<MetaNode>) -> Self {
        MetaGroup {
            nodes: vec![node],
            servers: std::sync::Mutex::new(BTreeMap::new()),
            stopped: std::sync::Mutex::new(Default::default()),
        }
    }

    /// `voters` nodes under `dir/node-N`, each serving Raft on its own
    /// loopback port, node 1 forming the group on first start. Node ids and
    /// directories are stable, so a restart rejoins the same group; the
    /// ports are chosen anew and recorded in the membership only at
    /// formation, so a restart keeps the first ports' addresses: they are
    /// bound again if free.
    pub async fn local(
        dir: &Path,
        voters: u64,
        tls: &meridian_tls::ClusterTls,
    ) -> Result<Self, MetaError> {
        let addrs_file = dir.join("raft-addrs.txt");
        let known: Vec<String> = std::fs::read_to_string(&addrs_file)
            .map(|s| s.lines().map(str::to_string).collect())
            .unwrap_or_default();
        let mut listeners = Vec::new();
        let mut peers = BTreeMap::new();
        for id in 1..=voters {
            let want = known
                .get(id as usize - 1)
                .cloned()
                .unwrap_or_else(|| "127.0.0.1:0".into());
            let l = tokio::net::TcpListener::bind(&want).await?;
            peers.insert(id, l.local_addr()?.to_string());
            listeners.push((id, l));
        }
        std::fs::create_dir_all(dir)?;
        std::fs::write(
            &addrs_file,
            peers.values().cloned().collect::<Vec<_>>().join("\n"),
        )?;
        let mut nodes = Vec::new();
        let mut servers = BTreeMap::new();
        for (id, listener) in listeners {
            let cfg = MetaConfig::member(dir.join(format!("node-{id}")), id, &peers, tls.clone());
            let node = Arc::new(MetaNode::open(cfg).await?);
            let (stop, stopped) = oneshot::channel::<()>();
            let svc = node.raft_service();
            let server_tls = tls.clone();
            servers.insert(
                id,
                (
                    stop,
                    tokio::spawn(async move {
                        if let Err(e) =
                            meridian_meta::raft_service::serve(listener, svc, &server_tls, async {
                                let _ = stopped.await;
                            })
                            .await
                        {
                            tracing::error!(node = id, error = %e, "Raft server failed");
                        }
                    }),
                ),
            );
            nodes.push(node);
        }
        for n in &nodes {
            n.wait_for_leader(LEADER_WAIT).await?;
        }
        Ok(MetaGroup {
            nodes,
            servers: std::sync::Mutex::new(servers),
            stopped: std::sync::Mutex::new(Default::default()),
        })
    }

    /// The node that leads now, as far as this process knows; the first
    /// node if none is known (its answer then says who leads).
    pub fn leader(&self) -> &Arc<MetaNode> {
        // On every read and write: no locks or metric copies for one voter.
        if self.nodes.len() == 1 {
            return &self.nodes[0];
        }
        let stopped = self
            .stopped
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let live = || self.nodes.iter().filter(|n| !stopped.contains(&n.id()));
        live()
            .find(|n| n.is_leader())
            .or_else(|| live().next())
            .unwrap_or(&self.nodes[0])
    }

    /// Stops node `id` as a crash would (its Raft and its server), leaving
    /// the others to elect a leader among themselves. For tests and drills.
    pub async fn stop_node(&self, id: u64) -> Result<(), MetaError> {
        let node = self
            .nodes
            .iter()
            .find(|n| n.id() == id)
            .ok_or_else(|| MetaError::Membership(format!("no node {id} in this process")))?;
        self.stopped
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id);
        node.shutdown().await?;
        let server = self
            .servers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
        if let Some((stop, task)) = server {
            let _ = stop.send(());
            let _ = task.await;
        }
        Ok(())
    }

    /// Every node of the group in this process.
    pub fn nodes(&self) -> &[Arc<MetaNode>] {
        &self.nodes
    }

    /// Refuses at once, with why, when this process's member is alone here
    /// and out of touch with the group (cut off by a partition, or no leader
    /// for a while): waiting out the retry budget would only hold the
    /// client. In a process holding the whole group nothing is cut off.
    fn refuse_if_cut_off(&self) -> Result<(), MetaError> {
        let [node] = self.nodes.as_slice() else {
            return Ok(());
        };
        match node.out_of_touch(OUT_OF_TOUCH) {
            Some(silent) => Err(MetaError::Unavailable(format!(
                "node {} has not heard from a metadata quorum for {:.1} s: it may be cut off from \
                 the group; writes and up-to-date reads are refused here until it is back (a \
                 read that accepts staleness may still be served)",
                node.id(),
                silent.as_secs_f64()
            ))),
            None => Ok(()),
        }
    }

    /// Resolves, with why, once this process's member has been out of touch
    /// too long: an attempt in flight when the cut came would otherwise
    /// wait on a connection that no longer carries anything.
    /// (The caller looked just before the attempt began.)
    async fn cut_off(&self) -> MetaError {
        loop {
            tokio::time::sleep(CUT_OFF_CHECK).await;
            if let Err(e) = self.refuse_if_cut_off() {
                return e;
            }
        }
    }

    /// Commits one command on the leader, following changes of leader.
    pub async fn write_one(&self, command: Command) -> Result<Outcome, MetaError> {
        let deadline = tokio::time::Instant::now() + RETRY_BUDGET;
        let mut last = None;
        while tokio::time::Instant::now() < deadline {
            self.refuse_if_cut_off()?;
            let attempt = self.leader().write_one(command.clone());
            let result = tokio::select! {
                r = tokio::time::timeout_at(deadline, attempt) => {
                    r.unwrap_or_else(|_| Err(MetaError::Unavailable("retry budget spent".into())))
                }
                // Whether the write committed is then unknown, as for any
                // error after it was sent; a retry with its request id is
                // applied once.
                e = self.cut_off() => return Err(e),
            };
            match result {
                // Not the leader, or the leader stopped under us: the write
                // may or may not have committed; the same request id makes
                // the retry safe either way.
                Err(MetaError::Unavailable(m)) | Err(MetaError::Raft(m)) => {
                    last = Some(m);
                    tokio::time::sleep(RETRY_PAUSE).await;
                }
                other => return other,
            }
        }
        Err(MetaError::Unavailable(last.unwrap_or_default()))
    }

    /// A node whose local state may serve a read tolerating `max`
    /// staleness: a fresh follower if there is one (sparing the leader),
    /// else the leader after a read barrier.
    pub async fn node_within(&self, max: Duration) -> Result<&Arc<MetaNode>, MetaError> {
        let leader = self.leader();
        // A member alone in this process (`meridian node`) serves from its
        // own state when fresh: the learner at Jiangmen answers Jiangmen's
        // gateway without a round trip to the leader.
        let alone = self.nodes.len() == 1;
        if let Some(n) = self
            .nodes
            .iter()
            .find(|n| (alone || !Arc::ptr_eq(n, leader)) && n.fresh_within(max))
        {
            return Ok(n);
        }
        self.barrier_node().await
    }

    /// The node a read barrier passed on: the leader, or this process's
    /// member after the leader's read index. Follows changes of leader as
    /// writes do.
    async fn barrier_node(&self) -> Result<&Arc<MetaNode>, MetaError> {
        let deadline = tokio::time::Instant::now() + RETRY_BUDGET;
        let mut last = None;
        while tokio::time::Instant::now() < deadline {
            self.refuse_if_cut_off()?;
            let node = self.leader();
            let result = tokio::select! {
                r = tokio::time::timeout_at(deadline, node.read_barrier()) => {
                    r.unwrap_or_else(|_| Err(MetaError::Unavailable("retry budget spent".into())))
                }
                e = self.cut_off() => return Err(e),
            };
            match result {
                Ok(()) => return Ok(node),
                Err(MetaError::Unavailable(m)) | Err(MetaError::Raft(m)) => {
                    last = Some(m);
                    tokio::time::sleep(RETRY_PAUSE).await;
                }
                Err(e) => return Err(e),
            }
        }
        Err(MetaError::Unavailable(last.unwrap_or_default()))
    }

    /// A linearizable view: the catalogue of the node the barrier passed
    /// on, which reflects every write acknowledged before the call (reading
    /// another node's, after a change of leader, could miss some).
    pub async fn read_barrier(&self) -> Result<CatalogueReader, MetaError> {
        Ok(self.barrier_node().await?.reader().clone())
    }

    /// This process's view of the catalogue without a barrier: for the
    /// replication job, which tolerates staleness (its updates are
    /// version-checked and only move replicas forward).
    pub fn reader(&self) -> CatalogueReader {
        self.leader().reader().clone()
    }

    pub fn status(&self) -> RaftStatus {
        self.leader().status()
    }

    /// Adds a learner through the leader; returns once it has caught up.
    pub async fn add_learner(&self, id: u64, addr: String) -> Result<(), MetaError> {
        self.leader().add_learner(id, addr).await
    }

    /// Makes learner `id` a voter.
    pub async fn promote(&self, id: u64) -> Result<(), MetaError> {
        let leader = self.leader();
        if !leader.members().iter().any(|(m, ..)| *m == id) {
            return Err(MetaError::Membership(format!(
                "node {id} is not a member; add it as a learner first"
            )));
        }
        let mut voters = leader.voter_ids();
        voters.insert(id);
        leader.set_voters(voters).await
    }

    /// Removes `id` from the group (as a voter and as a learner).
    pub async fn remove(&self, id: u64) -> Result<(), MetaError> {
        let leader = self.leader();
        if !leader.members().iter().any(|(m, ..)| *m == id) {
            return Err(MetaError::Membership(format!("node {id} is not a member")));
        }
        if leader.id() == id {
            return Err(MetaError::Membership(format!(
                "node {id} leads the group; removing the leader is refused here"
            )));
        }
        let mut voters = leader.voter_ids();
        voters.remove(&id);
        leader.set_voters(voters).await
    }

    /// The leader's view of the group's members.
    pub fn members(&self) -> Vec<(u64, String, bool, Option<u64>)> {
        self.leader().members()
    }

    pub fn voters(&self) -> usize {
        self.nodes.len()
    }

    pub async fn shutdown(&self) -> Result<(), MetaError> {
        let stopped = self
            .stopped
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        for n in &self.nodes {
            if !stopped.contains(&n.id()) {
                n.shutdown().await?;
            }
        }
        let servers: Vec<_> = {
            let mut g = self.servers.lock().unwrap_or_else(|p| p.into_inner());
            std::mem::take(&mut *g).into_values().collect()
        };
        for (stop, task) in servers {
            let _ = stop.send(());
            let _ = task.await;
        }
        Ok(())
    }
}
