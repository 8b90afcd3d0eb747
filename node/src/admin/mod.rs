//! The admin API (`meridian.v1.AdminService`), served by every node.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use meridian_api::{object_info, status};
use meridian_proto::v1::admin_service_server::AdminService;
use meridian_proto::v1::*;
use tonic::{Request, Response, Status};

use crate::metagroup::MetaGroup;
use crate::transfer::stats::ReplicationJob;
use meridian_data::DataPlane;

pub mod access;
pub mod integrity;
pub mod placement;
pub mod report;

pub struct AdminApi {
    pub meta: Arc<MetaGroup>,
    pub data: Arc<DataPlane>,
    /// The catalogue as the protocols see it (records in the domain's
    /// types), and the access records the S3 endpoints keep, which a
    /// change made here drops.
    pub catalogue: Arc<dyn meridian_core::catalogue::Catalogue>,
    pub access: Arc<meridian_core::access_cache::AccessCache>,
    pub replicator: Arc<dyn ReplicationJob>,
    /// S3 endpoints this process serves, by site id.
    pub s3_endpoints: std::collections::BTreeMap<u32, String>,
    /// The placement policy in force, for `object explain`.
    pub policy: Arc<crate::placement_policy::PolicyHandle>,
    /// Carries out policy changes and drains.
    pub reconciler: Arc<crate::jobs::reconcile::Reconciler>,
    /// Seals the secrets of new access keys.
    pub keyring: Arc<crate::keyring::Keyring>,
    /// The audit log `AuditTail` reads.
    pub audit: meridian_api::audit::AuditLog,
    /// Signs the bearer tokens `TokenCreate` makes.
    pub tokens: Arc<meridian_api::auth::token::TokenIssuer>,
    /// Aborts multipart uploads left unfinished (its count is reported).
    pub uploads: Arc<crate::jobs::abandoned_uploads::AbandonedUploads>,
    /// Carries out buckets' lifecycle rules (its counts are reported).
    pub lifecycle: Arc<crate::jobs::bucket_lifecycle::Lifecycle>,
    /// The process's clock when it runs on a test clock (`--test-clock`),
    /// which `AdvanceClock` moves.
    pub test_clock: Option<Arc<meridian_core::clock::OffsetClock>>,
    /// Repairs damaged replicas on the leader (its counts are reported).
    pub repair: Arc<crate::jobs::repair::Repair>,
    /// Closes facility datasets whose run went idle (its count is reported).
    pub idle_close: Arc<crate::jobs::idle_close::IdleClose>,
    /// This node's access log and its shipper, when requests are tracked.
    pub access_log: Option<(
        Arc<meridian_objects::access_log::AccessLog>,
        Arc<crate::jobs::access_ship::AccessShipper>,
    )>,
}

fn access_log_status(
    (log, ship): &(
        Arc<meridian_objects::access_log::AccessLog>,
        Arc<crate::jobs::access_ship::AccessShipper>,
    ),
) -> AccessLogStatus {
    let n = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    let (s, p) = (log.stats(), &ship.progress);
    AccessLogStatus {
        events_written: n(&s.written),
        events_dropped: n(&s.dropped) + n(&s.failed_writes),
        events_shipped: n(&p.events_shipped),
        shipments: n(&p.shipments),
        behind_bytes: n(&p.behind_bytes),
        last_ship_ms: p.last_ship_ms.load(Ordering::Relaxed),
        bad_lines: n(&p.bad_lines),
        segments_removed: n(&p.segments_removed),
    }
}

fn lifecycle_status(p: &crate::jobs::bucket_lifecycle::LifecycleProgress) -> LifecycleStatus {
    let n = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
    LifecycleStatus {
        passes: n(&p.passes),
        expired: n(&p.expired),
        noncurrent_removed: n(&p.noncurrent_removed),
        markers_removed: n(&p.markers_removed),
        uploads_aborted: n(&p.uploads_aborted),
    }
}

