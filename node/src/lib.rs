//! The `meridian` server: its roles wired together.
//!
//! - the data plane is `meridian_data`; [`datanode`] serves its chunks to
//!   other nodes, and [`jobs`] gives its collector the catalogue's queue;
//! - [`transfer`]: the replication job (scheduler on the metadata leader,
//!   transfer orders, the executor every node runs);
//! - [`catalogue`]: the core `Catalogue` over the metadata plane (placement
//!   is applied here, before a record is proposed to Raft);
//! - [`jobs`]: what runs in the background on the metadata leader
//!   (lifetimes, abandoned uploads, lifecycle rules, policy reconciling);
//! - [`admin`], [`datanode`]: gRPC services of the admin API and data role;
//! - [`dev`]: `meridian dev`, the five-site federation in one process
//!   ([`dev_config`] is its settings);
//! - [`member`]: `meridian node --config FILE`, one node of a multi-process
//!   cluster ([`node_config`] is its file); [`serve`] is what both serve.

pub mod admin;
pub mod catalogue;
pub mod cli;
pub mod datanode;
pub mod dev;
pub mod dev_config;
pub mod jobs;
pub mod keyring;
pub mod mcp;
pub mod member;
pub mod metagroup;
pub mod node_config;
pub mod placement_policy;
pub mod serve;
pub mod size;
pub mod tokens;
pub mod transfer;
