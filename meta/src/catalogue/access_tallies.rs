//! Access tallies: shipments of the nodes' access logs added to each
//! file's tally (`a` + bucket, key), one read and one write per file per
//! shipment; the command's request id keeps a retried shipment from
//! counting twice.

use meridian_core::tracking::{FileTally, Tally, MAX_SHIPMENT_FILES};
use meridian_proto::v1::{AccessTally, RecordAccessCmd};
use prost::Message;

use super::apply::{get, reject};
use super::keys;
use super::read::CatalogueReader;
use super::txn::Txn;
use crate::types::{Outcome, OutcomeCode};
use crate::MetaError;

pub fn tally_from(t: &AccessTally) -> Tally {
    Tally {
        reads: t.reads,
        read_bytes: t.read_bytes,
        writes: t.writes,
        write_bytes: t.write_bytes,
        deletes: t.deletes,
        users: t.users.iter().cloned().collect(),
        users_overflow: t.users_overflow,
        first_ms: t.first_ms,
        last_ms: t.last_ms,
    }
}

pub fn tally_to(t: &Tally) -> AccessTally {
    AccessTally {
        reads: t.reads,
        read_bytes: t.read_bytes,
        writes: t.writes,
        write_bytes: t.write_bytes,
        deletes: t.deletes,
        users: t.users.iter().cloned().collect(),
        users_overflow: t.users_overflow,
        first_ms: t.first_ms,
        last_ms: t.last_ms,
    }
}

pub(super) fn record(txn: &mut Txn<'_>, c: &RecordAccessCmd) -> Result<Outcome, MetaError> {
    if c.files.len() > MAX_SHIPMENT_FILES {
        return Ok(reject(
            OutcomeCode::Invalid,
            format!("at most {MAX_SHIPMENT_FILES} files a shipment"),
        ));
    }
    for f in &c.files {
        if f.bucket.contains('\0') || f.key.contains('\0') {
            return Ok(reject(OutcomeCode::Invalid, "a NUL in a bucket or key"));
        }
    }
    for f in &c.files {
        let Some(add) = &f.tally else { continue };
        let key = keys::access_tally(&f.bucket, &f.key);
        let mut t = get::<AccessTally>(txn, &key)?
            .map(|t| tally_from(&t))
            .unwrap_or_default();
        t.merge(&tally_from(add));
        txn.put(key, tally_to(&t).encode_to_vec());
    }
    Ok(Outcome::Done)
}

/// The command of a shipment.
pub fn shipment_cmd(shipment: &str, files: &[FileTally]) -> RecordAccessCmd {
    RecordAccessCmd {
        shipment: shipment.to_string(),
        files: files
            .iter()
            .map(|f| meridian_proto::v1::FileAccess {
                bucket: f.bucket.clone(),
                key: f.key.clone(),
                tally: Some(tally_to(&f.tally)),
            })
            .collect(),
    }
}

impl CatalogueReader {
    pub fn file_access(&self, bucket: &str, key: &str) -> Result<Option<Tally>, MetaError> {
        Ok(self
            .get::<AccessTally>(&keys::access_tally(bucket, key))?
            .map(|t| tally_from(&t)))
    }
}
