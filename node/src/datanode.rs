//! The data-node API (`meridian.v1.DataNodeService`): other sites read this
//! node's chunks through it. Every chunk is verified before it is sent.

use std::pin::Pin;
use std::sync::Arc;

use futures::Stream;
use meridian_proto::v1::data_node_service_server::DataNodeService;
use meridian_proto::v1::*;
use tonic::{Request, Response, Status};

use meridian_data::{DataError, DataPlane};

/// Frames of at most this many bytes.
const FRAME_BYTES: usize = 1 << 20;
/// At most this many hashes per HasChunks call.
const MAX_HASHES: usize = 10_000;

pub struct DataNodeApi {
    pub data: Arc<DataPlane>,
}

impl DataNodeApi {
    fn site(&self, name: &str) -> Result<u32, Status> {
        self.data
            .topology()
            .site_by_name(name)
            .map(|s| s.id.0)
            .ok_or_else(|| Status::not_found(format!("unknown site {name:?}")))
    }
}

fn hash(bytes: &[u8]) -> Result<[u8; 32], Status> {
    bytes
        .try_into()
        .map_err(|_| Status::invalid_argument("a chunk hash is 32 bytes"))
}

type ChunkStream = Pin<Box<dyn Stream<Item = Result<ChunkFrame, Status>> + Send>>;

#[tonic::async_trait]
impl DataNodeService for DataNodeApi {
    type ReadChunkStream = ChunkStream;

    async fn read_chunk(
        &self,
        req: Request<ReadChunkRequest>,
    ) -> Result<Response<ChunkStream>, Status> {
        let r = req.into_inner();
        let site = self.site(&r.site)?;
        let h = hash(&r.hash)?;
        let store = self
            .data
            .store(site)
            .map_err(|e| Status::not_found(e.to_string()))?;
        let area = if r.transit {
            meridian_data::Area::Transit
        } else {
            meridian_data::Area::Chunks
        };
        let data = store
            .get_in(area, &h)
            .await
            .map_err(|e| match e {
                DataError::NotFound(..) => Status::not_found(e.to_string()),
                DataError::Corrupt { .. } => Status::data_loss(e.to_string()),
                other => Status::unavailable(other.to_string()),
            })?
            .into_data();
        let frames: Vec<Result<ChunkFrame, Status>> = (0..data.len())
            .step_by(FRAME_BYTES)
            .map(|o| {
                Ok(ChunkFrame {
                    data: data.slice(o..(o + FRAME_BYTES).min(data.len())),
                })
            })
            .collect();
        Ok(Response::new(Box::pin(futures::stream::iter(frames))))
    }

    async fn has_chunks(
        &self,
        req: Request<HasChunksRequest>,
    ) -> Result<Response<HasChunksResponse>, Status> {
        let r = req.into_inner();
        if r.hashes.len() > MAX_HASHES {
            return Err(Status::invalid_argument(format!(
                "at most {MAX_HASHES} hashes per call"
            )));
        }
        let site = self.site(&r.site)?;
        let store = self
            .data
            .store(site)
            .map_err(|e| Status::not_found(e.to_string()))?;
        let mut present = Vec::with_capacity(r.hashes.len());
        for h in &r.hashes {
            present.push(
                store
                    .has_verified(&hash(h)?)
                    .await
                    .map_err(|e| Status::unavailable(e.to_string()))?,
            );
        }
        Ok(Response::new(HasChunksResponse { present }))
    }
}
