//! `policy apply` and `site drain`: preview the change, and carry it out by
//! storing the new policy through Raft and starting the reconciler.

use std::collections::BTreeSet;

use meridian_placement::SiteId;
use meridian_proto::v1::command::Op;
use meridian_proto::v1::{PolicyChangeReport, SetPolicyCmd};
use tonic::Status;

use super::AdminApi;
use crate::jobs::reconcile::{preview, PREVIEW_LIMIT};

/// Longest policy file accepted.
const MAX_POLICY_BYTES: usize = 1 << 20;

/// A new policy text (with its origin) and/or a site to drain (true) or
/// stop draining (false).
pub(crate) async fn change(
    admin: &AdminApi,
    text: Option<(String, String)>,
    drain: Option<(String, bool)>,
    dry_run: bool,
) -> Result<PolicyChangeReport, Status> {
    let reader = admin
        .meta
        .read_barrier()
        .await
        .map_err(|e| Status::unavailable(e.to_string()))?;
    let (_, current) = admin.policy.current(&reader);
    let topo = admin.data.topology();
    let mut drained: BTreeSet<SiteId> = current.drained().clone();
    if let Some((name, on)) = &drain {
        let site = topo
            .site_by_name(name)
            .ok_or_else(|| Status::not_found(format!("no site named {name:?}")))?
            .id;
        if *on {
            drained.insert(site);
        } else {
            drained.remove(&site);
        }
    }
    let (text, origin) =
        text.unwrap_or_else(|| (current.source().to_string(), current.origin().to_string()));
    if text.len() > MAX_POLICY_BYTES {
        return Err(Status::invalid_argument(format!(
            "a policy file is at most {MAX_POLICY_BYTES} bytes"
        )));
    }
    let drained_ids: Vec<u32> = drained.iter().map(|s| s.0).collect();
    let next = admin
        .policy
        .parse(&text, &origin, &drained_ids)
        .map_err(|e| Status::invalid_argument(e.to_string()))?;
    let data = admin.data.clone();
    let scan_reader = reader.clone();
    let mut report =
        tokio::task::spawn_blocking(move || preview(&scan_reader, &data, &next, PREVIEW_LIMIT))
            .await
            .map_err(|e| Status::internal(e.to_string()))?
            .map_err(|e| Status::internal(e.to_string()))?;
    if dry_run {
        return Ok(report);
    }
    let cmd = meridian_meta::command(Op::SetPolicy(SetPolicyCmd {
        text,
        origin,
        drained: drained_ids,
        now_ms: admin.data.clock().now_ms(),
    }));
    match admin.meta.write_one(cmd).await {
        Ok(meridian_meta::Outcome::Done) => {}
        Ok(other) => return Err(Status::failed_precondition(format!("{other:?}"))),
        Err(e) => return Err(Status::unavailable(e.to_string())),
    }
    report.applied = true;
    report.policy_version = admin
        .meta
        .reader()
        .policy()
        .ok()
        .flatten()
        .map_or(0, |p| p.version);
    admin.reconciler.kick();
    Ok(report)
}
