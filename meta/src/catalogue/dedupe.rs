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
    if let Some(v) = txn.get(&seen_key)? {
        let corrupt = |message: String| MetaError::Corrupt {
            key: format!("request {}", hex::encode(id)),
            message,
        };
        // Value: 16 bytes of digest, then the outcome as JSON.
        let (seen_digest, outcome) = v
            .split_at_checked(16)
            .ok_or_else(|| corrupt("shorter than its digest".into()))?;
        if seen_digest != digest {
            return Ok(Outcome::Rejected {
                code: crate::OutcomeCode::Invalid,
                message: format!(
                    "request id {} was used for another command",
                    hex::encode(id)
                ),
            });
        }
        return serde_json::from_slice(outcome).map_err(|e| corrupt(e.to_string()));
    }
    let outcome = apply(txn, cmd)?;
    let mut bytes = digest.to_vec();
    serde_json::to_writer(&mut bytes, &outcome).map_err(|e| MetaError::Raft(e.to_string()))?;
    txn.put(seen_key, bytes);
    txn.put(keys::request_expiry(index, id), Vec::new());
    Ok(outcome)
}

/// Forgets ids recorded more than [`WINDOW`] entries before `index`.
pub fn expire(txn: &mut Txn<'_>, index: u64) -> Result<(), MetaError> {
    let Some(horizon) = index.checked_sub(WINDOW) else {
        return Ok(());
    };
    let prefix = [keys::REQUEST_EXPIRY];
    for k in txn.keys_with_prefix(&prefix, EXPIRE_PER_BATCH)? {
        let Some((at, id)) = keys::parse_request_expiry(&k) else {
            continue;
        };
        if at >= horizon {
            break;
        }
        txn.delete(keys::request(id));
        txn.delete(k.clone());
    }
    Ok(())
}
