//! The chunk collector's queue (`meridian_data::ReclaimQueue`) over the
//! catalogue: each site's queue of chunks nothing references, read after a
//! read barrier, and removals reported through Raft (`GcDone`, which clears
//! an entry only if it is still the one read).

use std::sync::Arc;

use async_trait::async_trait;
use meridian_core::ChunkHash;
use meridian_data::{Queued, ReclaimQueue};
use meridian_proto::v1::command::Op;
use meridian_proto::v1::{GcDoneCmd, GcEntry};

use crate::metagroup::MetaGroup;

pub struct CatalogueQueue {
    meta: Arc<MetaGroup>,
}

impl CatalogueQueue {
    pub fn new(meta: Arc<MetaGroup>) -> Arc<Self> {
        Arc::new(CatalogueQueue { meta })
    }
}

#[async_trait]
impl ReclaimQueue for CatalogueQueue {
    async fn page(
        &self,
        site: u32,
        after: Option<&ChunkHash>,
        limit: usize,
    ) -> Result<Vec<Queued>, String> {
        let reader = self.meta.read_barrier().await.map_err(|e| e.to_string())?;
        Ok(reader
            .gc_queue(site, after, limit)
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|q| Queued {
                hash: q.hash,
                queued_at: q.queued_at,
            })
            .collect())
    }

    async fn removed(&self, site: u32, entries: &[Queued]) -> Result<(), String> {
        let cmd = meridian_meta::command(Op::GcDone(GcDoneCmd {
            site,
            entries: entries
                .iter()
                .map(|q| GcEntry {
                    hash: q.hash.to_vec(),
                    queued_at: q.queued_at,
                })
                .collect(),
        }));
        self.meta
            .write_one(cmd)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}
