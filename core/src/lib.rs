//! The domain's home: the contracts the planes implement (the catalogue and
//! the chunk stores), the clock, the errors every plane answers with, and the
//! pure rules S3 buckets carry (access, lifecycle, CORS). Protocol crates
//! (S3, gRPC) translate to and from what is here; planes implement it.

pub mod access;
pub mod access_cache;
pub mod card;
pub mod catalogue;
pub mod chunks;
pub mod clock;
pub mod cors;
pub mod dataset;
mod error;
pub mod ids;
pub mod lifecycle;
pub mod names;
pub mod protection;
pub mod records;
pub mod regions;
pub mod search;
pub mod session;
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;
pub mod tracking;
pub mod units;

pub use chunks::{Chunk, ChunkHash};
pub use clock::{Clock, SharedClock};
pub use error::CoreError;
