//! `meridianctl scrub status` and `meridianctl audit run|report`: each
//! site's scrub, and audits of chunk stores against the catalogue.

use std::io::IsTerminal;
use std::time::Duration;

use clap::Subcommand;
use meridian_proto::v1::{
    AuditReport, IntegrityAuditRequest, IntegrityReportsRequest, IntegrityReportsResponse,
    ScrubStatusRequest, ScrubStatusResponse,
};
use serde_json::{json, Value};

use crate::render::{human_bytes, status_error, table};
use crate::render_replication::{progress, secs};

#[derive(Subcommand, Debug)]
pub enum ScrubCommand {
    /// Each site's pass: how far, at what rate, when it ends, what it found.
    Status,
}

#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// Audit sites' chunk stores against the catalogue: lost data (marked
    /// for repair), dark data (queued for reclaiming), uncounted
    /// references. Waits for the reports unless --no-wait.
    Run {
        /// Sites to audit (all when none).
        #[arg(long = "site")]
        sites: Vec<String>,
        /// One bucket only (dark data is looked for in whole-site audits).
        #[arg(long)]
        bucket: Option<String>,
        #[arg(long)]
        no_wait: bool,
        /// Give up waiting after this many seconds.
        #[arg(long, default_value_t = 3600)]
        timeout: u64,
    },
    /// The last audit reports.
    Report {
        #[arg(long = "site")]
        sites: Vec<String>,
        #[arg(long)]
        bucket: Option<String>,
        /// The last report of every bucket audited too.
        #[arg(long)]
        every_bucket: bool,
    },
}

pub async fn scrub(
    client: &mut crate::Admin,
    json: bool,
    _c: ScrubCommand,
) -> anyhow::Result<String> {
    let s = client
        .scrub_status(ScrubStatusRequest {})
        .await
        .map_err(status_error)?
        .into_inner();
    Ok(if json {
        scrub_json(&s).to_string()
    } else {
        scrub_table(&s)
    })
}

fn when(ms: i64) -> String {
    if ms <= 0 {
        return "-".into();
    }
    meridian_core::clock::rfc3339(ms)
}

pub fn scrub_json(s: &ScrubStatusResponse) -> Value {
    json!({
        "sites": s.sites.iter().map(|x| {
            let p = x.progress.clone().unwrap_or_default();
            json!({
                "site": x.site, "scrubbed": x.progress.is_some(),
                "pass": p.pass, "percent": x.percent, "eta_s": x.eta_s,
                "bytes_done": p.bytes_done, "bytes_total": p.bytes_total,
                "replicas_done": p.replicas_done, "chunks_done": p.chunks_done,
                "rate_bytes_per_s": p.rate_bytes_per_s,
                "corrupt": p.corrupt, "missing": p.missing,
                "corrupt_total": p.corrupt_total, "missing_total": p.missing_total,
                "pass_started_ms": p.pass_started_ms, "updated_ms": p.updated_ms,
                "last_pass_finished_ms": p.last_pass_finished_ms, "last_pass_ms": p.last_pass_ms,
                "last_pass_bytes": p.last_pass_bytes,
                "damaged_replicas": x.damaged_replicas, "damaged_bytes": x.damaged_bytes,
            })
        }).collect::<Vec<_>>(),
        "repair": { "passes": s.repair_passes, "requeued": s.repair_requeued, "lost": s.repair_lost },
    })
}

pub fn scrub_table(s: &ScrubStatusResponse) -> String {
    let bar = std::io::stdout().is_terminal();
    let rows: Vec<Vec<String>> = s
        .sites
        .iter()
        .map(|x| {
            let Some(p) = &x.progress else {
                return vec![x.site.clone(), "-".into(), "not yet scrubbed".into()];
            };
            let done = (x.percent * 100.0) as u64;
            vec![
                x.site.clone(),
                p.pass.to_string(),
                progress(done, 10_000, bar),
                format!(
                    "{} of {}",
                    human_bytes(p.bytes_done),
                    human_bytes(p.bytes_total)
                ),
                format!("{}/s", human_bytes(p.rate_bytes_per_s)),
                if x.eta_s == 0 {
                    "-".into()
                } else {
                    secs(x.eta_s as f64)
                },
                format!("{}/{}", p.corrupt, p.missing),
                format!("{}/{}", p.corrupt_total, p.missing_total),
                x.damaged_replicas.to_string(),
                if p.last_pass_finished_ms > 0 {
                    format!(
                        "{} ({})",
                        when(p.last_pass_finished_ms),
                        secs(p.last_pass_ms as f64 / 1000.0)
                    )
                } else {
                    "-".into()
                },
            ]
        })
        .collect();
    let mut out = table(
        &[
            "SITE",
            "PASS",
            "PROGRESS",
            "READ",
            "RATE",
            "ETA",
            "CORRUPT/MISSING",
            "SINCE FIRST PASS",
            "DAMAGED",
            "LAST FULL PASS",
        ],
        &rows,
    );
    out += &format!(
        "\n\nRepair (the metadata leader's, since it started): {} passes, {} replicas sent for repair, {} with no healthy copy left",
        s.repair_passes, s.repair_requeued, s.repair_lost
    );
    out
}

