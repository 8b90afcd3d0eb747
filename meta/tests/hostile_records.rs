//! Stored bytes that are not what the catalogue wrote (a torn sector, a
//! bit flip, another version's format): every reader answers with an error
//! or a value, never a panic. (A snapshot file is covered whole by its
//! BLAKE3 checksum, checked before any part is read.)

use std::sync::Arc;

use meridian_meta::catalogue::{keys, CatalogueReader};
use meridian_meta::store::{open_db, CF_CATALOGUE};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use rocksdb::DB;

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

/// A value: random bytes, or a valid-looking protobuf prefix cut short.
fn value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..200),
        // Field 1 varint, then a length-delimited field claiming more than
        // there is, then noise.
        (
            any::<u8>(),
            0u8..=255,
            proptest::collection::vec(any::<u8>(), 0..20)
        )
            .prop_map(|(a, len, tail)| {
                let mut v = vec![0x08, a, 0x12, len];
                v.extend(tail);
                v
            }),
        // Varints that never end.
        Just(vec![0xff; 12]),
    ]
}

/// Where a damaged value sits: the kinds of record the readers below decode.
fn key() -> impl Strategy<Value = Vec<u8>> {
    let hash = proptest::collection::vec(any::<u8>(), 32..=32);
    prop_oneof![
        Just(keys::bucket("b")),
        Just(keys::object(1, "k")),
        Just(keys::object(1, "k2")),
        Just(keys::bucket_counter(1)),
        Just(keys::site_counter(1)),
        Just(keys::damaged_counter(1)),
        Just(keys::scrub_progress(1)),
        Just(keys::audit_request(1)),
        Just(keys::audit_report(1, "")),
        Just(keys::membership_head()),
        Just(keys::membership_change(1)),
        Just(keys::dataset("d")),
        Just(keys::user("u")),
        Just(keys::upload("up")),
        Just(keys::part("up", 1)),
        hash.clone().prop_map(|h| keys::refs(&h)),
        hash.prop_map(|h| keys::gc_queue(1, &h)),
        Just(keys::damaged(1, 1, "k")),
    ]
}

/// Every reader the node's jobs and APIs use on these keys; results are
/// ignored, only panics matter.
fn read_everything(r: &CatalogueReader) {
    let _ = r.bucket("b");
    let _ = r.buckets();
    let _ = r.object(1, "k");
    let _ = r.list(1, "", None, None, 100);
    let _ = r.list(1, "", Some("/"), None, 100);
    let _ = r.list_versions(1, "", None, None, None, 100);
    let _ = r.bucket_counter(1);
    let _ = r.site_counter(1);
    let _ = r.damaged_counter(1);
    let _ = r.damaged(1, None, 100);
    let _ = r.scrub_progress(1);
    let _ = r.audit_request(1);
    let _ = r.audit_reports(1, 100);
    let _ = r.membership_head();
    let _ = r.membership_changes(0, 10);
    let _ = r.dataset("d");
    let _ = r.datasets("", 10);
    let _ = r.user("u");
    let _ = r.users(10);
    let _ = r.upload("up");
    let _ = r.parts("up");
    let _ = r.chunk_refs(1, &[0u8; 32]);
    let _ = r.gc_queue(1, None, 100);
    let _ = r.gc_counter(1);
}

#[test]
fn damaged_stored_values_are_errors_not_panics() {
    let dir = tempfile::tempdir().expect("tmp");
    let db: Arc<DB> = open_db(dir.path()).expect("db");
    let reader = CatalogueReader::new(db.clone());
    let mut runner = TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(
            &proptest::collection::vec((key(), value()), 1..12),
            |pairs| {
                let cf = db.cf_handle(CF_CATALOGUE).expect("family");
                for (k, v) in &pairs {
                    db.put_cf(cf, k, v).expect("put");
                }
                read_everything(&reader);
                for (k, _) in &pairs {
                    db.delete_cf(cf, k).expect("delete");
                }
                Ok(())
            },
        )
        .expect("no reader panics");
}
