//! Wire types of Meridian: the catalogue's stored records and Raft commands,
//! and the client, admin and data-node gRPC services. Nothing here does IO.

#![allow(clippy::all, missing_docs)]

pub mod codec;

pub mod v1 {
    tonic::include_proto!("meridian.v1");
}

/// Encoded `FileDescriptorSet` of every service, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("meridian_descriptor");

/// Current `format` written into every stored record.
pub const RECORD_FORMAT: u32 = 1;
