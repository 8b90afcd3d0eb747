//! The gRPC edge: how the domain (`meridian-core`) is said on the wire
//! (`meridian-proto`). Every gRPC service (the client API, the admin API)
//! answers errors and records through these, so the same fault gets the
//! same status whichever service reports it.

pub mod audit;
pub mod auth;
pub mod datasets;
mod object_service;
pub mod sessions;
mod wait;

pub use datasets::DatasetApi;
pub use object_service::ObjectApi;

use meridian_core::records::ObjectRecord;
use meridian_core::CoreError;
use meridian_placement::{SiteId, Topology};
use meridian_proto::v1::{ObjectInfo, ReplicaInfo};
use tonic::Status;

/// The gRPC status of a domain error; the S3 error code, where there is
/// one, leads the message.
pub fn status(e: CoreError) -> Status {
    use CoreError::*;
    match e {
        NoSuchBucket(m) => Status::not_found(format!("NoSuchBucket: {m}")),
        NoSuchKey(m) => Status::not_found(format!("NoSuchKey: {m}")),
        NoSuchUpload(m) => Status::not_found(format!("NoSuchUpload: {m}")),
        NoSuchVersion(m) => Status::not_found(format!("NoSuchVersion: {m}")),
        DeleteMarker(m) => Status::not_found(format!("DeleteMarker: {m}")),
        BucketExists(m) => Status::already_exists(format!("BucketAlreadyExists: {m}")),
        BucketNotEmpty(m) => Status::failed_precondition(format!("BucketNotEmpty: {m}")),
        InvalidBucketName(m) => Status::invalid_argument(format!("InvalidBucketName: {m}")),
        InvalidKey(m) => Status::invalid_argument(format!("InvalidKey: {m}")),
        InvalidPart(m) | InvalidPartOrder(m) | InvalidArgument(m) => Status::invalid_argument(m),
        UnknownSite(m) => Status::invalid_argument(format!("UnknownSite: {m}")),
        InvalidRange(m) => Status::out_of_range(m),
        IncompleteBody(m) => Status::aborted(format!("IncompleteBody: {m}")),
        BadDigest(m) => Status::data_loss(format!("BadDigest: {m}")),
        Corrupt(m) => Status::data_loss(format!("Corrupt: {m}")),
        Unavailable(m) => Status::unavailable(m),
        PreconditionFailed(m) => Status::failed_precondition(format!("PreconditionFailed: {m}")),
        AclNotSupported(m) => {
            Status::failed_precondition(format!("AccessControlListNotSupported: {m}"))
        }
        AclConflictsWithOwnership(m) => Status::failed_precondition(m),
        InvalidBucketState(m) => Status::failed_precondition(format!("InvalidBucketState: {m}")),
        NoObjectLock(m) => Status::failed_precondition(m),
        ObjectLocked(m) => Status::permission_denied(m),
        NoSuchDataset(m) => Status::not_found(format!("NoSuchDataset: {m}")),
        DatasetExists(m) => Status::already_exists(format!("DatasetExists: {m}")),
        DatasetState(m) => Status::failed_precondition(m),
        Internal(m) => Status::internal(m),
    }
}

/// The wire's view of a version, with site names.
pub fn object_info(topology: &Topology, bucket: &str, key: &str, rec: &ObjectRecord) -> ObjectInfo {
    let name = |id: u32| topology.name(SiteId(id));
    ObjectInfo {
        bucket: bucket.to_string(),
        key: key.to_string(),
        size: rec.size,
        blake3: rec.blake3.map(hex::encode).unwrap_or_default(),
        etag: rec.etag.clone(),
        content_type: rec.content_type.clone(),
        user_meta: rec.user_meta.clone(),
        chunk_count: rec.chunks.len() as u32,
        chunk_size: rec.chunk_size,
        created_ms: rec.created_ms,
        ingest_site: name(rec.ingest_site),
        policy: rec.policy.clone(),
        replicas: rec
            .replicas
            .iter()
            .map(|r| ReplicaInfo {
                site: name(r.site),
                state: r.state.name().to_string(),
                verified_at_ms: r.verified_at_ms,
            })
            .collect(),
        version_id: rec.version_id.clone(),
        read_site: String::new(),
        file_format: rec.file_format.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use meridian_core::records::{Replica, ReplicaState};

    #[test]
    fn a_record_is_shown_with_site_names_and_its_hash_in_hex() {
        let topo = Topology::from_toml(
            "hub = \"A\"\n[[site]]\nid = 1\nname = \"A\"\n[[site]]\nid = 2\nname = \"B\"\n\
             [[link]]\nfrom = \"A\"\nto = \"B\"\nbandwidth_gbps = 1.0\n",
            "test",
        )
        .expect("topology");
        let rec = ObjectRecord {
            size: 3,
            blake3: Some([0xab; 32]),
            ingest_site: 1,
            replicas: vec![Replica {
                site: 2,
                state: ReplicaState::Pending,
                verified_at_ms: 0,
                reason: 0,
            }],
            ..Default::default()
        };
        let info = object_info(&topo, "b", "k", &rec);
        assert_eq!(info.ingest_site, "A");
        assert_eq!(info.replicas[0].site, "B");
        assert_eq!(info.replicas[0].state, "pending");
        assert_eq!(info.blake3, "ab".repeat(32));
        assert_eq!(
            status(CoreError::NoSuchKey("k".into())).code(),
            tonic::Code::NotFound
        );
    }
}
