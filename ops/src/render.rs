//! Tables for people, JSON for scripts.

use meridian_proto::v1::{
    BucketsResponse, MetaMembersResponse, ObjectExplanation, ObjectInfo, StatusResponse,
};
use serde_json::{json, Value};

pub fn status_error(s: tonic::Status) -> anyhow::Error {
    anyhow::anyhow!("{}: {}", s.code(), s.message())
}

pub use meridian_core::units::human_bytes;

pub(crate) fn bps(n: u64) -> String {
    if n >= 1_000_000_000 {
        format!("{:.1} Gb/s", n as f64 / 1e9)
    } else if n >= 1_000_000 {
        format!("{:.1} Mb/s", n as f64 / 1e6)
    } else {
        format!("{:.1} kb/s", n as f64 / 1e3)
    }
}

/// Left-aligned columns, widths from the widest cell.
pub(crate) fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut w: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if i < w.len() {
                w[i] = w[i].max(c.chars().count());
            }
        }
    }
    let line = |cells: Vec<String>| -> String {
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<width$}", width = w.get(i).copied().unwrap_or(0)))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    let mut out = vec![line(header.iter().map(|s| s.to_string()).collect())];
    out.extend(rows.iter().map(|r| line(r.clone())));
    out.join("\n")
}

pub fn status_json(s: &StatusResponse) -> Value {
    let raft = s.raft.clone().unwrap_or_default();
    let lc = s.lifecycle.unwrap_or_default();
    let rep = s.replication.unwrap_or_default();
    let clock = s.clock.unwrap_or_default();
    json!({
        "clock": { "now_ms": clock.now_ms, "advanced_ms": clock.advanced_ms },
        "replication": {
            "running": rep.running, "completed": rep.completed, "failed_attempts": rep.failed_attempts,
            "bytes_copied": rep.bytes_copied, "waiting_retry": rep.waiting_retry,
        },
        "objects": s.objects,
        "bytes": s.bytes,
        "abandoned_uploads_aborted": s.abandoned_uploads_aborted,
        "datasets_closed_idle": s.datasets_closed_idle,
        "lifecycle": {
            "passes": lc.passes, "expired": lc.expired, "noncurrent_removed": lc.noncurrent_removed,
            "markers_removed": lc.markers_removed, "uploads_aborted": lc.uploads_aborted,
        },
        "access_log": s.access_log.map(|a| json!({
            "events_written": a.events_written, "events_dropped": a.events_dropped,
            "events_shipped": a.events_shipped, "shipments": a.shipments,
            "behind_bytes": a.behind_bytes, "last_ship_ms": a.last_ship_ms,
            "bad_lines": a.bad_lines, "segments_removed": a.segments_removed,
        })),
        "raft": {
            "node_id": raft.node_id, "leader": raft.leader, "term": raft.term,
            "applied_index": raft.applied_index, "last_log_index": raft.last_log_index,
            "snapshot_index": raft.snapshot_index, "state": raft.state,
        },
        "sites": s.sites.iter().map(|x| json!({
            "name": x.name, "role": x.role, "s3_endpoint": x.s3_endpoint,
            "objects": x.objects, "bytes": x.bytes,
            "pending_objects": x.pending_objects, "pending_bytes": x.pending_bytes,
            "reclaimable_chunks": x.reclaimable_chunks, "reclaimable_bytes": x.reclaimable_bytes,
            "reclaimed_chunks": x.reclaimed_chunks, "reclaimed_bytes": x.reclaimed_bytes,
            "gc_passes": x.gc_passes,
            "damaged_replicas": x.damaged_replicas, "damaged_bytes": x.damaged_bytes,
            "scrub_pass": x.scrub_pass, "scrub_percent": x.scrub_percent,
            "last_audit": x.last_audit.as_ref().map(crate::integrity::report_json),
        })).collect::<Vec<_>>(),
        "links": s.links.iter().map(|l| json!({
            "from": l.from, "to": l.to, "bandwidth_bps": l.bandwidth_bps, "effective_bps": l.effective_bps,
            "backlog_chunks": l.backlog_chunks, "backlog_bytes": l.backlog_bytes,
            "transferred_bytes": l.transferred_bytes,
        })).collect::<Vec<_>>(),
    })
}

