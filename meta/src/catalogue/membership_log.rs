//! The membership log: who joined or left a dataset, by sequence, so that
//! the placement reconciler can re-place just those files when a rule
//! selects by dataset, instead of walking the catalogue after every attach.
//!
//! Each apply that changes membership (attach, detach, new rules, publish,
//! delete) appends one entry in the same write, so the log is never behind
//! the datasets it describes. Only the last [`RETAINED`] entries are kept:
//! a reader that finds its place gone walks the catalogue instead, which
//! is always correct, just slower.

use meridian_core::dataset::MemberRule;
use meridian_proto::v1 as pb;
use prost::Message;

use super::keys;
use super::read::CatalogueReader;
use super::txn::Txn;
use crate::MetaError;

/// Entries kept. An entry holds at most one command's files (10,000), so
/// the log stays under a few hundred MB at its very worst and is tiny in
/// the usual case of a handful of files per change.
pub const RETAINED: u64 = 256;

/// One logged change, as a reader sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MembershipChange {
    pub seq: u64,
    pub dataset: String,
    /// Files attached, detached or let go.
    pub files: Vec<(String, String)>,
    /// Rules whose files joined or left.
    pub rules: Vec<MemberRule>,
}

/// What the log holds after a reader's place.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MembershipChanges {
    /// The last sequence logged (0: none ever).
    pub head: u64,
    /// False when entries after the reader's place were already dropped:
    /// the reader must look at everything.
    pub complete: bool,
    pub changes: Vec<MembershipChange>,
}

fn head(get: Option<Vec<u8>>) -> Result<u64, MetaError> {
    match get {
        None => Ok(0),
        Some(v) => Ok(u64::from_be_bytes(v.as_slice().try_into().map_err(
            |_| MetaError::Corrupt {
                key: "N/membership".into(),
                message: "sequence is not 8 bytes".into(),
            },
        )?)),
    }
}

/// Appends a change, dropping the entry that falls out of the window.
/// Nothing is logged for a change with neither files nor rules.
pub(super) fn log(
    txn: &mut Txn<'_>,
    dataset: &str,
    files: impl IntoIterator<Item = (String, String)>,
    rules: &[MemberRule],
) -> Result<(), MetaError> {
    let files: Vec<pb::FileRef> = files
        .into_iter()
        .map(|(bucket, key)| pb::FileRef { bucket, key })
        .collect();
    if files.is_empty() && rules.is_empty() {
        return Ok(());
    }
    let seq = head(txn.get(&keys::membership_head())?)? + 1;
    let entry = pb::MembershipChange {
        dataset: dataset.to_string(),
        files,
        rules: rules
            .iter()
            .map(|r| pb::MemberRule {
                bucket: r.bucket.clone(),
                prefix: r.prefix.clone(),
            })
            .collect(),
    };
    txn.put(keys::membership_change(seq), entry.encode_to_vec());
    if seq > RETAINED {
        txn.delete(keys::membership_change(seq - RETAINED));
    }
    txn.put(keys::membership_head(), seq.to_be_bytes().to_vec());
    Ok(())
}

impl CatalogueReader {
    /// The sequence of the last change logged (0: none ever).
    pub fn membership_head(&self) -> Result<u64, MetaError> {
        head(self.get_raw(&keys::membership_head())?)
    }

    /// The changes logged after sequence `after`, at most `limit`
    /// (1..=[`RETAINED`]).
    pub fn membership_changes(
        &self,
        after: u64,
        limit: usize,
    ) -> Result<MembershipChanges, MetaError> {
        let limit = limit.clamp(1, RETAINED as usize);
        let head = self.membership_head()?;
        let mut out = MembershipChanges {
            head,
            complete: true,
            changes: Vec::new(),
        };
        if after >= head {
            return Ok(out);
        }
        let prefix = [keys::MEMBERSHIP];
        let start = keys::membership_change(after + 1);
        let mut expected = after + 1;
        self.scan(&prefix, &start, |k, v| {
            let seq = k
                .get(1..)
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                .map(u64::from_be_bytes)
                .ok_or_else(|| MetaError::Corrupt {
                    key: keys::describe(k),
                    message: "a membership log key that does not parse".into(),
                })?;
            if seq != expected {
                // The entries the reader needed are gone.
                out.complete = false;
                return Ok(false);
            }
            expected += 1;
            let e: pb::MembershipChange = super::apply::decode(k, v)?;
            out.changes.push(MembershipChange {
                seq,
                dataset: e.dataset,
                files: e.files.into_iter().map(|f| (f.bucket, f.key)).collect(),
                rules: e
                    .rules
                    .into_iter()
                    .map(|r| MemberRule {
                        bucket: r.bucket,
                        prefix: r.prefix,
                    })
                    .collect(),
            });
            Ok(out.changes.len() < limit)
        })?;
        if out.changes.is_empty() && out.complete {
            // Nothing found after `after` although the head is beyond it.
            out.complete = false;
        }
        Ok(out)
    }
}
