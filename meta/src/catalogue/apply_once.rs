//! Exactly-once application of retried commands.
//!
//! A client that retries a write (after a timeout or a change of leader)
//! sends the same `request_id`. The state machine remembers the outcome of
//! each id for [`WINDOW`] log entries and answers a repeat with it instead of
//! applying the command again. Expiry is keyed by log index, so every
//! replica forgets the same ids at the same point.

use meridian_proto::v1::Command;
use prost::Message;

use super::apply::apply;
use super::keys;
use super::txn::Txn;
use crate::types::Outcome;
use crate::MetaError;

/// How many log entries an outcome is remembered for. A retry comes within
/// seconds; with group commit an entry carries tens of commands, so at
/// 50,000 writes a second this is about ten minutes.
pub const WINDOW: u64 = 1_000_000;
/// Expired ids forgotten per batch, so that expiry never makes one apply slow.
const EXPIRE_PER_BATCH: usize = 4096;
/// Longest accepted request id.
const MAX_ID_BYTES: usize = 64;

/// The first 16 bytes of the command's BLAKE3: what is remembered of the
/// command besides its outcome, so that an id reused for a different
/// command is refused rather than answered with another command's outcome.
fn digest(cmd: &Command) -> [u8; 16] {
    let h = blake3::hash(&cmd.encode_to_vec());
    let mut d = [0u8; 16];
    d.copy_from_slice(&h.as_bytes()[..16]);
    d
}

/// Applies `cmd` at log `index` unless its request id was seen in the window.
pub fn apply_once(txn: &mut Txn<'_>, index: u64, cmd: &Command) -> Result<Outcome, MetaError> {
    let id = cmd.request_id.as_slice();
    if id.is_empty() || id.len() > MAX_ID_BYTES {
        return apply(txn, cmd);
    }
    let seen_key = keys::request(id);
    let digest = digest(cmd);
    let stored = txn.get(&seen_key)?;
    let seen = match &stored {
        Some(v) => Some(Seen::parse(v).ok_or_else(|| MetaError::Corrupt {
            key: format!("request {}", hex::encode(id)),
            message: "request record does not parse".into(),
        })?),
        None => None,
    };
    // Whether an id is remembered depends only on the log indexes, never
    // on when this replica got round to cleaning up: every replica answers
    // a retry the same way.
    if let Some(seen) = seen.filter(|s| s.at.is_none_or(|at| index - at.min(index) < WINDOW)) {
        if seen.digest != digest {
            return Ok(Outcome::Rejected {
                code: crate::OutcomeCode::Invalid,
                message: format!(
                    "request id {} was used for another command",
                    hex::encode(id)
                ),
            });
        }
        return serde_json::from_slice(seen.outcome).map_err(|e| MetaError::Corrupt {
            key: format!("request {}", hex::encode(id)),
            message: e.to_string(),
        });
    }
    let outcome = apply(txn, cmd)?;
    let mut bytes = digest.to_vec();
    bytes.push(AT_INDEX);
    bytes.extend_from_slice(&index.to_be_bytes());
    serde_json::to_writer(&mut bytes, &outcome).map_err(|e| MetaError::Raft(e.to_string()))?;
    txn.put(seen_key, bytes);
    let expiry = keys::request_expiry(index);
    let mut ids = txn.get(&expiry)?.unwrap_or_default();
    // MAX_ID_BYTES fits the length byte.
    ids.push(id.len() as u8);
    ids.extend_from_slice(id);
    txn.put(expiry, ids);
    Ok(outcome)
}

/// Marks a request record that carries the log index it was applied at
/// (records written before carry none: their outcome's JSON starts at byte
/// 16 with `"` or `{`).
const AT_INDEX: u8 = 0x01;

/// A request record: 16 bytes of digest, optionally [`AT_INDEX`] and the
/// log index (u64 BE), then the outcome as JSON.
struct Seen<'a> {
    digest: &'a [u8],
    at: Option<u64>,
    outcome: &'a [u8],
}

