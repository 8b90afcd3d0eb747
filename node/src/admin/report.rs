//! What the admin API reports about replication and policy.

use std::sync::atomic::Ordering;

use meridian_placement::{Policy, Topology};
use meridian_proto::v1::{
    LinkReplication, PolicyReport, PolicyRule, ReplicationReport, ReplicationRound,
    ReplicationStatus, SiteReplication,
};
use tonic::Status;

use super::AdminApi;

/// Pending entries per site looked at for the lag.
const LAG_SAMPLE: usize = 256;

pub(crate) async fn replication(admin: &AdminApi) -> Result<ReplicationReport, Status> {
    let reader = admin
        .meta
        .read_barrier()
        .await
        .map_err(|e| Status::unavailable(e.to_string()))?;
    let topo = admin.data.topology();
    let now = admin.data.clock().now_ms();
    let internal = |e: meridian_meta::MetaError| Status::internal(e.to_string());
    let mut sites = Vec::new();
    for s in topo.sites() {
        let pending = reader.pending_counter(s.id.0).map_err(internal)?;
        let mut oldest = now;
        for p in reader.pending(s.id.0, None, LAG_SAMPLE).map_err(internal)? {
            if let Some(rec) = reader.object(p.bucket_id, &p.key).map_err(internal)? {
                oldest = oldest.min(rec.created_ms);
            }
        }
        sites.push(SiteReplication {
            name: s.name.clone(),
            pending_replicas: pending.objects,
            pending_bytes: pending.bytes,
            lag_s: (now - oldest).max(0) as f64 / 1000.0,
        });
    }
    let job = &admin.replicator;
    let progress = job.progress();
    let elapsed_s = progress
        .as_ref()
        .map(|p| {
            let end = if p.active { now } else { p.finished_ms };
            (end - p.started_ms).max(1) as f64 / 1000.0
        })
        .unwrap_or(0.0);
    let links = admin
        .data
        .links()
        .all()
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let share = progress.as_ref().and_then(|p| p.links.get(i));
            let (round_bytes, done) = share.map_or((0, 0), |s| (s.planned_bytes, s.done_bytes));
            let throughput_bps = if elapsed_s > 0.0 {
                done as f64 * 8.0 / elapsed_s
            } else {
                0.0
            };
            let left = round_bytes.saturating_sub(done) as f64 * 8.0;
            let eta_s = if left == 0.0 {
                0.0
            } else if throughput_bps > 0.0 {
                left / throughput_bps
            } else {
                left / (l.bucket.bytes_per_s() * 8.0)
            };
            LinkReplication {
                from: topo.name(l.link.from),
                to: topo.name(l.link.to),
                effective_bps: (l.bucket.bytes_per_s() * 8.0) as u64,
                round_bytes,
                round_bytes_done: done,
                throughput_bps,
                eta_s,
                in_flight_bytes: l.backlog_bytes.load(Ordering::Relaxed),
            }
        })
        .collect();
    let stats = job.stats();
    Ok(ReplicationReport {
        round: progress.map(|p| ReplicationRound {
            round: p.round,
            active: p.active,
            started_ms: p.started_ms,
            finished_ms: p.finished_ms,
            replicas: p.replicas,
            replicas_done: p.replicas_done,
            bytes: p.bytes,
            bytes_done: p.bytes_done,
            plan_s: p.plan_s,
            lower_bound_s: p.lower_bound_s,
            deadlines_admitted: p.deadlines_admitted,
            deadlines_infeasible: p.deadlines_infeasible,
        }),
        links,
        sites,
        totals: Some(ReplicationStatus {
            running: stats.running.load(Ordering::Relaxed),
            completed: stats.completed.load(Ordering::Relaxed),
            failed_attempts: stats.failures.load(Ordering::Relaxed),
            bytes_copied: stats.bytes_copied.load(Ordering::Relaxed),
            waiting_retry: job.waiting_retry(),
        }),
        deadline_misses: stats.deadline_misses.load(Ordering::Relaxed),
    })
}

pub(crate) fn policy(topo: &Topology, policy: &Policy) -> PolicyReport {
    PolicyReport {
        origin: policy.origin().to_string(),
        drained: policy.drained().iter().map(|s| topo.name(*s)).collect(),
        source: policy.source().to_string(),
        rules: policy
            .rules()
            .map(|r| {
                let mut matches = Vec::new();
                if let Some(b) = &r.bucket {
                    matches.push(format!("bucket={b}"));
                }
                if let Some(p) = &r.prefix {
                    matches.push(format!("prefix={p}"));
                }
                for (k, v) in &r.metadata {
                    matches.push(format!("{k}={v}"));
                }
                PolicyRule {
                    name: r.name.clone(),
                    matches: if matches.is_empty() {
                        "*".to_string()
                    } else {
                        matches.join(" ")
                    },
                    copies: r.copies,
                    ack: r.ack,
                    priority: u32::from(r.priority),
                    within_s: r.within_s.unwrap_or(0),
                    lifetime_s: r.lifetime_s.unwrap_or(0),
                    sites: r.sites.as_ref().map(|(t, _)| t.clone()).unwrap_or_default(),
                    prefer: r.prefer.iter().map(|s| topo.name(*s)).collect(),
                }
            })
            .collect(),
    }
}
