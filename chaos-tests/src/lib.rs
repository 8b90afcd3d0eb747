//! Harness for tests that drive the real `meridian` and `meridianctl`
//! binaries: a `meridian dev` federation in a temporary directory that can be
//! SIGKILLed and restarted, S3 clients for each site, and `meridianctl --json`.
//!
//! The binaries are not built by `cargo test -p meridian-chaos-tests` (they
//! belong to other crates): build them first with
//! `cargo build -p meridian-node -p meridian-ops`, or point `MERIDIAN_BIN` and
//! `MERIDIANCTL_BIN` at them.

pub mod awscli;
pub mod binaries;
pub mod certs;
pub mod chunks;
pub mod cluster;
pub mod ctl;
pub mod data;
pub mod faulty_link;
pub mod grpc;
pub mod linearizable;
pub mod listing;
pub mod netns;
pub mod nodes;
pub mod output;
pub mod ports;
pub mod process;
pub mod python;
pub mod rawhttp;
pub mod s3;
pub mod sites;
pub mod wait;
pub mod workload;

pub use cluster::{DevCluster, DevOptions};
pub use ctl::{Ctl, ObjectStat, ReplicaState};
pub use sites::Site;
