//! `meridianctl replication status` and `meridianctl policy show`.

use std::io::IsTerminal;

use meridian_proto::v1::{PolicyChangeReport, PolicyReport, ReplicationReport};
use serde_json::{json, Value};

use crate::render::{bps, human_bytes, table};

/// `[#####-----]  50%`: a bar on a terminal, the percentage elsewhere.
pub(crate) fn progress(done: u64, total: u64, bar: bool) -> String {
    let frac = if total == 0 {
        1.0
    } else {
        (done as f64 / total as f64).clamp(0.0, 1.0)
    };
    let pct = format!("{:>3.0}%", frac * 100.0);
    if !bar {
        return pct;
    }
    const WIDTH: usize = 20;
    let full = (frac * WIDTH as f64).round() as usize;
    format!("[{}{}] {pct}", "#".repeat(full), "-".repeat(WIDTH - full))
}

pub(crate) fn secs(s: f64) -> String {
    if !s.is_finite() {
        "-".to_string()
    } else if s < 120.0 {
        format!("{s:.1} s")
    } else if s < 7200.0 {
        format!("{:.1} min", s / 60.0)
    } else {
        format!("{:.1} h", s / 3600.0)
    }
}

pub fn replication_json(r: &ReplicationReport) -> Value {
    json!({
        "round": r.round.as_ref().map(|p| json!({
            "round": p.round, "active": p.active, "started_ms": p.started_ms,
            "finished_ms": p.finished_ms, "replicas": p.replicas,
            "replicas_done": p.replicas_done, "bytes": p.bytes, "bytes_done": p.bytes_done,
            "plan_s": p.plan_s, "lower_bound_s": p.lower_bound_s,
            "deadlines_admitted": p.deadlines_admitted,
            "deadlines_infeasible": p.deadlines_infeasible,
        })),
        "links": r.links.iter().map(|l| json!({
            "from": l.from, "to": l.to, "effective_bps": l.effective_bps,
            "round_bytes": l.round_bytes, "round_bytes_done": l.round_bytes_done,
            "throughput_bps": l.throughput_bps, "eta_s": l.eta_s,
            "in_flight_bytes": l.in_flight_bytes,
        })).collect::<Vec<_>>(),
        "sites": r.sites.iter().map(|s| json!({
            "site": s.name, "pending_replicas": s.pending_replicas,
            "pending_bytes": s.pending_bytes, "lag_s": s.lag_s,
        })).collect::<Vec<_>>(),
        "totals": r.totals.as_ref().map(|t| json!({
            "running": t.running, "completed": t.completed,
            "failed_attempts": t.failed_attempts, "bytes_copied": t.bytes_copied,
            "waiting_retry": t.waiting_retry,
        })),
        "deadline_misses": r.deadline_misses,
    })
}

pub fn replication_table(r: &ReplicationReport) -> String {
    let bar = std::io::stdout().is_terminal();
    let mut out = String::new();
    match &r.round {
        Some(p) if p.round > 0 => {
            out.push_str(&format!(
                "round {} ({}): {} of {} replicas, {} of {}  {}\n  plan {}, lower bound {}; deadlines admitted {}, infeasible {}, missed {}\n\n",
                p.round,
                if p.active { "running" } else { "finished" },
                p.replicas_done,
                p.replicas,
                human_bytes(p.bytes_done),
                human_bytes(p.bytes),
                progress(p.bytes_done, p.bytes, bar),
                secs(p.plan_s),
                secs(p.lower_bound_s),
                p.deadlines_admitted,
                p.deadlines_infeasible,
                r.deadline_misses,
            ));
        }
        Some(_) => out.push_str("no replication round yet\n\n"),
        None => out.push_str("the replication job does not plan (naive baseline)\n\n"),
    }
    let links: Vec<Vec<String>> = r
        .links
        .iter()
        .filter(|l| l.round_bytes > 0 || l.in_flight_bytes > 0)
        .map(|l| {
            vec![
                format!("{} -> {}", l.from, l.to),
                bps(l.effective_bps),
                human_bytes(l.round_bytes.saturating_sub(l.round_bytes_done)),
                bps(l.throughput_bps as u64),
                secs(l.eta_s),
                progress(l.round_bytes_done, l.round_bytes, bar),
            ]
        })
        .collect();
    if links.is_empty() {
        out.push_str("no link carries replication traffic\n");
    } else {
        out.push_str(&table(
            &["LINK", "RATE", "BACKLOG", "THROUGHPUT", "ETA", "DONE"],
            &links,
        ));
        out.push('\n');
    }
    out.push('\n');
    let sites: Vec<Vec<String>> = r
        .sites
        .iter()
        .map(|s| {
            vec![
                s.name.clone(),
                s.pending_replicas.to_string(),
                human_bytes(s.pending_bytes),
                if s.pending_replicas == 0 {
                    "-".to_string()
                } else {
                    secs(s.lag_s)
                },
            ]
        })
        .collect();
    out.push_str(&table(&["SITE", "PENDING", "BYTES", "LAG"], &sites));
    out
}

