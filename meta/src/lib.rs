//! The metadata plane: the catalogue as a Raft state machine on RocksDB.
//!
//! - [`store`] holds the Raft log and the state machine, both in one RocksDB
//!   instance (separate column families), through openraft's v2 storage traits.
//! - [`catalogue`] is the state machine's logic: key layout, the apply
//!   function from a command to mutations, and the read paths.
//! - [`node::MetaNode`] runs the openraft node and is what the rest of the
//!   system calls.
//! - [`network`] and [`raft_service`] join several voters over gRPC;
//!   [`forward`] lets a member that does not lead write and read through
//!   the leader.

mod barrier;
pub mod catalogue;
pub mod commands;
pub mod commit;
pub mod dataset_records;
mod error;
pub mod forward;
pub mod freshness;
pub mod network;
pub mod node;
pub mod raft_service;
pub mod records;
pub mod store;
pub mod types;

pub use error::MetaError;
pub use node::{MetaConfig, MetaNode};
pub use types::{command, Outcome, OutcomeCode, TypeConfig};