impl<'a> Seen<'a> {
    fn parse(v: &'a [u8]) -> Option<Self> {
        let (digest, rest) = v.split_at_checked(16)?;
        match rest.split_first() {
            Some((&AT_INDEX, rest)) => {
                let (at, outcome) = rest.split_at_checked(8)?;
                Some(Seen {
                    digest,
                    at: Some(u64::from_be_bytes(at.try_into().ok()?)),
                    outcome,
                })
            }
            _ => Some(Seen {
                digest,
                at: None,
                outcome: rest,
            }),
        }
    }
}

/// The ids listed in a per-entry expiry value; `None` if it does not parse.
fn listed_ids(mut v: &[u8]) -> Option<Vec<&[u8]>> {
    let mut out = Vec::new();
    while let Some((&n, rest)) = v.split_first() {
        let (id, rest) = rest.split_at_checked(n as usize)?;
        out.push(id);
        v = rest;
    }
    Some(out)
}

/// Deletes the records of ids applied more than [`WINDOW`] entries before
/// `index`, at most about [`EXPIRE_PER_BATCH`] per call. Only space depends
/// on it: whether an id is remembered is decided by indexes alone
/// (`apply_once`), so replicas that clean up at different moments still
/// answer alike.
pub fn expire_requests(txn: &mut Txn<'_>, index: u64) -> Result<(), MetaError> {
    let Some(horizon) = index.checked_sub(WINDOW) else {
        return Ok(());
    };
    let prefix = [keys::REQUEST_EXPIRY];
    let mut forgotten = 0usize;
    for k in txn.keys_with_prefix(&prefix, EXPIRE_PER_BATCH)? {
        let Some((at, old_id)) = keys::parse_request_expiry(&k) else {
            continue;
        };
        if at >= horizon || forgotten >= EXPIRE_PER_BATCH {
            break;
        }
        if old_id.is_empty() {
            let v = txn.get(&k)?.unwrap_or_default();
            let ids = listed_ids(&v).ok_or_else(|| MetaError::Corrupt {
                key: format!("request expiry at entry {at}"),
                message: "id list does not parse".into(),
            })?;
            for id in ids {
                // Only the record this entry made: an id applied again
                // after its window has a newer record, not this one's.
                let key = keys::request(id);
                let ours = match txn.get(&key)? {
                    Some(v) => Seen::parse(&v).is_none_or(|s| s.at.is_none_or(|a| a == at)),
                    None => false,
                };
                if ours {
                    txn.delete(key);
                }
                forgotten += 1;
            }
        } else {
            txn.delete(keys::request(old_id));
            forgotten += 1;
        }
        txn.delete(k.clone());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{open_db, CF_CATALOGUE};
    use meridian_proto::v1::command::Op;
    use meridian_proto::v1::CreateBucketCmd;

    fn create(name: &str, id: &[u8]) -> Command {
        Command {
            op: Some(Op::CreateBucket(CreateBucketCmd {
                name: name.into(),
                owner: "root".into(),
                ingest_site: 1,
                now_ms: 1,
                ..Default::default()
            })),
            request_id: id.to_vec(),
        }
    }

    #[test]
    fn ids_are_remembered_for_the_window_then_forgotten() {
        let dir = tempfile::tempdir().expect("tmp");
        let db = open_db(dir.path()).expect("db");
        let cf = db.cf_handle(CF_CATALOGUE).expect("cf");
        let mut txn = Txn::new(&db, cf);
        for (index, name) in [(1, "a"), (1, "b"), (2, "c")] {
            let id = format!("id-{name}");
            assert_eq!(
                apply_once(&mut txn, index, &create(name, id.as_bytes())).expect("apply"),
                Outcome::Done
            );
        }
        // An expiry key in the per-command layout of earlier versions.
        let mut old = keys::request_expiry(0);
        old.extend_from_slice(b"id-old");
        txn.put(old.clone(), Vec::new());
        txn.put(keys::request(b"id-old"), vec![0; 16]);

        // A retry inside the window gets the first outcome, not a refusal
        // for an existing bucket.
        assert_eq!(
            apply_once(&mut txn, 5, &create("a", b"id-a")).expect("retry"),
            Outcome::Done
        );
        expire_requests(&mut txn, WINDOW + 2).expect("expire");
        for gone in [&b"id-a"[..], b"id-b", b"id-old"] {
            assert!(txn.get(&keys::request(gone)).expect("get").is_none());
        }
        assert!(txn.get(&old).expect("get").is_none());
        assert!(txn.get(&keys::request(b"id-c")).expect("get").is_some());
        assert!(txn.get(&keys::request_expiry(2)).expect("get").is_some());
        // Forgotten: the same id now applies again (and is refused on its merits).
        assert!(matches!(
            apply_once(&mut txn, WINDOW + 3, &create("a", b"id-a")).expect("apply"),
            Outcome::Rejected { .. }
        ));
    }

    #[test]
    fn the_window_is_decided_by_indexes_not_by_cleanup() {
        let dir = tempfile::tempdir().expect("tmp");
        let db = open_db(dir.path()).expect("db");
        let cf = db.cf_handle(CF_CATALOGUE).expect("cf");
        let mut txn = Txn::new(&db, cf);
        apply_once(&mut txn, 1, &create("a", b"id-a")).expect("apply");
        // Past the window and not cleaned up yet: applied again, as a
        // replica that did clean up would.
        assert!(matches!(
            apply_once(&mut txn, WINDOW + 1, &create("a", b"id-a")).expect("apply"),
            Outcome::Rejected { .. }
        ));
        // Cleaning up entry 1 later keeps the newer record.
        expire_requests(&mut txn, WINDOW + 5).expect("expire");
        assert!(txn.get(&keys::request(b"id-a")).expect("get").is_some());
        assert!(txn.get(&keys::request_expiry(1)).expect("get").is_none());
        // And the retry of the newer one is answered from it.
        assert!(matches!(
            apply_once(&mut txn, WINDOW + 6, &create("a", b"id-a")).expect("retry"),
            Outcome::Rejected { .. }
        ));
    }

    #[test]
    fn records_written_before_the_index_was_kept_are_still_answered() {
        let dir = tempfile::tempdir().expect("tmp");
        let db = open_db(dir.path()).expect("db");
        let cf = db.cf_handle(CF_CATALOGUE).expect("cf");
        let mut txn = Txn::new(&db, cf);
        // Applied now, deleting a bucket that does not exist is refused;
        // the earlier layout's record (digest, then the JSON outcome) says
        // it was done, and that is the answer a retry must get.
        let cmd = Command {
            op: Some(Op::DeleteBucket(meridian_proto::v1::DeleteBucketCmd {
                name: "gone".into(),
                ..Default::default()
            })),
            request_id: b"id-gone".to_vec(),
        };
        let mut old = digest(&cmd).to_vec();
        old.extend_from_slice(b"\"Done\"");
        txn.put(keys::request(b"id-gone"), old);
        assert_eq!(
            apply_once(&mut txn, 10, &cmd).expect("retry"),
            Outcome::Done
        );
    }

    #[test]
    fn a_garbled_id_list_is_reported() {
        let dir = tempfile::tempdir().expect("tmp");
        let db = open_db(dir.path()).expect("db");
        let cf = db.cf_handle(CF_CATALOGUE).expect("cf");
        let mut txn = Txn::new(&db, cf);
        txn.put(keys::request_expiry(1), vec![40, b'x']);
        assert!(matches!(
            expire_requests(&mut txn, WINDOW + 2),
            Err(MetaError::Corrupt { .. })
        ));
    }
}
