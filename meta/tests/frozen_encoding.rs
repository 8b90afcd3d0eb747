//! Bytes of today's stored formats, frozen. Future versions must keep
//! decoding them to the same values: records in the catalogue and entries in
//! the Raft log outlive the code that wrote them. If one of these tests
//! fails, a stored format changed: add a new format version instead.

use meridian_proto::v1::command::Op;
use meridian_proto::v1::stored_entry::Payload;
use meridian_proto::v1::*;
use prost::Message;

fn object_record() -> ObjectRecord {
    ObjectRecord {
        format: 1,
        size: 8_388_613,
        blake3: (0u8..32).collect(),
        etag: "9e107d9d372bb6826bd81d3542a419d6-2".into(),
        content_type: "application/x-hdf5".into(),
        user_meta: [("run".to_string(), "42".to_string())].into(),
        owner: "juno-daq".into(),
        chunks: vec![
            ChunkRef {
                hash: vec![0xAB; 32],
                size: 4_194_304,
            },
            ChunkRef {
                hash: vec![0xCD; 32],
                size: 4_194_309,
            },
        ],
        chunk_size: 4_194_304,
        policy: "default".into(),
        replicas: vec![
            Replica {
                site: 5,
                state: ReplicaState::Complete as i32,
                verified_at_ms: 1_790_000_000_000,
                reason: 0,
            },
            Replica {
                site: 1,
                state: ReplicaState::Pending as i32,
                verified_at_ms: 0,
                reason: 0,
            },
        ],
        created_ms: 1_790_000_000_000,
        ingest_site: 5,
        version_id: "1a0c4f8a8000deadbeef".into(),
        parts: 2,
        // A later field, absent from the frozen bytes: zero is not encoded.
        expires_ms: 0,
        // An empty map adds nothing: the bytes stay those of v1.
        checksums: Default::default(),
        tags: Default::default(),
        // Versioning off, not a marker, no part sizes: nothing encoded.
        versioning: 0,
        delete_marker: false,
        part_sizes: Vec::new(),
        checksum_type: String::new(),
        // No ACL, retention or hold: nothing encoded.
        acl: Vec::new(),
        lock_mode: 0,
        lock_until_ms: 0,
        legal_hold: false,
        // No format recognised: nothing encoded.
        file_format: String::new(),
    }
}

const OBJECT_RECORD_V1: &str = concat!(
    "080110858080041a20000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f222239653130",
    "376439643337326262363832366264383164333534326134313964362d322a126170706c69636174696f6e2f782d68",
    "6466353209" ,
    "0a0372756e120234323a086a756e6f2d64617142270a20abababababababababababababababababababababababababababababababab108080800242270a20cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd10858080024880808002520764656661756c745a0b080510031880d8c1a28c345a04080110016080d8c1a28c346805721431613063346638613830303064656164626565667802"
);

fn bucket_record() -> BucketRecord {
    BucketRecord {
        format: 1,
        id: 7,
        name: "juno".into(),
        created_ms: 1_790_000_000_000,
        owner: "root".into(),
        ingest_site: 5,
        // Empty grants and policy add nothing: the bytes stay those of v1.
        ..Default::default()
    }
}

const BUCKET_RECORD_V1: &str = "080110071a046a756e6f2080d8c1a28c342a04726f6f743005";

fn stored_entry() -> StoredEntry {
    StoredEntry {
        format: 1,
        term: 3,
        leader_node: 1,
        index: 12_345,
        payload: Some(Payload::Normal(CommandBatch {
            format: 1,
            commands: vec![Command {
                op: Some(Op::SetReplicaState(SetReplicaStateCmd {
                    bucket: "juno".into(),
                    key: "raw/run42.h5".into(),
                    version_id: "1a0c4f8a8000deadbeef".into(),
                    site: 1,
                    state: ReplicaState::Complete as i32,
                    now_ms: 1_790_000_000_001,
                })),
                request_id: vec![0x11; 16],
            }],
        })),
    }
}

const STORED_ENTRY_V1: &str = concat!(
    "08011003180120b960324e0801124a2a350a046a756e6f120c7261772f72756e34322e68351a14316130633466386138",
    "3030306465616462656566200128033081d8c1a28c34a2011011111111111111111111111111111111"
);

fn check<M: Message + Default + PartialEq + std::fmt::Debug>(name: &str, value: M, frozen: &str) {
    let bytes = value.encode_to_vec();
    assert_eq!(
        hex::encode(&bytes),
        frozen,
        "{name}: today's encoding differs from the frozen bytes"
    );
    let decoded =
        M::decode(hex::decode(frozen).expect("hex").as_slice()).expect("frozen bytes decode");
    assert_eq!(
        decoded, value,
        "{name}: frozen bytes decode to another value"
    );
}

#[test]
fn object_record_v1_still_decodes() {
    check("ObjectRecord", object_record(), OBJECT_RECORD_V1);
}

#[test]
fn bucket_record_v1_still_decodes() {
    check("BucketRecord", bucket_record(), BUCKET_RECORD_V1);
}

#[test]
fn stored_entry_v1_still_decodes() {
    check("StoredEntry", stored_entry(), STORED_ENTRY_V1);
}
