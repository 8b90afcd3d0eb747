use thiserror::Error;

use crate::types::OutcomeCode;

/// Errors of the metadata plane.
#[derive(Debug, Error)]
pub enum MetaError {
    /// The command was applied and refused by the state machine (no change).
    #[error("{code:?}: {message}")]
    Rejected { code: OutcomeCode, message: String },
    /// This node cannot serve the request now (no leader, shutting down).
    #[error("catalogue unavailable: {0}")]
    Unavailable(String),
    #[error("rocksdb: {0}")]
    Db(#[from] rocksdb::Error),
    /// Bytes on disk that do not decode: never silently skipped.
    #[error("corrupt catalogue record at {key}: {message}")]
    Corrupt { key: String, message: String },
    #[error("raft: {0}")]
    Raft(String),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}
