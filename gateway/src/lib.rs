//! The S3 API, on s3s: every S3 operation Meridian serves, as an adapter
//! over the object service (`meridian_objects::Objects`). It keeps no state
//! of its own; the domain it speaks for (records, errors, contracts, rules)
//! is `meridian_core`'s.

pub mod s3;