pub async fn audit(
    client: &mut crate::Admin,
    json: bool,
    c: AuditCommand,
) -> anyhow::Result<String> {
    match c {
        AuditCommand::Run {
            sites,
            bucket,
            no_wait,
            timeout,
        } => {
            let bucket = bucket.unwrap_or_default();
            let asked = client
                .integrity_audit(IntegrityAuditRequest {
                    sites: sites.clone(),
                    bucket: bucket.clone(),
                })
                .await
                .map_err(status_error)?
                .into_inner();
            if no_wait {
                return Ok(if json {
                    json!({ "requested": asked.requested.iter().map(|t| json!({"site": t.site, "id": t.id})).collect::<Vec<_>>() }).to_string()
                } else {
                    asked
                        .requested
                        .iter()
                        .map(|t| format!("audit of {} requested (id {})", t.site, t.id))
                        .collect::<Vec<_>>()
                        .join("\n")
                });
            }
            let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout);
            let names: Vec<String> = asked.requested.iter().map(|t| t.site.clone()).collect();
            let verbose = !json && std::io::stderr().is_terminal();
            loop {
                let r = reports(client, names.clone(), bucket.clone(), false).await?;
                let answered = asked.requested.iter().all(|t| {
                    r.reports.iter().any(|x| {
                        x.site == t.site && x.report.as_ref().is_some_and(|a| a.request >= t.id)
                    })
                });
                if answered {
                    return Ok(if json {
                        reports_json(&r).to_string()
                    } else {
                        reports_table(&r)
                    });
                }
                if tokio::time::Instant::now() >= deadline {
                    anyhow::bail!("the audits did not all report within {timeout} s; `meridianctl audit report` shows them when they do");
                }
                if verbose {
                    let done = r.reports.iter().filter(|x| x.waiting == 0).count();
                    eprint!(
                        "\rwaiting for audit reports: {done} of {} sites",
                        names.len()
                    );
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
        AuditCommand::Report {
            sites,
            bucket,
            every_bucket,
        } => {
            let r = reports(client, sites, bucket.unwrap_or_default(), every_bucket).await?;
            Ok(if json {
                reports_json(&r).to_string()
            } else {
                reports_table(&r)
            })
        }
    }
}

async fn reports(
    client: &mut crate::Admin,
    sites: Vec<String>,
    bucket: String,
    every_bucket: bool,
) -> anyhow::Result<IntegrityReportsResponse> {
    Ok(client
        .integrity_reports(IntegrityReportsRequest {
            sites,
            bucket,
            every_bucket,
        })
        .await
        .map_err(status_error)?
        .into_inner())
}

pub fn report_json(a: &AuditReport) -> Value {
    json!({
        "bucket": a.bucket, "request": a.request,
        "started_ms": a.started_ms, "finished_ms": a.finished_ms,
        "replicas_checked": a.replicas_checked, "chunks_checked": a.chunks_checked,
        "files_checked": a.files_checked,
        "lost_chunks": a.lost_chunks, "lost_replicas": a.lost_replicas, "lost_examples": a.lost_examples,
        "unrecoverable": a.unrecoverable,
        "dark_chunks": a.dark_chunks, "dark_bytes": a.dark_bytes, "dark_queued": a.dark_queued,
        "legacy_refs": a.legacy_refs, "legacy_examples": a.legacy_examples,
        "foreign_files": a.foreign_files, "truncated": a.truncated, "error": a.error,
    })
}

pub fn reports_json(r: &IntegrityReportsResponse) -> Value {
    json!({
        "reports": r.reports.iter().map(|x| json!({
            "site": x.site, "waiting": x.waiting,
            "report": x.report.as_ref().map(report_json),
        })).collect::<Vec<_>>(),
    })
}

pub fn reports_table(r: &IntegrityReportsResponse) -> String {
    let rows: Vec<Vec<String>> = r
        .reports
        .iter()
        .map(|x| {
            let Some(a) = &x.report else {
                let what = if x.waiting > 0 {
                    "requested, not yet run"
                } else {
                    "never audited"
                };
                return vec![x.site.clone(), String::new(), what.into()];
            };
            vec![
                x.site.clone(),
                if a.bucket.is_empty() {
                    "(all)".into()
                } else {
                    a.bucket.clone()
                },
                when(a.finished_ms),
                format!(
                    "{} replicas, {} chunks, {} files",
                    a.replicas_checked, a.chunks_checked, a.files_checked
                ),
                format!("{} ({} replicas)", a.lost_chunks, a.lost_replicas),
                a.unrecoverable.to_string(),
                format!("{} ({})", a.dark_chunks, human_bytes(a.dark_bytes)),
                a.legacy_refs.to_string(),
                if !a.error.is_empty() {
                    format!("stopped: {}", a.error)
                } else if a.truncated {
                    "cut short".into()
                } else if x.waiting > 0 {
                    "newer audit requested".into()
                } else {
                    "ok".into()
                },
            ]
        })
        .collect();
    let mut out = table(
        &[
            "SITE",
            "BUCKET",
            "FINISHED",
            "CHECKED",
            "LOST",
            "UNRECOVERABLE",
            "DARK",
            "UNCOUNTED REFS",
            "STATE",
        ],
        &rows,
    );
    for x in &r.reports {
        let Some(a) = &x.report else { continue };
        for e in &a.lost_examples {
            out += &format!("\n{}: lost: {e}", x.site);
        }
        for e in &a.legacy_examples {
            out += &format!("\n{}: uncounted reference: {e}", x.site);
        }
    }
    out
}
