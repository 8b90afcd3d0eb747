//! The certificates Meridian's listeners present and check.
//!
//! The cluster port (Raft, forwarded writes, chunk reads between nodes) is
//! mutual TLS under a CA of the cluster's own: `meridianctl cluster init`
//! makes it and a certificate per node ([`ClusterCa`]); a node loads its
//! identity ([`ClusterTls`]) and accepts only peers whose certificate that
//! CA signed, before any RPC runs.
//!
//! The client-facing listeners (S3, the client and admin gRPC APIs) present
//! a certificate the administrator gives ([`EndpointTls`]), or one
//! `meridian dev --tls` makes under a CA of its own.
//!
//! ring is the one crypto provider linked in (tonic's `tls-ring`, rustls and
//! rcgen configured alike), so the process-wide default is never ambiguous.

mod ca;
mod cluster;
mod endpoint;
mod error;
mod files;

pub use ca::{local_cluster, ClusterCa, IssuedCert, CA_VALIDITY, NODE_VALIDITY};
pub use cluster::{ClusterTls, HANDSHAKE_TIMEOUT};
pub use endpoint::{local_endpoint, EndpointTls};
pub use error::TlsError;
pub use files::{write_new, ClusterFiles};
