//! The search indexes, kept in the same apply as the records they index
//! (`q` + the core's index key: `meridian_core::search`): a file's current
//! version is indexed by size, time, format and user metadata as
//! `object_effects` adds and removes it; a dataset by its record's fields
//! and its metadata packages' indexed fields whenever either changes.

use std::collections::BTreeSet;

use meridian_core::dataset::DatasetRecord;
use meridian_core::search::{dataset_index_keys, file_index_keys, DatasetView, FileFields};
use meridian_proto::v1::{self as pb, ObjectRecord};

use super::apply::get;
use super::keys;
use super::txn::Txn;
use crate::dataset_records::dataset_from;
use crate::MetaError;

/// Adds (`sign` > 0) or removes a current version's index entries.
pub(super) fn file(txn: &mut Txn<'_>, bucket_id: u64, key: &str, rec: &ObjectRecord, sign: i64) {
    if !txn.index_files {
        return;
    }
    let fields = FileFields {
        size: rec.size,
        created_ms: rec.created_ms,
        file_format: &rec.file_format,
        user_meta: &rec.user_meta,
        delete_marker: rec.delete_marker,
    };
    for k in file_index_keys(bucket_id, key, &fields) {
        if sign > 0 {
            txn.put(keys::search(&k), Vec::new());
        } else {
            txn.delete(keys::search(&k));
        }
    }
}

/// A dataset's metadata documents as the txn holds them, parsed.
pub(super) fn documents(
    txn: &Txn<'_>,
    name: &str,
) -> Result<Vec<(String, serde_json::Value)>, MetaError> {
    let mut docs = Vec::new();
    for p in meridian_core::dataset::METADATA_PACKAGES {
        let key = keys::dataset_metadata(name, p);
        if let Some(m) = get::<pb::DatasetMetadata>(txn, &key)? {
            // Stored documents were validated when set; one that no longer
            // parses is indexed by nothing rather than failing the apply.
            if let Ok(v) = serde_json::from_str(&m.document) {
                docs.push((m.package, v));
            }
        }
    }
    Ok(docs)
}

/// The index entries of dataset `name` as the txn holds it now.
pub(super) fn dataset_entries(txn: &Txn<'_>, name: &str) -> Result<BTreeSet<Vec<u8>>, MetaError> {
    let key = keys::dataset(name);
    let Some(r) = get::<pb::DatasetRecord>(txn, &key)? else {
        return Ok(BTreeSet::new());
    };
    let d: DatasetRecord = dataset_from(&keys::describe(&key), &r)?;
    let docs = documents(txn, name)?;
    Ok(dataset_index_keys(&DatasetView { d: &d, docs: &docs })
        .into_iter()
        .collect())
}

/// Brings `name`'s entries from `before` to what the txn holds now.
pub(super) fn reindex_dataset(
    txn: &mut Txn<'_>,
    name: &str,
    before: BTreeSet<Vec<u8>>,
) -> Result<(), MetaError> {
    let after = dataset_entries(txn, name)?;
    for k in before.difference(&after) {
        txn.delete(keys::search(k));
    }
    for k in after.difference(&before) {
        txn.put(keys::search(k), Vec::new());
    }
    Ok(())
}
