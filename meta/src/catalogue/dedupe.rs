//! Exactly-once application of retried commands.
//!
//! A client that retries a write (after a timeout or a change of leader)
//! sends the same `request_id`. The state machine remembers the outcome of
//! each id for [`WINDOW`] log entries and answers a repeat with it instead of
//! applying the command again. Expiry is keyed by log index, so every
//! replica forgets the same ids at the same point.

use meridian_proto::v1::Command;
use prost::Message;
use serde::{Deserialize, Serialize};

use super::apply::apply;
use super::keys;
use super::txn::Txn;
use crate::types::Outcome;
use crate::MetaError;

/// How many log entries an outcome is remembered for. A retry comes within
/// seconds; at tens of thousands of entries per second this is minutes.
pub const WINDOW: u64 = 10_000_000;
/// Expired ids forgotten per batch, so that expiry never makes one apply slow.
const EXPIRE_PER_BATCH: usize = 4096;
/// Longest accepted request id.
const MAX_ID_BYTES: usize = 64;

/// What is remembered of a request: the outcome, and a digest of the
/// command, so that an id reused for a different command is refused rather
/// than silently answered with another command's outcome.
#[derive(Serialize, Deserialize)]
struct Seen {
    digest: String,
    outcome: Outcome,
}

fn digest(cmd: &Command) -> String {
    blake3::hash(&cmd.encode_to_vec()).to_hex().to_string()
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
        let seen: Seen = serde_json::from_slice(&v).map_err(|e| MetaError::Corrupt {
            key: format!("request {}", hex::encode(id)),
            message: e.to_string(),
        })?;
        if seen.digest != digest {
            return Ok(Outcome::Rejected {
                code: crate::OutcomeCode::Invalid,
                message: format!(
                    "request id {} was used for another command",
                    hex::encode(id)
                ),
            });
        }
        return Ok(seen.outcome);
    }
    let outcome = apply(txn, cmd)?;
    let seen = Seen {
        digest,
        outcome: outcome.clone(),
    };
    let bytes = serde_json::to_vec(&seen).map_err(|e| MetaError::Raft(e.to_string()))?;
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
