//! A dataset's settings beside its life: who may do what to it (grants
//! and policy, in any state) and its metadata packages (one key each,
//! `m` + name, package; not on a published dataset). The gateway checks a
//! policy's language and a document's schema before proposing; the apply
//! checks what it can without them, so no replica holds what the rules
//! forbid.

use meridian_core::dataset::{Change, MAX_METADATA_BYTES, METADATA_PACKAGES};
use meridian_proto::v1::{SetDatasetAccessCmd, SetDatasetMetadataCmd};
use prost::Message;

use super::apply::reject;
use super::datasets::{for_change, put};
use super::keys;
use super::txn::Txn;
use crate::dataset_records::dataset_to;
use crate::records::grants_from;
use crate::types::{Outcome, OutcomeCode};
use crate::MetaError;

/// Grants a dataset holds, as a bucket's.
const MAX_GRANTS: usize = 100;
const MAX_POLICY: usize = 20 * 1024;

pub(super) fn set_access(txn: &mut Txn<'_>, c: &SetDatasetAccessCmd) -> Result<Outcome, MetaError> {
    if c.grants.len() > MAX_GRANTS {
        return Ok(reject(
            OutcomeCode::Invalid,
            format!("at most {MAX_GRANTS} grants"),
        ));
    }
    if c.policy.len() > MAX_POLICY {
        return Ok(reject(OutcomeCode::Invalid, "policy over 20 KiB"));
    }
    let grants = match grants_from(&"the command's grants", &c.grants) {
        Ok(g) => g,
        Err(e) => return Ok(reject(OutcomeCode::Invalid, e.to_string())),
    };
    let mut d = match for_change(txn, &c.name, c.if_version, Change::Access)? {
        Ok(d) => d,
        Err(o) => return Ok(o),
    };
    d.grants = grants;
    d.policy = c.policy.clone();
    d.version += 1;
    d.updated_ms = c.now_ms;
    put(txn, &d)?;
    Ok(Outcome::Done)
}

pub(super) fn set_metadata(
    txn: &mut Txn<'_>,
    c: &SetDatasetMetadataCmd,
) -> Result<Outcome, MetaError> {
    let Some(m) = &c.metadata else {
        return Ok(reject(OutcomeCode::Invalid, "no metadata in the command"));
    };
    if !METADATA_PACKAGES.contains(&m.package.as_str()) {
        return Ok(reject(
            OutcomeCode::Invalid,
            format!(
                "metadata package {:?} (one of {})",
                m.package,
                METADATA_PACKAGES.join(", ")
            ),
        ));
    }
    if m.document.len() > MAX_METADATA_BYTES {
        return Ok(reject(
            OutcomeCode::Invalid,
            format!("a metadata document is at most {MAX_METADATA_BYTES} bytes"),
        ));
    }
    let mut d = match for_change(txn, &c.name, c.if_version, Change::Describe)? {
        Ok(d) => d,
        Err(o) => return Ok(o),
    };
    // The entries as they stand before the document changes: `put`
    // alone would see the new document on both sides.
    let before = super::search_index::dataset_entries(txn, &c.name)?;
    let key = keys::dataset_metadata(&c.name, &m.package);
    if m.document.is_empty() {
        txn.delete(key);
    } else {
        let mut stored = m.clone();
        stored.set_ms = c.now_ms;
        txn.put(key, stored.encode_to_vec());
    }
    d.version += 1;
    d.updated_ms = c.now_ms;
    txn.put(keys::dataset(&d.name), dataset_to(&d).encode_to_vec());
    super::search_index::reindex_dataset(txn, &c.name, before)?;
    Ok(Outcome::Done)
}

/// Removes a deleted dataset's packages (at most one key each).
pub(super) fn delete_metadata(txn: &mut Txn<'_>, name: &str) {
    for p in METADATA_PACKAGES {
        txn.delete(keys::dataset_metadata(name, p));
    }
}
