//! The object service both protocols adapt (S3 in `meridian-gateway`, gRPC
//! in `meridian-api`): [`Objects`] turns requests into catalogue operations
//! and chunk streams over the core's `Catalogue` and `ChunkStore`, cutting
//! bodies into chunks, hashing each once (BLAKE3) and the whole body
//! (BLAKE3, MD5) on the way, committing only what is durable, and reading
//! back only verified bytes. It keeps no state beyond a one-second cache of
//! access records.

pub mod access_log;
mod bucket_settings;
mod copy;
mod etag;
mod service;
mod session;

pub use service::{
    resolve_range, BodyChecksums, Ingested, NewObject, ObjectChecksum, Objects, Piece, Protection,
    MAX_PART_NUMBER, MIN_PART_BYTES,
};
pub use session::{SessionStatus, WriteFailed, Written};
