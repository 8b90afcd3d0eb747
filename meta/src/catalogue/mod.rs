//! The catalogue state machine: key layout ([`keys`]), the entry point of
//! every command ([`apply_once`]: a retried request answered as the first
//! was), the deterministic apply function ([`apply`]) and the read paths
//! ([`read`]).

pub mod access_tallies;
pub mod apply;
pub mod apply_once;
mod bucket_settings;
mod dataset_settings;
mod datasets;
mod datasets_read;
mod integrity;
pub mod keys;
pub mod membership_log;
mod placement_ops;
pub mod protection;
mod publish;
pub mod read;
pub mod refs;
mod search_index;
mod search_read;
pub(crate) mod txn;
pub mod uploads;
pub mod users;
pub mod versions;
mod versions_read;

pub use datasets_read::FilePage;
pub use read::{CatalogueReader, ListItem, ListPage, PendingReplica};
pub use refs::GcQueued;
pub use versions::s3_version_id;
pub use versions_read::{VersionItem, VersionPage};
