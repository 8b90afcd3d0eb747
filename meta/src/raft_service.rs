//! The server side of the Raft network: the tonic `RaftService` handing
//! peers' RPCs to the local openraft instance.
//!
//! Requests and answers are MessagePack (see `raft.proto`). The answer is the
//! whole `Result` of the Raft call, so a Raft error travels back as data and
//! the client reports it as `RemoteError`; a gRPC error status means only
//! that the request could not be handled at all (undecodable payload).

use meridian_proto::v1::raft_service_server::{RaftService, RaftServiceServer};
use meridian_proto::v1::{CommandBatch, JoinRequest, RaftPayload, ReadIndexRequest};
use openraft::error::{ChangeMembershipError, ClientWriteError, RaftError};
use openraft::Raft;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tonic::{Request, Response, Status};

use crate::forward::Failure;
use crate::network::MAX_RAFT_MESSAGE;
use crate::types::{Request as Batch, TypeConfig};

/// How long a join waits for its membership change to commit.
const JOIN_COMMIT_WAIT: std::time::Duration = std::time::Duration::from_secs(8);

/// Serves one node's Raft to its peers.
#[derive(Clone)]
pub struct RaftGrpc {
    raft: Raft<TypeConfig>,
    freshness: std::sync::Arc<crate::freshness::Freshness>,
}

impl RaftGrpc {
    pub fn new(
        raft: Raft<TypeConfig>,
        freshness: std::sync::Arc<crate::freshness::Freshness>,
    ) -> Self {
        RaftGrpc { raft, freshness }
    }

    /// The tonic service, with the same message bound as the client side.
    pub fn into_server(self) -> RaftServiceServer<RaftGrpc> {
        RaftServiceServer::new(self)
            .max_decoding_message_size(MAX_RAFT_MESSAGE)
            .max_encoding_message_size(MAX_RAFT_MESSAGE)
    }
}

fn decode<T: DeserializeOwned>(req: Request<RaftPayload>) -> Result<T, Status> {
    rmp_serde::from_slice(&req.into_inner().data)
        .map_err(|e| Status::invalid_argument(format!("undecodable raft request: {e}")))
}

fn encode<T: Serialize>(answer: &T) -> Result<Response<RaftPayload>, Status> {
    rmp_serde::to_vec_named(answer)
        .map(|data| Response::new(RaftPayload { data }))
        .map_err(|e| Status::internal(format!("unencodable raft response: {e}")))
}

#[tonic::async_trait]
impl RaftService for RaftGrpc {
    async fn append_entries(
        &self,
        request: Request<RaftPayload>,
    ) -> Result<Response<RaftPayload>, Status> {
        let rpc: openraft::raft::AppendEntriesRequest<TypeConfig> = decode(request)?;
        let leader_commit = rpc.leader_commit.map(|l| l.index).unwrap_or(0);
        let answer = self.raft.append_entries(rpc).await;
        if matches!(answer, Ok(openraft::raft::AppendEntriesResponse::Success)) {
            self.freshness.record(leader_commit);
        }
        encode(&answer)
    }

    async fn vote(&self, request: Request<RaftPayload>) -> Result<Response<RaftPayload>, Status> {
        let rpc = decode(request)?;
        encode(&self.raft.vote(rpc).await)
    }

    async fn install_snapshot(
        &self,
        request: Request<RaftPayload>,
    ) -> Result<Response<RaftPayload>, Status> {
        let rpc = decode(request)?;
        encode(&self.raft.install_snapshot(rpc).await)
    }

    async fn forward_write(
        &self,
        request: Request<CommandBatch>,
    ) -> Result<Response<RaftPayload>, Status> {
        let batch = request.into_inner();
        let n = batch.commands.len();
        let answer = match self.raft.client_write(Batch(batch)).await {
            Ok(resp) if resp.data.0.len() == n => Ok(resp.data.0),
            Ok(resp) => Err(Failure::Raft(format!(
                "{} outcomes for {n} commands",
                resp.data.0.len()
            ))),
            Err(e) => Err(Failure::from_error(
                crate::error::client_write_error(e),
                self.leader_addr(),
            )),
        };
        encode(&answer)
    }

