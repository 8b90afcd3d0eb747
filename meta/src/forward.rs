//! How a member that does not lead reaches the one that does: it forwards
//! the batches its committer gathered, asks for the leader's read index
//! before a linearizable read, and (a new node) asks to join.
//!
//! Every answer is the MessagePack `Result` of the call; a failure keeps its
//! kind ([`Failure`]), so `Unavailable` (no leader, a change of leader, the
//! leader unreachable) stays retryable at the caller and a refused
//! membership change does not.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use meridian_proto::v1::raft_service_client::RaftServiceClient;
use meridian_proto::v1::{CommandBatch, JoinRequest, RaftPayload, ReadIndexRequest};
use meridian_tls::ClusterTls;
use openraft::Raft;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tonic::transport::Channel;

use crate::network::MAX_RAFT_MESSAGE;
use crate::types::{Outcome, TypeConfig};
use crate::MetaError;

/// A forwarded batch waits for its commit at most this long.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// A read index needs one heartbeat round at the leader.
const READ_INDEX_TIMEOUT: Duration = Duration::from_secs(5);
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
/// A join waits for the membership change to commit at the leader.
const JOIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a call to another member failed, as it travels back.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Failure {
    /// Retry later, perhaps elsewhere; `leader` is the address of the
    /// leader the remote knows, if any.
    Unavailable {
        message: String,
        leader: Option<String>,
    },
    Raft(String),
    Membership(String),
}

impl From<Failure> for MetaError {
    fn from(f: Failure) -> Self {
        match f {
            Failure::Unavailable { message, .. } => MetaError::Unavailable(message),
            Failure::Raft(m) => MetaError::Raft(m),
            Failure::Membership(m) => MetaError::Membership(m),
        }
    }
}

impl Failure {
    /// As the server side reports a local error.
    pub fn from_error(e: MetaError, leader: Option<String>) -> Self {
        match e {
            MetaError::Unavailable(message) => Failure::Unavailable { message, leader },
            MetaError::Membership(m) => Failure::Membership(m),
            other => Failure::Raft(other.to_string()),
        }
    }
}

pub(crate) fn decode_answer<T: DeserializeOwned>(
    from: &str,
    payload: RaftPayload,
) -> Result<Result<T, Failure>, MetaError> {
    rmp_serde::from_slice(&payload.data)
        .map_err(|e| MetaError::Raft(format!("undecodable answer from {from}: {e}")))
}

fn client(addr: &str, tls: &ClusterTls) -> Result<RaftServiceClient<Channel>, MetaError> {
    let endpoint = tls
        .endpoint(addr)
        .map_err(|e| MetaError::Config(format!("bad member address: {e}")))?;
    let channel = endpoint
        .connect_timeout(CONNECT_TIMEOUT)
        .tcp_nodelay(true)
        .connect_lazy();
    Ok(RaftServiceClient::new(channel)
        .max_decoding_message_size(MAX_RAFT_MESSAGE)
        .max_encoding_message_size(MAX_RAFT_MESSAGE))
}

fn unreachable(addr: &str, status: tonic::Status) -> MetaError {
    MetaError::Unavailable(format!(
        "leader at {addr} unreachable: {}",
        status.message()
    ))
}

/// This node's way to the leader, reconnecting when the leader changes.
pub struct LeaderLink {
    id: u64,
    raft: Raft<TypeConfig>,
    /// Addresses from the configuration, for a leader this node knows of
    /// before it has the membership (a learner that has just joined).
    configured: BTreeMap<u64, String>,
    tls: ClusterTls,
    /// The leader's address and a channel to it.
    cached: Mutex<Option<(String, RaftServiceClient<Channel>)>>,
}

impl LeaderLink {
    pub fn new(
        id: u64,
        raft: Raft<TypeConfig>,
        configured: BTreeMap<u64, String>,
        tls: ClusterTls,
    ) -> Self {
        LeaderLink {
            id,
            raft,
            configured,
            tls,
            cached: Mutex::new(None),
        }
    }