pub fn policy_json(p: &PolicyReport) -> Value {
    json!({
        "origin": p.origin,
        "drained": p.drained,
        "rules": p.rules.iter().map(|r| json!({
            "name": r.name, "matches": r.matches, "copies": r.copies, "ack": r.ack,
            "priority": r.priority, "within_s": r.within_s, "lifetime_s": r.lifetime_s,
            "sites": r.sites, "prefer": r.prefer,
        })).collect::<Vec<_>>(),
        "source": p.source,
    })
}

pub fn policy_table(p: &PolicyReport) -> String {
    let opt = |s: u64| {
        if s == 0 {
            "-".to_string()
        } else {
            secs(s as f64)
        }
    };
    let rows: Vec<Vec<String>> = p
        .rules
        .iter()
        .map(|r| {
            vec![
                r.name.clone(),
                r.matches.clone(),
                r.copies.to_string(),
                r.ack.to_string(),
                r.priority.to_string(),
                opt(r.within_s),
                opt(r.lifetime_s),
                if r.sites.is_empty() {
                    "*".to_string()
                } else {
                    r.sites.clone()
                },
                r.prefer.join(","),
            ]
        })
        .collect();
    format!(
        "policy from {} (first matching rule wins){}\n\n{}",
        p.origin,
        if p.drained.is_empty() {
            String::new()
        } else {
            format!("; draining {}", p.drained.join(", "))
        },
        table(
            &["RULE", "MATCHES", "COPIES", "ACK", "PRIO", "WITHIN", "LIFETIME", "SITES", "PREFER"],
            &rows
        )
    )
}

pub fn change_json(r: &PolicyChangeReport) -> Value {
    json!({
        "applied": r.applied, "policy_version": r.policy_version,
        "objects_scanned": r.objects_scanned, "truncated": r.truncated,
        "objects_to_copy": r.objects_to_copy, "bytes_to_copy": r.bytes_to_copy,
        "objects_to_drop": r.objects_to_drop, "bytes_to_drop": r.bytes_to_drop,
        "blocked": r.blocked, "eta_s": r.eta_s, "lower_bound_s": r.lower_bound_s,
        "drained": r.drained,
        "sites": r.sites.iter().map(|s| json!({
            "site": s.site, "copies_in": s.copies_in, "bytes_in": s.bytes_in,
            "dropped": s.dropped, "bytes_dropped": s.bytes_dropped,
        })).collect::<Vec<_>>(),
        "links": r.links.iter().map(|l| json!({
            "from": l.from, "to": l.to, "bytes": l.bytes, "busy_s": l.busy_s,
        })).collect::<Vec<_>>(),
    })
}

pub fn change_table(r: &PolicyChangeReport) -> String {
    let mut out = format!(
        "{}: {} object(s) scanned{}
  copy {} object(s), {}; then drop {} replica set(s), {}
  ETA {} (lower bound {}){}{}
\n",
        if r.applied {
            format!("applied (policy version {})", r.policy_version)
        } else {
            "dry run, nothing changed".to_string()
        },
        r.objects_scanned,
        if r.truncated {
            " (stopped at the scan limit)"
        } else {
            ""
        },
        r.objects_to_copy,
        human_bytes(r.bytes_to_copy),
        r.objects_to_drop,
        human_bytes(r.bytes_to_drop),
        secs(r.eta_s),
        secs(r.lower_bound_s),
        if r.blocked > 0 {
            format!(
                "\n  {} object(s) cannot meet their rule and keep their replicas",
                r.blocked
            )
        } else {
            String::new()
        },
        if r.drained.is_empty() {
            String::new()
        } else {
            format!("\n  draining: {}", r.drained.join(", "))
        },
    );
    let sites: Vec<Vec<String>> = r
        .sites
        .iter()
        .map(|s| {
            vec![
                s.site.clone(),
                s.copies_in.to_string(),
                human_bytes(s.bytes_in),
                s.dropped.to_string(),
                human_bytes(s.bytes_dropped),
            ]
        })
        .collect();
    out.push_str(&table(
        &["SITE", "COPIES IN", "BYTES IN", "DROPPED", "BYTES DROPPED"],
        &sites,
    ));
    if !r.links.is_empty() {
        out.push_str("\n\n");
        let links: Vec<Vec<String>> = r
            .links
            .iter()
            .map(|l| {
                vec![
                    format!("{} -> {}", l.from, l.to),
                    human_bytes(l.bytes),
                    secs(l.busy_s),
                ]
            })
            .collect();
        out.push_str(&table(&["LINK", "BYTES", "BUSY FOR"], &links));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars() {
        assert_eq!(progress(5, 10, true), "[##########----------]  50%");
        assert_eq!(progress(0, 0, false), "100%");
        assert_eq!(secs(90.0), "90.0 s");
        assert_eq!(secs(7200.0), "2.0 h");
    }
}