impl AdminApi {
    fn clock_reading(&self) -> ClockReading {
        ClockReading {
            now_ms: self.data.clock().now_ms(),
            advanced_ms: self.test_clock.as_ref().map_or(0, |c| {
                u64::try_from(c.offset().as_millis()).unwrap_or(u64::MAX)
            }),
        }
    }

    /// The object's record, read linearizably.
    async fn record(
        &self,
        r: &StatRequest,
    ) -> Result<meridian_core::records::ObjectRecord, Status> {
        self.catalogue
            .object(&r.bucket, &r.key)
            .await
            .map_err(status)
    }
}

fn internal(e: impl std::fmt::Display) -> Status {
    Status::internal(e.to_string())
}

fn membership_status(e: meridian_meta::MetaError) -> Status {
    match e {
        meridian_meta::MetaError::Membership(m) => Status::failed_precondition(m),
        meridian_meta::MetaError::Unavailable(m) => Status::unavailable(m),
        other => Status::internal(other.to_string()),
    }
}

impl AdminApi {
    /// The group's members as the leader sees them.
    fn members(&self) -> MetaMembersResponse {
        let status = self.meta.status();
        let members = self
            .meta
            .members()
            .into_iter()
            .map(|(id, addr, voter, matched)| MetaMember {
                id,
                addr,
                role: if voter { "voter" } else { "learner" }.to_string(),
                leader: status.leader == Some(id),
                // A single voter leads itself: everything it has is matched.
                matched_index: matched.unwrap_or(if status.leader == Some(id) {
                    status.last_log_index
                } else {
                    0
                }),
            })
            .collect();
        MetaMembersResponse {
            members,
            last_log_index: status.last_log_index,
        }
    }
}

#[tonic::async_trait]
impl AdminService for AdminApi {
    async fn status(
        &self,
        _req: Request<StatusRequest>,
    ) -> Result<Response<StatusResponse>, Status> {
        let reader = self
            .meta
            .read_barrier()
            .await
            .map_err(|e| Status::unavailable(e.to_string()))?;
        let topo = self.data.topology();
        let mut sites = Vec::new();
        let (mut objects, mut bytes) = (0, 0);
        for s in topo.sites() {
            let held = reader.site_counter(s.id.0).map_err(internal)?;
            let pending = reader.pending_counter(s.id.0).map_err(internal)?;
            let queued = reader.gc_counter(s.id.0).map_err(internal)?;
            let (reclaimed_chunks, reclaimed_bytes, gc_passes) =
                self.data.store(s.id.0).map_or((0, 0, 0), |st| {
                    (
                        st.reclaimed_chunks.load(Ordering::Relaxed),
                        st.reclaimed_bytes.load(Ordering::Relaxed),
                        st.gc_passes.load(Ordering::Relaxed),
                    )
                });
            let (damaged, scrub, last_audit) = integrity::site_integrity(&reader, s.id)?;
            sites.push(SiteStatus {
                name: s.name.clone(),
                role: s.role.clone(),
                s3_endpoint: self.s3_endpoints.get(&s.id.0).cloned().unwrap_or_default(),
                objects: held.objects,
                bytes: held.bytes,
                pending_objects: pending.objects,
                pending_bytes: pending.bytes,
                reclaimable_chunks: queued.objects,
                reclaimable_bytes: queued.bytes,
                reclaimed_chunks,
                reclaimed_bytes,
                gc_passes,
                damaged_replicas: damaged.objects,
                damaged_bytes: damaged.bytes,
                scrub_pass: scrub.as_ref().map_or(0, |p| p.pass),
                scrub_percent: scrub.as_ref().map_or(0.0, |p| integrity::pass_eta(p).0),
                last_audit,
            });
        }
        for b in reader.buckets().map_err(internal)? {
            let c = reader.bucket_counter(b.id).map_err(internal)?;
            objects += c.objects;
            bytes += c.bytes;
        }
        let links = self
            .data
            .links()
            .all()
            .iter()
            .map(|l| LinkStatus {
                from: topo.name(l.link.from),
                to: topo.name(l.link.to),
                bandwidth_bps: l.link.bandwidth_bps,
                effective_bps: (l.bucket.bytes_per_s() * 8.0) as u64,
                backlog_chunks: l.backlog_chunks.load(Ordering::Relaxed),
                backlog_bytes: l.backlog_bytes.load(Ordering::Relaxed),
                transferred_bytes: l.transferred_bytes.load(Ordering::Relaxed),
            })
            .collect();
        let stats = self.replicator.stats();
        let replication = ReplicationStatus {
            running: stats.running.load(Ordering::Relaxed),
            completed: stats.completed.load(Ordering::Relaxed),
            failed_attempts: stats.failures.load(Ordering::Relaxed),
            bytes_copied: stats.bytes_copied.load(Ordering::Relaxed),
            waiting_retry: self.replicator.waiting_retry(),
        };
        let r = self.meta.status();
        Ok(Response::new(StatusResponse {
            sites,
            links,
            raft: Some(RaftStatus {
                node_id: r.node_id,
                leader: r.leader.unwrap_or(0),
                term: r.term,
                applied_index: r.applied_index,
                last_log_index: r.last_log_index,
                state: r.state,
                snapshot_index: r.snapshot_index,
            }),
            objects,
            bytes,
            replication: Some(replication),
            abandoned_uploads_aborted: self.uploads.aborted.load(Ordering::Relaxed),
            lifecycle: Some(lifecycle_status(&self.lifecycle.progress)),
            clock: Some(self.clock_reading()),
            access_log: self.access_log.as_ref().map(access_log_status),
            datasets_closed_idle: self.idle_close.progress.closed.load(Ordering::Relaxed),
        }))
    }