pub fn status_table(s: &StatusResponse) -> String {
    let raft = s.raft.clone().unwrap_or_default();
    let lc = s.lifecycle.unwrap_or_default();
    let rep = s.replication.unwrap_or_default();
    let mut out = format!(
        "Raft: node {} {} (leader {}), term {}, applied {}, last log {}, snapshot at {}\nCatalogue: {} objects, {}\nReplication: {} copying, {} completed, {} failed attempts ({} waiting to retry), {} copied\nAbandoned multipart uploads aborted by this node: {}\nLifecycle (this node): {} passes, {} expired, {} noncurrent removed, {} delete markers removed, {} uploads aborted\n\n",
        raft.node_id,
        raft.state,
        raft.leader,
        raft.term,
        raft.applied_index,
        raft.last_log_index,
        raft.snapshot_index,
        s.objects,
        human_bytes(s.bytes),
        rep.running,
        rep.completed,
        rep.failed_attempts,
        rep.waiting_retry,
        human_bytes(rep.bytes_copied),
        s.abandoned_uploads_aborted,
        lc.passes,
        lc.expired,
        lc.noncurrent_removed,
        lc.markers_removed,
        lc.uploads_aborted
    );
    if s.datasets_closed_idle > 0 {
        out.insert_str(
            out.len() - 1,
            &format!(
                "Facility datasets closed when their run went idle: {}\n",
                s.datasets_closed_idle
            ),
        );
    }
    if let Some(a) = s.access_log {
        out.insert_str(
            out.len() - 1,
            &format!(
                "Access log (this node): {} written, {} dropped, {} shipped in {} shipments, {} behind\n",
                a.events_written,
                a.events_dropped,
                a.events_shipped,
                a.shipments,
                human_bytes(a.behind_bytes)
            ),
        );
    }
    let rows: Vec<Vec<String>> = s
        .sites
        .iter()
        .map(|x| {
            vec![
                x.name.clone(),
                x.role.clone(),
                x.objects.to_string(),
                human_bytes(x.bytes),
                x.pending_objects.to_string(),
                human_bytes(x.pending_bytes),
                format!(
                    "{} ({} chunks)",
                    human_bytes(x.reclaimable_bytes),
                    x.reclaimable_chunks
                ),
                human_bytes(x.reclaimed_bytes),
                x.damaged_replicas.to_string(),
                if x.scrub_pass == 0 {
                    "-".into()
                } else {
                    format!("pass {} {:.0}%", x.scrub_pass, x.scrub_percent)
                },
                x.last_audit.as_ref().map_or("-".into(), |a| {
                    format!(
                        "lost {}, dark {}, uncounted {}{}",
                        a.lost_chunks,
                        a.dark_chunks,
                        a.legacy_refs,
                        if a.error.is_empty() { "" } else { " (stopped)" }
                    )
                }),
                x.s3_endpoint.clone(),
            ]
        })
        .collect();
    out += &table(
        &[
            "SITE",
            "ROLE",
            "OBJECTS",
            "BYTES",
            "PENDING",
            "PENDING BYTES",
            "TO RECLAIM",
            "RECLAIMED",
            "DAMAGED",
            "SCRUB",
            "LAST AUDIT",
            "S3",
        ],
        &rows,
    );
    out += "\n\n";
    let rows: Vec<Vec<String>> = s
        .links
        .iter()
        .map(|l| {
            vec![
                format!("{} -> {}", l.from, l.to),
                bps(l.bandwidth_bps),
                bps(l.effective_bps),
                l.backlog_chunks.to_string(),
                human_bytes(l.backlog_bytes),
                human_bytes(l.transferred_bytes),
            ]
        })
        .collect();
    out += &table(
        &[
            "LINK",
            "BANDWIDTH",
            "EMULATED",
            "BACKLOG CHUNKS",
            "BACKLOG",
            "TRANSFERRED",
        ],
        &rows,
    );
    out
}

pub fn buckets_json(b: &BucketsResponse) -> Value {
    json!({"buckets": b.buckets.iter().map(|x| json!({
        "name": x.name, "owner": x.owner, "site": x.site, "created_ms": x.created_ms,
        "objects": x.objects, "bytes": x.bytes,
    })).collect::<Vec<_>>()})
}

pub fn buckets_table(b: &BucketsResponse) -> String {
    let rows: Vec<Vec<String>> = b
        .buckets
        .iter()
        .map(|x| {
            vec![
                x.name.clone(),
                x.site.clone(),
                x.owner.clone(),
                x.objects.to_string(),
                human_bytes(x.bytes),
            ]
        })
        .collect();
    table(&["BUCKET", "SITE", "OWNER", "OBJECTS", "BYTES"], &rows)
}

pub fn members_json(m: &MetaMembersResponse) -> Value {
    json!({
        "last_log_index": m.last_log_index,
        "members": m.members.iter().map(|x| json!({
            "id": x.id, "addr": x.addr, "role": x.role, "leader": x.leader,
            "matched_index": x.matched_index,
        })).collect::<Vec<_>>(),
    })
}

pub fn members_table(m: &MetaMembersResponse) -> String {
    let rows: Vec<Vec<String>> = m
        .members
        .iter()
        .map(|x| {
            vec![
                x.id.to_string(),
                x.addr.clone(),
                format!("{}{}", x.role, if x.leader { " (leader)" } else { "" }),
                x.matched_index.to_string(),
                m.last_log_index.saturating_sub(x.matched_index).to_string(),
            ]
        })
        .collect();
    table(&["ID", "ADDRESS", "ROLE", "MATCHED", "BEHIND"], &rows)
}

