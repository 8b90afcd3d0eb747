//! The data plane: one content-addressed chunk store per site
//! ([`store`]), chunks of sites other processes keep ([`remote`]), the
//! inter-site links with their rate limits ([`links`]), every site as one
//! plane that is the core's `ChunkStore` ([`plane`]), and the collector of
//! unreferenced chunks ([`reclaim`]), the scrubber ([`scrub`]) and the
//! audit ([`audit`]), which read the catalogue through traits the
//! metadata plane implements. It knows nothing of Raft, S3 or
//! gRPC services; it speaks to other nodes' data nodes as a client.

pub mod audit;
mod check;
pub mod error;
pub mod gc_config;
pub mod links;
mod locks;
pub mod plane;
pub mod reclaim;
pub mod remote;
pub mod scrub;
pub mod store;

pub use check::{ChunkCheck, ChunkFile};
pub use error::DataError;
pub use gc_config::GcConfig;
pub use plane::DataPlane;
pub use reclaim::{Collector, Queued, ReclaimQueue};
pub use scrub::{ScrubConfig, Scrubber};
pub use store::{Area, SiteStore};
