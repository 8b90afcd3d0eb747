//! The S3 ETag of an upload: an MD5 over its body, computed as the body
//! passes, inline for small bodies and on a thread of its own for the
//! rest (MD5 is the slowest hash of an upload; there it overlaps the
//! others and the writes instead of adding to them).

use bytes::Bytes;
use md5::{Digest, Md5};

use meridian_core::CoreError;

/// Bodies at least this long have their MD5 computed on a thread of its
/// own, beside the rest of the upload (below it, the hand-off costs more
/// than it saves).
pub(crate) const MD5_LANE_MIN: u64 = 1024 * 1024;
/// Frames queued for that thread at most.
const MD5_LANE_FRAMES: usize = 16;

/// Where an upload's MD5 is computed.
pub(crate) enum Md5Sink {
    Inline(Md5),
    /// On a blocking thread fed through a bounded queue (dropping the
    /// sender ends it).
    Lane {
        tx: tokio::sync::mpsc::Sender<Bytes>,
        done: tokio::task::JoinHandle<[u8; 16]>,
    },
}

impl Md5Sink {
    pub(crate) fn inline() -> Self {
        Md5Sink::Inline(Md5::new())
    }

    pub(crate) fn lane() -> Self {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(MD5_LANE_FRAMES);
        let done = tokio::task::spawn_blocking(move || {
            let mut h = Md5::new();
            while let Some(b) = rx.blocking_recv() {
                h.update(&b);
            }
            h.finalize().into()
        });
        Md5Sink::Lane { tx, done }
    }

    pub(crate) async fn update(&mut self, data: &Bytes) -> Result<(), CoreError> {
        match self {
            Md5Sink::Inline(h) => {
                h.update(data);
                Ok(())
            }
            // A clone of `Bytes` shares the buffer: no copy.
            Md5Sink::Lane { tx, .. } => tx
                .send(data.clone())
                .await
                .map_err(|_| CoreError::Internal("the MD5 thread ended early".into())),
        }
    }

    pub(crate) async fn finish(self) -> Result<[u8; 16], CoreError> {
        match self {
            Md5Sink::Inline(h) => Ok(h.finalize().into()),
            Md5Sink::Lane { tx, done } => {
                drop(tx);
                done.await
                    .map_err(|e| CoreError::Internal(format!("MD5 thread: {e}")))
            }
        }
    }
}