    /// Whether this node leads: then nothing is forwarded.
    pub fn local_leads(&self) -> bool {
        self.raft.metrics().borrow().current_leader == Some(self.id)
    }

    /// The leader's address and a client for it.
    fn leader(&self) -> Result<(String, RaftServiceClient<Channel>), MetaError> {
        let addr = {
            let m = self.raft.metrics();
            let m = m.borrow();
            let leader = m
                .current_leader
                .ok_or_else(|| MetaError::Unavailable("no leader known yet".into()))?;
            m.membership_config
                .membership()
                .get_node(&leader)
                .map(|n| n.addr.clone())
                .or_else(|| self.configured.get(&leader).cloned())
                .ok_or_else(|| {
                    MetaError::Unavailable(format!("leader {leader} has no known address"))
                })?
        };
        let mut cached = self.cached.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((a, c)) = cached.as_ref() {
            if *a == addr {
                return Ok((addr, c.clone()));
            }
        }
        let c = client(&addr, &self.tls)?;
        *cached = Some((addr.clone(), c.clone()));
        Ok((addr, c))
    }

    /// Commits `batch` at the leader; one outcome per command.
    pub async fn write(&self, batch: CommandBatch) -> Result<Vec<Outcome>, MetaError> {
        let (addr, mut c) = self.leader()?;
        let mut req = tonic::Request::new(batch);
        req.set_timeout(WRITE_TIMEOUT);
        let answer = tokio::time::timeout(WRITE_TIMEOUT, c.forward_write(req))
            .await
            .map_err(|_| MetaError::Unavailable(format!("no answer from {addr} in time")))?
            .map_err(|s| unreachable(&addr, s))?;
        decode_answer::<Vec<Outcome>>(&addr, answer.into_inner())?.map_err(MetaError::from)
    }

    /// The leader's read index, confirmed by a quorum.
    pub async fn read_index(&self) -> Result<u64, MetaError> {
        let (addr, mut c) = self.leader()?;
        let mut req = tonic::Request::new(ReadIndexRequest {});
        req.set_timeout(READ_INDEX_TIMEOUT);
        let answer = tokio::time::timeout(READ_INDEX_TIMEOUT, c.read_index(req))
            .await
            .map_err(|_| MetaError::Unavailable(format!("no read index from {addr} in time")))?
            .map_err(|s| unreachable(&addr, s))?;
        decode_answer::<u64>(&addr, answer.into_inner())?.map_err(MetaError::from)
    }
}

/// Asks the group, through any of `members` (following the leader each
/// names), to add node `id` at `addr` as a learner. Returns once the leader
/// has committed the change; catching up happens after.
pub async fn join(
    members: &[String],
    id: u64,
    addr: &str,
    tls: &ClusterTls,
) -> Result<(), MetaError> {
    let mut last = MetaError::Unavailable("no member to ask".into());
    let mut hint: Option<String> = None;
    // One pass over the members, plus the leaders they name.
    for _ in 0..(members.len() * 2).max(1) {
        for target in hint.take().iter().chain(members.iter()) {
            let mut c = client(target, tls)?;
            let req = JoinRequest {
                node_id: id,
                addr: addr.to_string(),
            };
            let mut req = tonic::Request::new(req);
            req.set_timeout(JOIN_TIMEOUT);
            let answer = match tokio::time::timeout(JOIN_TIMEOUT, c.join(req)).await {
                Ok(Ok(a)) => a.into_inner(),
                Ok(Err(s)) => {
                    last = unreachable(target, s);
                    continue;
                }
                Err(_) => {
                    last = MetaError::Unavailable(format!("no answer from {target} in time"));
                    continue;
                }
            };
            match decode_answer::<()>(target, answer)? {
                Ok(()) => return Ok(()),
                Err(Failure::Unavailable { message, leader }) => {
                    last = MetaError::Unavailable(message);
                    if let Some(l) = leader.filter(|l| l != target) {
                        hint = Some(l);
                        break;
                    }
                }
                Err(other) => return Err(other.into()),
            }
        }
    }
    Err(last)
}
