//! Jobs that run on the metadata leader, each showing its progress in the
//! status: objects whose lifetime ended ([`expiry`]), multipart uploads
//! left unfinished ([`abandoned_uploads`]), buckets' lifecycle rules
//! ([`bucket_lifecycle`]) and the reconciler of placement policy changes
//! ([`reconcile`]), facility datasets whose run went idle ([`idle_close`]),
//! the repair of replicas found damaged ([`repair`]);
//! the catalogue's queue of unreferenced chunks that
//! every node's collector reads ([`reclaim_queue`]), the catalogue as the
//! scrubber and the audit read it ([`integrity`]); and, on every node,
//! the shipping of its access log to the catalogue ([`access_ship`]).

pub mod abandoned_uploads;
pub mod access_ship;
pub mod bucket_lifecycle;
pub mod expiry;
pub mod idle_close;
pub mod integrity;
pub mod reclaim_queue;
pub mod reconcile;
pub mod repair;
