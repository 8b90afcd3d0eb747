//! The gateway: the S3 API (on s3s) and the gRPC client API, both thin
//! adapters over [`objects::Gateway`], which turns requests into catalogue
//! operations and chunk streams. The gateway keeps no state of its own.

pub mod access;
pub mod access_cache;
pub mod backend;
mod copy;
pub mod cors;
mod error;
mod etag;
pub mod grpc;
pub mod lifecycle;
pub mod names;
pub mod objects;
pub mod s3;

pub use error::GatewayError;
pub use objects::Gateway;
