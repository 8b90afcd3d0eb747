//! Commands built from the domain's values, for callers that would
//! otherwise spell the log's encoding (protobuf enum numbers) themselves.

use meridian_core::records::ReplicaState;
use meridian_proto::v1::command::Op;
use meridian_proto::v1::{Command, SetReplicaStateCmd};

use crate::records::state_to;
use crate::types::command;

/// Moves `site`'s replica of one version of `bucket/key` to `state`. The
/// state machine rejects a move states do not make (Invalid) and answers
/// `Stale` once that version is no longer current.
pub fn set_replica_state(
    bucket: &str,
    key: &str,
    version_id: &str,
    site: u32,
    state: ReplicaState,
    now_ms: i64,
) -> Command {
    command(Op::SetReplicaState(SetReplicaStateCmd {
        bucket: bucket.to_string(),
        key: key.to_string(),
        version_id: version_id.to_string(),
        site,
        state: state_to(state) as i32,
        now_ms,
    }))
}