    async fn read_index(
        &self,
        _request: Request<ReadIndexRequest>,
    ) -> Result<Response<RaftPayload>, Status> {
        // The read index only: the caller waits for its own state machine.
        let answer = match self.raft.get_read_log_id().await {
            Ok((read, _applied)) => Ok(read.map(|l| l.index).unwrap_or(0)),
            Err(e) => Err(Failure::Unavailable {
                message: e.to_string(),
                leader: self.leader_addr(),
            }),
        };
        encode(&answer)
    }

    async fn join(&self, request: Request<JoinRequest>) -> Result<Response<RaftPayload>, Status> {
        let JoinRequest { node_id, addr } = request.into_inner();
        if addr.is_empty() || node_id == 0 {
            return encode(&Err::<(), _>(Failure::Membership(
                "a joining node needs a non-zero id and an address".into(),
            )));
        }
        // Only the leader answers: a follower's view of the membership may
        // hold a change that is never committed.
        let (leads, known) = {
            let m = self.raft.metrics();
            let m = m.borrow();
            let leads =
                m.current_leader == Some(m.id) && m.membership_config.log_id() <= &m.last_applied;
            (
                leads,
                m.membership_config
                    .membership()
                    .get_node(&node_id)
                    .map(|n| n.addr.clone()),
            )
        };
        if !leads {
            return encode(&Err::<(), _>(Failure::Unavailable {
                message: "not the leader, or its membership is not yet committed".into(),
                leader: self.leader_addr(),
            }));
        }
        let answer = match known {
            Some(a) if a == addr => Ok(()),
            Some(a) => Err(Failure::Membership(format!(
                "node {node_id} is already a member at {a}, not {addr}"
            ))),
            None => match tokio::time::timeout(
                JOIN_COMMIT_WAIT,
                self.raft
                    .add_learner(node_id, openraft::BasicNode { addr }, false),
            )
            .await
            {
                Err(_) => Err(Failure::Unavailable {
                    message: format!("the change did not commit within {JOIN_COMMIT_WAIT:?}"),
                    leader: None,
                }),
                Ok(r) => r.map(|_| ()).map_err(|e| match e {
                    // Another change (another node joining) is being
                    // committed: asking again shortly will do.
                    RaftError::APIError(ClientWriteError::ChangeMembershipError(
                        ChangeMembershipError::InProgress(p),
                    )) => Failure::Unavailable {
                        message: p.to_string(),
                        leader: None,
                    },
                    e => Failure::from_error(crate::error::membership_error(e), self.leader_addr()),
                }),
            },
        };
        encode(&answer)
    }
}

impl RaftGrpc {
    /// The address of the leader this node knows, for callers to follow.
    fn leader_addr(&self) -> Option<String> {
        let m = self.raft.metrics();
        let m = m.borrow();
        let leader = m.current_leader?;
        m.membership_config
            .membership()
            .get_node(&leader)
            .map(|n| n.addr.clone())
    }
}

/// Serves `svc` on `listener` until `shutdown`. Accepted sockets get
/// TCP_NODELAY: Raft answers are small, and Nagle's algorithm would hold
/// each one back for a delayed ACK (~40 ms), which every read barrier and
/// heartbeat would pay.
pub async fn serve(
    listener: tokio::net::TcpListener,
    svc: RaftServiceServer<RaftGrpc>,
    tls: &meridian_tls::ClusterTls,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), tonic::transport::Error> {
    use futures::StreamExt;
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener).map(|s| {
        s.and_then(|s| {
            s.set_nodelay(true)?;
            Ok(s)
        })
    });
    tonic::transport::Server::builder()
        .tls_config(tls.server())?
        .add_service(svc)
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
}
