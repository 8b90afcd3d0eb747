//! Chunk stores in memory, with faults a test can switch on.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use async_trait::async_trait;
use bytes::Bytes;

use crate::chunks::{Chunk, ChunkHash, ChunkStore};
use crate::CoreError;

#[derive(Default)]
pub struct MemChunks {
    chunks: Mutex<HashMap<ChunkHash, Bytes>>,
    /// Makes every read fail as if no holder were reachable.
    pub fail_reads: AtomicBool,
    /// Makes every read take this long: a slow, distant replica.
    pub read_delay_ms: AtomicU64,
}

impl MemChunks {
    /// Chunks stored so far.
    pub fn len(&self) -> usize {
        self.chunks.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[async_trait]
impl ChunkStore for MemChunks {
    async fn put_chunk(&self, _site: u32, chunk: Chunk) -> Result<(), CoreError> {
        self.chunks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(*chunk.hash(), chunk.into_data());
        Ok(())
    }

    async fn read_chunk(
        &self,
        _reader: u32,
        holders: &[u32],
        hash: &ChunkHash,
        size: u32,
    ) -> Result<Bytes, CoreError> {
        let delay_ms = self.read_delay_ms.load(Ordering::SeqCst);
        if delay_ms > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(delay_ms)).await;
        }
        if self.fail_reads.load(Ordering::SeqCst) || holders.is_empty() {
            return Err(CoreError::Unavailable("no holder reachable".into()));
        }
        let data = self
            .chunks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(hash)
            .cloned()
            .ok_or_else(|| CoreError::Unavailable("chunk missing".into()))?;
        if data.len() != size as usize {
            return Err(CoreError::Corrupt(format!(
                "chunk of {} bytes, the record says {size}",
                data.len()
            )));
        }
        Ok(data)
    }
}
