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
    /// The node's configuration cannot work (e.g. it is not among its peers).
    #[error("meta config: {0}")]
    Config(String),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// A membership change that cannot be made (unknown learner, removing
    /// the last voter, a change already in progress).
    #[error("membership: {0}")]
    Membership(String),
}

/// As `client_write_error`, keeping a refused membership change apart.
pub(crate) fn membership_error(
    e: openraft::error::RaftError<u64, openraft::error::ClientWriteError<u64, openraft::BasicNode>>,
) -> MetaError {
    use openraft::error::{ClientWriteError, RaftError};
    match e {
        RaftError::APIError(ClientWriteError::ChangeMembershipError(e)) => {
            MetaError::Membership(e.to_string())
        }
        other => client_write_error(other),
    }
}

/// What a failed `client_write` means to a caller. Not being the leader is
/// `Unavailable` naming the leader, so the caller can forward the write.
pub(crate) fn client_write_error(
    e: openraft::error::RaftError<u64, openraft::error::ClientWriteError<u64, openraft::BasicNode>>,
) -> MetaError {
    use openraft::error::{ClientWriteError, RaftError};
    match e {
        RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => {
            match (f.leader_id, f.leader_node) {
                (Some(id), Some(node)) => MetaError::Unavailable(format!(
                    "not the leader; the leader is node {id} at {}",
                    node.addr
                )),
                (Some(id), None) => {
                    MetaError::Unavailable(format!("not the leader; the leader is node {id}"))
                }
                _ => MetaError::Unavailable("not the leader, and no leader is known yet".into()),
            }
        }
        RaftError::APIError(e) => MetaError::Unavailable(e.to_string()),
        RaftError::Fatal(e) => MetaError::Raft(e.to_string()),
    }
}
