//! Jobs that run on the metadata leader, each showing its progress in the
//! status: objects whose lifetime ended ([`expiry`]), multipart uploads
//! left unfinished ([`abandoned_uploads`]), buckets' lifecycle rules
//! ([`bucket_lifecycle`]) and the reconciler of placement policy changes
//! ([`reconcile`]); and the catalogue's queue of unreferenced chunks that
//! every node's collector reads ([`reclaim_queue`]).

pub mod abandoned_uploads;
pub mod bucket_lifecycle;
pub mod expiry;
pub mod reclaim_queue;
pub mod reconcile;
