//! Jobs that run on the metadata leader, each showing its progress in the
//! status: objects whose lifetime ended ([`expiry`]), multipart uploads
//! left unfinished ([`abandoned_uploads`]), buckets' lifecycle rules
//! ([`bucket_lifecycle`]) and the reconciler of placement policy changes
//! ([`reconcile`]).

pub mod abandoned_uploads;
pub mod bucket_lifecycle;
pub mod expiry;
pub mod reconcile;