    async fn object_stat(&self, req: Request<StatRequest>) -> Result<Response<ObjectInfo>, Status> {
        let r = req.into_inner();
        let rec = self.record(&r).await?;
        Ok(Response::new(object_info(
            self.data.topology(),
            &r.bucket,
            &r.key,
            &rec,
        )))
    }

    async fn object_explain(
        &self,
        req: Request<StatRequest>,
    ) -> Result<Response<ObjectExplanation>, Status> {
        let r = req.into_inner();
        let rec = self.record(&r).await?;
        let topo = self.data.topology();
        let ingest = meridian_placement::SiteId(rec.ingest_site);
        let reader = self.meta.reader();
        let policy = self.policy.current(&reader).1;
        let named = crate::placement_policy::named_datasets(&reader, &policy).map_err(internal)?;
        let datasets = reader
            .belongs_to(&named, &r.bucket, &r.key)
            .map_err(internal)?;
        let subject = meridian_placement::Subject {
            bucket: &r.bucket,
            key: &r.key,
            metadata: Some(&rec.user_meta),
            datasets: &datasets,
            size: rec.size,
        };
        let p = meridian_placement::place(
            topo,
            &policy,
            &subject,
            ingest,
            &crate::catalogue::load(&self.meta.reader(), topo, self.data.links()),
        );
        // The replicas the write recorded, each with today's reason if
        // placement still picks it; then any site placement would add now.
        let reason_now = |site: u32| {
            p.sites
                .iter()
                .zip(&p.reasons)
                .find(|(s, _)| s.0 == site)
                .map(|(s, why)| {
                    why.strip_prefix(&format!("{}: ", topo.name(*s)))
                        .unwrap_or(why)
                        .to_string()
                })
        };
        let mut sites: Vec<SiteChoice> = rec
            .replicas
            .iter()
            .map(|x| SiteChoice {
                site: topo.name(meridian_placement::SiteId(x.site)),
                reason: reason_now(x.site).unwrap_or_else(|| {
                    "chosen at write time; placement would choose elsewhere today".to_string()
                }),
                state: x.state.name().to_string(),
                recorded_reason: meridian_placement::Reason::from_code(x.reason)
                    .map_or("not recorded", |r| r.describe())
                    .to_string(),
            })
            .collect();
        for s in &p.sites {
            if !rec.replicas.iter().any(|x| x.site == s.0) {
                sites.push(SiteChoice {
                    site: topo.name(*s),
                    reason: format!(
                        "would be chosen today: {}",
                        reason_now(s.0).unwrap_or_default()
                    ),
                    state: "absent".to_string(),
                    recorded_reason: String::new(),
                });
            }
        }
        Ok(Response::new(ObjectExplanation {
            bucket: r.bucket,
            key: r.key,
            rule: p.rule,
            recorded_rule: rec.policy.clone(),
            ingest_site: topo.name(ingest),
            sites,
        }))
    }

