//! The server side of the Raft network: the tonic `RaftService` handing
//! peers' RPCs to the local openraft instance.
//!
//! Requests and answers are MessagePack (see `raft.proto`). The answer is the
//! whole `Result` of the Raft call, so a Raft error travels back as data and
//! the client reports it as `RemoteError`; a gRPC error status means only
//! that the request could not be handled at all (undecodable payload).

use meridian_proto::v1::raft_service_server::{RaftService, RaftServiceServer};
use meridian_proto::v1::RaftPayload;
use openraft::Raft;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tonic::{Request, Response, Status};

use crate::network::MAX_RAFT_MESSAGE;
use crate::types::TypeConfig;

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
}

/// Serves `svc` on `listener` until `shutdown`. Accepted sockets get
/// TCP_NODELAY: Raft answers are small, and Nagle's algorithm would hold
/// each one back for a delayed ACK (~40 ms), which every read barrier and
/// heartbeat would pay.
pub async fn serve(
    listener: tokio::net::TcpListener,
    svc: RaftServiceServer<RaftGrpc>,
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
        .add_service(svc)
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
}