pub fn object_json(o: &ObjectInfo) -> Value {
    json!({
        "bucket": o.bucket, "key": o.key, "size": o.size, "blake3": o.blake3, "etag": o.etag,
        "content_type": o.content_type, "user_meta": o.user_meta, "chunk_count": o.chunk_count,
        "chunk_size": o.chunk_size, "created_ms": o.created_ms, "ingest_site": o.ingest_site,
        "policy": o.policy, "version_id": o.version_id,
        "replicas": o.replicas.iter().map(|r| json!({
            "site": r.site, "state": r.state, "verified_at_ms": r.verified_at_ms,
        })).collect::<Vec<_>>(),
    })
}

pub fn explain_json(e: &ObjectExplanation) -> Value {
    json!({
        "bucket": e.bucket, "key": e.key, "rule": e.rule, "recorded_rule": e.recorded_rule,
        "ingest_site": e.ingest_site,
        "sites": e.sites.iter().map(|s| json!({
            "site": s.site, "reason": s.reason, "state": s.state,
            "recorded_reason": s.recorded_reason,
        })).collect::<Vec<_>>(),
    })
}

pub fn explain_table(e: &ObjectExplanation) -> String {
    let mut out = format!(
        "{}/{}\n  rule     {}{}\n  ingest   {}\n\n",
        e.bucket,
        e.key,
        e.rule,
        if e.recorded_rule != e.rule {
            format!(" (written under {})", e.recorded_rule)
        } else {
            String::new()
        },
        e.ingest_site
    );
    let rows: Vec<Vec<String>> = e
        .sites
        .iter()
        .map(|s| {
            vec![
                s.site.clone(),
                s.state.clone(),
                s.recorded_reason.clone(),
                s.reason.clone(),
            ]
        })
        .collect();
    out.push_str(&table(&["SITE", "REPLICA", "CHOSEN AS", "TODAY"], &rows));
    out
}

pub fn object_table(o: &ObjectInfo) -> String {
    let mut out = format!(
        "{}/{}\n  size     {} ({})\n  blake3   {}\n  etag     {}\n  type     {}\n  chunks   {} of {}\n  ingest   {}\n  policy   {}\n",
        o.bucket,
        o.key,
        o.size,
        human_bytes(o.size),
        o.blake3,
        o.etag,
        o.content_type,
        o.chunk_count,
        human_bytes(u64::from(o.chunk_size)),
        o.ingest_site,
        o.policy
    );
    for (k, v) in &o.user_meta {
        out += &format!("  meta     {k}: {v}\n");
    }
    out += "\n";
    let rows: Vec<Vec<String>> = o
        .replicas
        .iter()
        .map(|r| vec![r.site.clone(), r.state.clone()])
        .collect();
    out += &table(&["SITE", "STATE"], &rows);
    out
}

pub fn audit_json(a: &meridian_proto::v1::AuditTailResponse) -> Value {
    json!(a
        .events
        .iter()
        .map(
            |e| json!({"time_ms": e.time_ms, "who": e.who, "credential": e.credential,
            "from": e.from, "port": e.port, "method": e.method, "resource": e.resource,
            "outcome": e.outcome})
        )
        .collect::<Vec<_>>())
}

pub fn audit_table(a: &meridian_proto::v1::AuditTailResponse) -> String {
    let rows: Vec<Vec<String>> = a
        .events
        .iter()
        .map(|e| {
            vec![
                e.time_ms.to_string(),
                e.who.clone(),
                e.credential.clone(),
                e.from.clone(),
                e.port.clone(),
                e.method.rsplit('/').next().unwrap_or_default().to_string(),
                e.resource.clone(),
                e.outcome.clone(),
            ]
        })
        .collect();
    table(
        &[
            "TIME MS",
            "WHO",
            "CREDENTIAL",
            "FROM",
            "PORT",
            "METHOD",
            "RESOURCE",
            "OUTCOME",
        ],
        &rows,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use meridian_proto::v1::ReplicaInfo;

    #[test]
    fn object_json_has_replica_list() {
        let o = ObjectInfo {
            bucket: "b".into(),
            key: "k".into(),
            replicas: vec![ReplicaInfo {
                site: "Jiangmen".into(),
                state: "complete".into(),
                verified_at_ms: 1,
            }],
            ..Default::default()
        };
        let v = object_json(&o);
        assert_eq!(v["replicas"][0]["site"], "Jiangmen");
        assert_eq!(v["replicas"][0]["state"], "complete");
    }

    #[test]
    fn bytes_for_people() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(100 << 20), "100.0 MiB");
    }
}
