//! What the admin API answers about integrity: each site's scrub, audit
//! requests and reports, from the catalogue (any node answers for every
//! site), and the repair job's counts (the leader's).

use meridian_meta::catalogue::CatalogueReader;
use meridian_placement::SiteId;
use meridian_proto::v1::*;
use tonic::Status;

use super::{internal, AdminApi};

/// Percent of a pass done, and seconds to its end at the configured rate.
pub fn pass_eta(p: &ScrubProgress) -> (f64, u64) {
    let pass_done = p.cursor_bucket.is_empty() && p.last_pass_finished_ms >= p.pass_started_ms;
    if pass_done || p.bytes_total == 0 {
        return (if pass_done { 100.0 } else { 0.0 }, 0);
    }
    let done = p.bytes_done.min(p.bytes_total);
    let percent = done as f64 * 100.0 / p.bytes_total as f64;
    let eta = if p.rate_bytes_per_s == 0 {
        0
    } else {
        (p.bytes_total - done).div_ceil(p.rate_bytes_per_s)
    };
    (percent, eta)
}

impl AdminApi {
    /// The sites named (all when none), as (id, name); an unknown name is
    /// an error.
    fn sites_named(&self, names: &[String]) -> Result<Vec<(u32, String)>, Status> {
        let topo = self.data.topology();
        if names.is_empty() {
            return Ok(topo
                .sites()
                .iter()
                .map(|s| (s.id.0, s.name.clone()))
                .collect());
        }
        names
            .iter()
            .map(|n| {
                topo.site_by_name(n)
                    .map(|s| (s.id.0, s.name.clone()))
                    .ok_or_else(|| Status::not_found(format!("no site named {n}")))
            })
            .collect()
    }

    pub(super) async fn scrub_status(&self) -> Result<ScrubStatusResponse, Status> {
        let reader = self
            .meta
            .read_barrier()
            .await
            .map_err(|e| Status::unavailable(e.to_string()))?;
        let mut sites = Vec::new();
        for (id, name) in self.sites_named(&[])? {
            let progress = reader.scrub_progress(id).map_err(internal)?;
            let (percent, eta_s) = progress.as_ref().map_or((0.0, 0), pass_eta);
            let damaged = reader.damaged_counter(id).map_err(internal)?;
            sites.push(ScrubSiteStatus {
                site: name,
                progress,
                percent,
                eta_s,
                damaged_replicas: damaged.objects,
                damaged_bytes: damaged.bytes,
            });
        }
        let counts = self.repair.counts();
        Ok(ScrubStatusResponse {
            sites,
            repair_passes: counts.passes,
            repair_requeued: counts.requeued,
            repair_lost: counts.lost,
        })
    }

    pub(super) async fn integrity_audit(
        &self,
        r: IntegrityAuditRequest,
    ) -> Result<IntegrityAuditResponse, Status> {
        if !r.bucket.is_empty() {
            let reader = self
                .meta
                .read_barrier()
                .await
                .map_err(|e| Status::unavailable(e.to_string()))?;
            if reader.bucket(&r.bucket).map_err(internal)?.is_none() {
                return Err(Status::not_found(format!("no bucket named {}", r.bucket)));
            }
        }
        let mut requested = Vec::new();
        for (id, name) in self.sites_named(&r.sites)? {
            let ticket = crate::jobs::integrity::request_audit(
                &self.meta,
                id,
                &r.bucket,
                self.data.clock().now_ms(),
            )
            .await
            .map_err(|e| Status::unavailable(e.to_string()))?;
            requested.push(AuditTicket {
                site: name,
                id: ticket,
            });
        }
        Ok(IntegrityAuditResponse { requested })
    }

    pub(super) async fn integrity_reports(
        &self,
        r: IntegrityReportsRequest,
    ) -> Result<IntegrityReportsResponse, Status> {
        let reader = self
            .meta
            .read_barrier()
            .await
            .map_err(|e| Status::unavailable(e.to_string()))?;
        let mut reports = Vec::new();
        for (id, name) in self.sites_named(&r.sites)? {
            let req = reader.audit_request(id).map_err(internal)?;
            let found = if r.every_bucket {
                reader.audit_reports(id, 10_000).map_err(internal)?
            } else {
                reader
                    .audit_report(id, &r.bucket)
                    .map_err(internal)?
                    .into_iter()
                    .collect()
            };
            let waiting_for = |bucket: &str, answered: u64| {
                req.as_ref()
                    .filter(|q| q.bucket == bucket && q.id > answered)
                    .map_or(0, |q| q.id)
            };
            if found.is_empty() {
                reports.push(SiteAuditReport {
                    site: name.clone(),
                    report: None,
                    waiting: waiting_for(&r.bucket, 0),
                });
            }
            for rep in found {
                reports.push(SiteAuditReport {
                    site: name.clone(),
                    waiting: waiting_for(&rep.bucket, rep.request),
                    report: Some(rep),
                });
            }
        }
        Ok(IntegrityReportsResponse { reports })
    }
}

/// The integrity part of a site's status line.
pub fn site_integrity(
    reader: &CatalogueReader,
    site: SiteId,
) -> Result<(Counter, Option<ScrubProgress>, Option<AuditReport>), Status> {
    Ok((
        reader.damaged_counter(site.0).map_err(internal)?,
        reader.scrub_progress(site.0).map_err(internal)?,
        reader.audit_report(site.0, "").map_err(internal)?,
    ))
}
