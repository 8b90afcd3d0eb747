//! The client side of the Raft network over tonic.
//!
//! Each RPC carries one openraft request as MessagePack in a `RaftPayload`;
//! the answer is the remote `Result` in the same form, so a Raft error on
//! the remote node (`RPCError::RemoteError`) stays distinct from a failure
//! to reach it (`Unreachable`, `Timeout`). Snapshots use openraft's default
//! chunked transfer: `full_snapshot` reads the snapshot file and calls
//! `install_snapshot` once per chunk.

use std::collections::HashMap;
use std::time::Duration;

use meridian_proto::v1::raft_service_client::RaftServiceClient;
use meridian_proto::v1::RaftPayload;
use meridian_tls::ClusterTls;
use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Timeout, Unreachable,
};
use openraft::network::{RPCOption, RPCTypes, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::{AnyError, BasicNode};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tonic::transport::Channel;

use crate::types::TypeConfig;

/// Largest Raft message either side accepts or sends. openraft bounds an
/// append to `max_payload_entries` entries and a snapshot chunk to
/// `snapshot_max_chunk_size` bytes; this bound is what keeps one oversized
/// message from exhausting memory if those limits are outgrown.
pub const MAX_RAFT_MESSAGE: usize = 64 * 1024 * 1024;

/// Opens connections to the other voters of the group.
#[derive(Debug, Clone)]
pub struct GrpcNetwork {
    /// This node: timeouts name it.
    id: u64,
    tls: ClusterTls,
    connect_timeout: Duration,
    /// One channel per peer and address, kept: openraft asks for a client
    /// for every voter on every read barrier, and a new channel would be a
    /// new TCP connection and mutual-TLS handshake each time.
    channels: HashMap<(u64, String), Channel>,
}

/// Peers' channels kept at most; past it the map starts again (members
/// whose address changed leave entries behind).
const MAX_CHANNELS: usize = 64;

impl GrpcNetwork {
    pub fn new(id: u64, tls: ClusterTls) -> Self {
        GrpcNetwork {
            id,
            tls,
            // Well under the election timeout, so a dead peer is reported
            // before the next heartbeat round is due.
            connect_timeout: Duration::from_millis(500),
            channels: HashMap::new(),
        }
    }

    /// The peer's channel, made on first use: it connects lazily and
    /// reconnects by itself.
    fn channel(&mut self, target: u64, addr: &str) -> Result<Channel, String> {
        let key = (target, addr.to_string());
        if let Some(c) = self.channels.get(&key) {
            return Ok(c.clone());
        }
        let endpoint = self
            .tls
            .endpoint(addr)
            .map_err(|e| format!("node {target}: bad address {addr:?}: {e}"))?;
        let channel = endpoint
            .connect_timeout(self.connect_timeout)
            .tcp_nodelay(true)
            .connect_lazy();
        if self.channels.len() >= MAX_CHANNELS {
            self.channels.clear();
        }
        self.channels.insert(key, channel.clone());
        Ok(channel)
    }

    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }
}

/// One peer. The channel connects lazily (and reconnects by itself), so a
/// peer that is down when the connection is made is just `Unreachable` until
/// it comes back.
pub struct GrpcConnection {
    id: u64,
    target: u64,
    node: BasicNode,
    /// `Err` when the peer's address is not a valid URI: every RPC reports
    /// it as `Unreachable` instead of failing at construction, which
    /// openraft does not allow.
    client: Result<RaftServiceClient<Channel>, String>,
}

impl RaftNetworkFactory<TypeConfig> for GrpcNetwork {
    type Network = GrpcConnection;

    async fn new_client(&mut self, target: u64, node: &BasicNode) -> Self::Network {
        let client = self.channel(target, &node.addr).map(|channel| {
            RaftServiceClient::new(channel)
                .max_decoding_message_size(MAX_RAFT_MESSAGE)
                .max_encoding_message_size(MAX_RAFT_MESSAGE)
        });
        GrpcConnection {
            id: self.id,
            target,
            node: node.clone(),
            client,
        }
    }
}

impl GrpcConnection {
    /// Sends one request and decodes the remote `Result<Resp, E>`.
    async fn call<Req, Resp, E>(
        &mut self,
        kind: RPCTypes,
        req: &Req,
        option: &RPCOption,
    ) -> Result<Resp, RPCError<u64, BasicNode, E>>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    {
        let client = match &mut self.client {
            Ok(c) => c,
            Err(why) => {
                return Err(RPCError::Unreachable(Unreachable::new(&AnyError::error(
                    why.clone(),
                ))))
            }
        };
        let data =
            rmp_serde::to_vec_named(req).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        let ttl = option.hard_ttl();
        let mut request = tonic::Request::new(RaftPayload { data });
        // Tells the server the deadline too, so it can drop a late request.
        request.set_timeout(ttl);
        let call = async {
            match kind {
                RPCTypes::AppendEntries => client.append_entries(request).await,
                RPCTypes::Vote => client.vote(request).await,
                RPCTypes::InstallSnapshot => client.install_snapshot(request).await,
            }
        };
        let timeout = || {
            RPCError::Timeout(Timeout {
                action: kind,
                id: self.id,
                target: self.target,
                timeout: ttl,
            })
        };
        let resp = match tokio::time::timeout(ttl, call).await {
            Err(_elapsed) => return Err(timeout()),
            Ok(Err(status)) if status.code() == tonic::Code::DeadlineExceeded => {
                return Err(timeout())
            }
            // Anything else from tonic (refused, reset, protocol error, the
            // server refusing the payload) means this peer cannot take the
            // RPC now; `Unreachable` makes openraft back off before retrying.
            Ok(Err(status)) => return Err(RPCError::Unreachable(Unreachable::new(&status))),
            Ok(Ok(resp)) => resp.into_inner(),
        };
        let answer: Result<Resp, E> = rmp_serde::from_slice(&resp.data)
            .map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        answer.map_err(|e| {
            RPCError::RemoteError(RemoteError::new_with_node(
                self.target,
                self.node.clone(),
                e,
            ))
        })
    }
}

impl RaftNetwork<TypeConfig> for GrpcConnection {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<u64>, RPCError<u64, BasicNode, RaftError<u64>>> {
        self.call(RPCTypes::AppendEntries, &rpc, &option).await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<u64>,
        RPCError<u64, BasicNode, RaftError<u64, InstallSnapshotError>>,
    > {
        self.call(RPCTypes::InstallSnapshot, &rpc, &option).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<u64>,
        option: RPCOption,
    ) -> Result<VoteResponse<u64>, RPCError<u64, BasicNode, RaftError<u64>>> {
        self.call(RPCTypes::Vote, &rpc, &option).await
    }
}