    async fn scrub_status(
        &self,
        _req: Request<ScrubStatusRequest>,
    ) -> Result<Response<ScrubStatusResponse>, Status> {
        self.scrub_status().await.map(Response::new)
    }

    async fn integrity_audit(
        &self,
        req: Request<IntegrityAuditRequest>,
    ) -> Result<Response<IntegrityAuditResponse>, Status> {
        self.integrity_audit(req.into_inner())
            .await
            .map(Response::new)
    }

    async fn integrity_reports(
        &self,
        req: Request<IntegrityReportsRequest>,
    ) -> Result<Response<IntegrityReportsResponse>, Status> {
        self.integrity_reports(req.into_inner())
            .await
            .map(Response::new)
    }

    async fn replication_status(
        &self,
        _req: Request<ReplicationStatusRequest>,
    ) -> Result<Response<ReplicationReport>, Status> {
        report::replication(self).await.map(Response::new)
    }

    async fn policy_show(
        &self,
        _req: Request<PolicyShowRequest>,
    ) -> Result<Response<PolicyReport>, Status> {
        Ok(Response::new(report::policy(
            self.data.topology(),
            &self.policy.current(&self.meta.reader()).1,
        )))
    }

    async fn policy_apply(
        &self,
        req: Request<PolicyApplyRequest>,
    ) -> Result<Response<PolicyChangeReport>, Status> {
        let r = req.into_inner();
        let origin = if r.origin.is_empty() {
            "policy apply".to_string()
        } else {
            r.origin
        };
        placement::change(self, Some((r.text, origin)), None, r.dry_run)
            .await
            .map(Response::new)
    }

    async fn site_drain(
        &self,
        req: Request<SiteDrainRequest>,
    ) -> Result<Response<PolicyChangeReport>, Status> {
        let r = req.into_inner();
        placement::change(self, None, Some((r.site, !r.undo)), r.dry_run)
            .await
            .map(Response::new)
    }

    async fn user_create(&self, r: Request<UserRequest>) -> Result<Response<UserInfo>, Status> {
        access::user_create(self, r.into_inner().name)
            .await
            .map(Response::new)
    }

    async fn user_list(
        &self,
        _r: Request<UserListRequest>,
    ) -> Result<Response<UserListResponse>, Status> {
        access::user_list(self).await.map(Response::new)
    }

    async fn user_delete(&self, r: Request<UserRequest>) -> Result<Response<UserInfo>, Status> {
        access::user_delete(self, r.into_inner().name)
            .await
            .map(Response::new)
    }

    async fn key_create(&self, r: Request<UserRequest>) -> Result<Response<NewAccessKey>, Status> {
        access::key_create(self, r.into_inner().name)
            .await
            .map(Response::new)
    }

    async fn audit_tail(
        &self,
        r: Request<AuditTailRequest>,
    ) -> Result<Response<AuditTailResponse>, Status> {
        let r = r.into_inner();
        let limit = if r.limit == 0 { 100 } else { r.limit as usize };
        let events = self
            .audit
            .tail(limit, r.since_ms)
            .map_err(|e| Status::internal(e.to_string()))?
            .into_iter()
            .map(|e| AuditRecord {
                time_ms: e.time_ms,
                who: e.who,
                credential: e.credential,
                from: e.from,
                port: e.port,
                method: e.method,
                resource: e.resource,
                outcome: e.outcome,
            })
            .collect();
        Ok(Response::new(AuditTailResponse { events }))
    }

