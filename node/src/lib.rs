//! The `meridian` server: its roles wired together.
//!
//! - [`data`]: the data role: per-site chunk stores over object_store, the
//!   inter-site links with their rate limits, and verified chunk copies;
//! - [`replicator`]: the background job that turns pending replicas into
//!   complete ones;
//! - [`catalogue`]: the gateway's view of the metadata plane (placement is
//!   applied here, before a record is proposed to Raft);
//! - [`admin`], [`datanode`]: gRPC services of the admin API and data role;
//! - [`dev`]: `meridian dev`, the five-site federation in one process;
//! - [`member`]: `meridian node --config FILE`, one node of a multi-process
//!   cluster ([`nodeconfig`] is its file); [`serve`] is what both serve.

pub mod access_admin;
pub mod admin;
pub mod catalogue;
pub mod catalogue_protection;
pub mod catalogue_versions;
pub mod cli;
pub mod config;
pub mod data;
pub mod datanode;
pub mod dev;
pub mod expiry;
pub mod gc;
pub mod keyring;
pub mod lifecycle;
pub mod links;
pub mod member;
pub mod metagroup;
pub mod nodeconfig;
pub mod policy;
pub mod policy_admin;
pub mod reconcile;
pub mod remote;
pub mod replicator;
pub mod report;
pub mod serve;
pub mod size;
pub mod transfer;
pub mod uploads;
