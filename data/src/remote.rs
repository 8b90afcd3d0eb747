//! Another process's data node, reached over its `DataNodeService`: how a
//! node of a multi-process cluster reads chunks held at other sites (for a
//! client's GET, or to copy a replica to its own site). Every chunk is
//! verified against its address on arrival, whatever the sender checked.

use std::time::Duration;

use bytes::BytesMut;
use meridian_core::{Chunk, ChunkHash};
use meridian_proto::v1::data_node_service_client::DataNodeServiceClient;
use meridian_proto::v1::{HasChunksRequest, ReadChunkRequest};
use meridian_tls::ClusterTls;
use tonic::transport::Channel;

use crate::error::DataError;
use crate::store::{verified, MAX_CHUNK_BYTES};

/// One chunk read, start to end; a 64 MiB chunk at 2 Gb/s takes 0.3 s.
const READ_TIMEOUT: Duration = Duration::from_secs(60);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

pub struct RemoteSite {
    name: String,
    addr: String,
    client: DataNodeServiceClient<Channel>,
}

impl RemoteSite {
    /// `addr`: host:port of the site's node's cluster port, reached with
    /// `tls`. Connects lazily (and again after a failure), so a node that is
    /// down is only an error when it is read from.
    pub fn new(name: &str, addr: &str, tls: &ClusterTls) -> Result<Self, String> {
        let endpoint = tls
            .endpoint(addr)
            .map_err(|e| format!("data node of {name}: {e}"))?;
        let channel = endpoint
            .connect_timeout(CONNECT_TIMEOUT)
            .tcp_nodelay(true)
            .connect_lazy();
        Ok(RemoteSite {
            name: name.to_string(),
            addr: addr.to_string(),
            client: DataNodeServiceClient::new(channel)
                .max_decoding_message_size(MAX_CHUNK_BYTES as usize),
        })
    }

    fn remote(&self, message: impl std::fmt::Display) -> DataError {
        DataError::Remote {
            site: self.name.clone(),
            message: format!("{} ({})", message, self.addr),
        }
    }

    /// The chunk `hash`, verified.
    pub async fn read(&self, hash: &ChunkHash) -> Result<Chunk, DataError> {
        self.read_in(crate::store::Area::Chunks, hash).await
    }

    /// The chunk `hash` from `area` (a relay's transit area, or its chunks),
    /// verified.
    pub async fn read_in(
        &self,
        area: crate::store::Area,
        hash: &ChunkHash,
    ) -> Result<Chunk, DataError> {
        tokio::time::timeout(READ_TIMEOUT, self.read_unbounded(area, hash))
            .await
            .map_err(|_| self.remote(format!("no whole chunk within {READ_TIMEOUT:?}")))?
    }

    /// Which of `hashes` the site holds, verified there.
    pub async fn has(&self, hashes: &[ChunkHash]) -> Result<Vec<bool>, DataError> {
        let req = HasChunksRequest {
            site: self.name.clone(),
            hashes: hashes.iter().map(|h| h.to_vec()).collect(),
        };
        let r = tokio::time::timeout(READ_TIMEOUT, self.client.clone().has_chunks(req))
            .await
            .map_err(|_| self.remote(format!("no answer within {READ_TIMEOUT:?}")))?
            .map_err(|s| self.remote(format!("{:?}: {}", s.code(), s.message())))?
            .into_inner();
        if r.present.len() != hashes.len() {
            return Err(self.remote("HasChunks answered for a different number of chunks"));
        }
        Ok(r.present)
    }

    async fn read_unbounded(
        &self,
        area: crate::store::Area,
        hash: &ChunkHash,
    ) -> Result<Chunk, DataError> {
        let req = ReadChunkRequest {
            site: self.name.clone(),
            hash: hash.to_vec(),
            transit: area == crate::store::Area::Transit,
        };
        let mut stream = self
            .client
            .clone()
            .read_chunk(req)
            .await
            .map_err(|s| self.status(hash, s))?
            .into_inner();
        let mut buf = BytesMut::new();
        while let Some(frame) = stream.message().await.map_err(|s| self.status(hash, s))? {
            if (buf.len() + frame.data.len()) as u64 > MAX_CHUNK_BYTES {
                return Err(self.remote(format!(
                    "chunk {} is longer than {MAX_CHUNK_BYTES} bytes",
                    hex::encode(hash)
                )));
            }
            buf.extend_from_slice(&frame.data);
        }
        verified(hash, &self.name, buf.freeze()).await
    }

    fn status(&self, hash: &ChunkHash, s: tonic::Status) -> DataError {
        match s.code() {
            tonic::Code::NotFound => DataError::NotFound(hex::encode(hash), self.name.clone()),
            _ => self.remote(format!("{:?}: {}", s.code(), s.message())),
        }
    }
}