    async fn token_create(
        &self,
        r: Request<TokenCreateRequest>,
    ) -> Result<Response<NewToken>, Status> {
        access::token_create(self, r.into_inner())
            .await
            .map(Response::new)
    }

    async fn key_list(
        &self,
        r: Request<KeyListRequest>,
    ) -> Result<Response<KeyListResponse>, Status> {
        access::key_list(self, r.into_inner().user)
            .await
            .map(Response::new)
    }

    async fn key_revoke(&self, r: Request<KeyRevokeRequest>) -> Result<Response<KeyInfo>, Status> {
        let id = r.into_inner().access_key;
        let out = access::key_revoke(self, id.clone()).await;
        self.access.forget_key(&id);
        out.map(Response::new)
    }

    async fn bucket_access(
        &self,
        r: Request<BucketAccessRequest>,
    ) -> Result<Response<BucketAccessInfo>, Status> {
        access::bucket_access(self, r.into_inner().bucket)
            .await
            .map(Response::new)
    }

    async fn bucket_grant(
        &self,
        r: Request<BucketGrantRequest>,
    ) -> Result<Response<BucketAccessInfo>, Status> {
        access::bucket_grant(self, r.into_inner())
            .await
            .map(Response::new)
    }

    async fn bucket_policy(
        &self,
        r: Request<BucketPolicyRequest>,
    ) -> Result<Response<BucketAccessInfo>, Status> {
        access::bucket_policy(self, r.into_inner())
            .await
            .map(Response::new)
    }

    async fn advance_clock(
        &self,
        r: Request<AdvanceClockRequest>,
    ) -> Result<Response<ClockReading>, Status> {
        let Some(clock) = &self.test_clock else {
            return Err(Status::failed_precondition(
                "this process runs on the system clock; only one started with --test-clock \
                 can be moved",
            ));
        };
        clock.advance(std::time::Duration::from_millis(r.into_inner().millis));
        Ok(Response::new(self.clock_reading()))
    }

    async fn meta_members(
        &self,
        _req: Request<MetaMembersRequest>,
    ) -> Result<Response<MetaMembersResponse>, Status> {
        Ok(Response::new(self.members()))
    }

    async fn meta_add_learner(
        &self,
        req: Request<MetaAddLearnerRequest>,
    ) -> Result<Response<MetaMembersResponse>, Status> {
        let r = req.into_inner();
        if r.addr.parse::<std::net::SocketAddr>().is_err() {
            return Err(Status::invalid_argument(format!(
                "{:?} is not host:port",
                r.addr
            )));
        }
        self.meta
            .add_learner(r.id, r.addr)
            .await
            .map_err(membership_status)?;
        Ok(Response::new(self.members()))
    }

    async fn meta_promote(
        &self,
        req: Request<MetaNodeRequest>,
    ) -> Result<Response<MetaMembersResponse>, Status> {
        self.meta
            .promote(req.into_inner().id)
            .await
            .map_err(membership_status)?;
        Ok(Response::new(self.members()))
    }

    async fn meta_remove(
        &self,
        req: Request<MetaNodeRequest>,
    ) -> Result<Response<MetaMembersResponse>, Status> {
        self.meta
            .remove(req.into_inner().id)
            .await
            .map_err(membership_status)?;
        Ok(Response::new(self.members()))
    }

    async fn buckets(
        &self,
        _req: Request<BucketsRequest>,
    ) -> Result<Response<BucketsResponse>, Status> {
        let reader = self
            .meta
            .read_barrier()
            .await
            .map_err(|e| Status::unavailable(e.to_string()))?;
        let mut out = Vec::new();
        for b in reader.buckets().map_err(internal)? {
            let c = reader.bucket_counter(b.id).map_err(internal)?;
            out.push(BucketStatus {
                site: self
                    .data
                    .topology()
                    .name(meridian_placement::SiteId(b.ingest_site)),
                name: b.name,
                owner: b.owner,
                created_ms: b.created_ms,
                objects: c.objects,
                bytes: c.bytes,
            });
        }
        Ok(Response::new(BucketsResponse { buckets: out }))
    }
}
