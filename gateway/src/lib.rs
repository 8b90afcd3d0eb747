//! The gateway: the S3 API (on s3s) and, for now, the object service both
//! it and the gRPC client API (`meridian-api`) adapt: [`objects::Gateway`]
//! turns requests into catalogue operations and chunk streams. The gateway keeps no state of its own; the
//! domain it speaks for (errors, contracts, rules) is `meridian_core`'s.

mod bucket_settings;
mod copy;
mod etag;
pub mod objects;
pub mod s3;

pub use objects::Gateway;
