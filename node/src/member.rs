//! `meridian node --config FILE`: one node of a multi-process cluster.
//!
//! The node is a member of the metadata group (a voter, or a learner that
//! asks the voters to add it), keeps its own site's chunks, and serves the
//! gateway of its site: S3, the client and admin gRPC APIs, and the cluster
//! port (Raft, forwarded writes, chunk reads), whose address is the one in
//! the group's membership. The cluster port speaks mutual TLS only, under the
//! cluster CA (`meridianctl cluster init`). Writes taken by a member that
//! does not lead are group-committed here and forwarded to the leader as
//! one batch; linearizable reads take the leader's read index and are then
//! served from this node's own state.
//!
//! Chunks: the node keeps its own site's and reads the other sites' from
//! the nodes named in `[data.peers]` (verified on arrival). Its replication
//! job fills its own site's pending replicas by pulling from them: every
//! destination pulls, so no two processes copy the same replica.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use meridian_meta::{MetaConfig, MetaNode};
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};

use crate::admin::AdminApi;
use crate::metagroup::MetaGroup;
use crate::node_config::{MetaRole, NodeConfig};
use meridian_data::DataPlane;

/// How long a node waits for its group to have a leader before it gives up
/// starting: the other voters may be starting too.
const LEADER_WAIT: Duration = Duration::from_secs(120);
/// A learner asks to join this often, this many times, before giving up.
const JOIN_PAUSE: Duration = Duration::from_secs(1);
const JOIN_ATTEMPTS: u32 = 120;

pub async fn run(cfg: NodeConfig, access_key: String, secret_key: String) -> anyhow::Result<()> {
    std::fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("creating {}", cfg.data_dir.display()))?;
    let topology = Arc::new(cfg.topology.clone());
    let policy = crate::placement_policy::PolicyHandle::new(topology.clone(), cfg.policy.clone());

    let grpc_listeners =
        crate::serve::GrpcListeners::bind(cfg.grpc_addr, cfg.admin_addr, cfg.cluster_addr).await?;
    let s3_listener = match cfg.s3_addr {
        Some(a) => Some(
            TcpListener::bind(a)
                .await
                .with_context(|| format!("binding S3 at {a}"))?,
        ),
        None => None,
    };

    let (clock, test_clock) = crate::serve::clock(cfg.test_clock);
    let tls = &cfg.cluster_tls;
    let cluster_tls = meridian_tls::ClusterTls::load(
        &tls.ca,
        &tls.cert,
        &tls.key,
        crate::serve::wall_time(&clock),
    )
    .with_context(|| {
        format!(
            "the cluster port's certificates (make them with `meridianctl cluster init`; \
             this node's are {} and {}, under the CA {})",
            tls.cert.display(),
            tls.key.display(),
            tls.ca.display()
        )
    })?;

    let endpoint_tls = match &cfg.endpoint_tls {
        Some((cert, key)) => {
            Some(meridian_tls::EndpointTls::load(cert, key).with_context(|| {
                format!(
                    "the endpoints' certificate {} and key {}",
                    cert.display(),
                    key.display()
                )
            })?)
        }
        None => None,
    };
    let scheme = if endpoint_tls.is_some() {
        "https"
    } else {
        "http"
    };

    let mut meta_cfg = MetaConfig::new(cfg.data_dir.join("meta"), cfg.advertise.clone());
    meta_cfg.tls = Some(cluster_tls.clone());
    meta_cfg.node_id = cfg.id;
    meta_cfg.peers = cfg.voters.clone();
    meta_cfg.learner = cfg.role == MetaRole::Learner;
    // The lowest voter id forms the group on its first start.
    meta_cfg.initialize = cfg.role == MetaRole::Voter && cfg.voters.keys().next() == Some(&cfg.id);
    meta_cfg.snapshot_every = cfg.snapshot_every;
    let node = Arc::new(
        MetaNode::open(meta_cfg)
            .await
            .context("opening the metadata node")?,
    );
    let meta = Arc::new(MetaGroup::member(node.clone()));

    let mut data = DataPlane::open_site(
        topology.clone(),
        &cfg.data_dir,
        cfg.site,
        cfg.link_scale,
        clock,
    )
    .context("opening the chunk store")?
    .with_gc(cfg.gc)
    .with_scrub(cfg.scrub);
    for (site, addr) in &cfg.data_peers {
        data = data
            .with_remote(*site, addr, &cluster_tls)
            .context("configuring data peers")?;
    }
    let data = Arc::new(data);
    let wake = Arc::new(Notify::new());
    let keyring = Arc::new(
        crate::keyring::Keyring::load_or_create(&cfg.cluster_key_file)
            .context("loading the cluster key")?,
    );
    let access_log = crate::serve::open_access_log(cfg.access_log.as_ref())?;
    let gateway = crate::serve::gateway(
        (meta.clone(), data.clone()),
        topology.clone(),
        policy.clone(),
        cfg.chunk_size,
        wake.clone(),
        keyring.clone(),
        access_log,
    );

    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|v| *v).await;
    };
    let mut tasks = tokio::task::JoinSet::new();
    // Replication (this site's transfer orders; the plan too while this
    // node leads), policy changes and lifetimes.
    let jobs = crate::serve::spawn_jobs(
        (meta.clone(), data.clone(), policy.clone()),
        wake,
        cfg.transfers,
        &mut tasks,
        stop_rx.clone(),
    );
    let mut endpoints = Vec::new();
    if let Some(listener) = s3_listener {
        endpoints.push(format!("{scheme}://{}", listener.local_addr()?));
        crate::serve::spawn_s3(
            &mut tasks,
            listener,
            gateway.clone(),
            (cfg.site, cfg.site_name.clone()),
            crate::serve::S3Endpoint {
                root_keys: (access_key.clone(), secret_key.clone()),
                domain: cfg.s3_domain.clone(),
                region: cfg.s3_region.clone(),
                sigv2: cfg.s3_sigv2,
                lifecycle_day: cfg.gc.lifecycle_day,
                tls: endpoint_tls.as_ref().map(|t| t.https()),
            },
            stopped(stop_rx.clone()),
        );
    }
    let (token_issuer, token_verifier) =
        crate::tokens::load(&cfg.tokens.clone()).context("the bearer tokens' keys")?;
    let audit = meridian_api::audit::AuditLog::open(&cfg.data_dir.join("audit.log"))
        .context("opening the audit log")?;
    let client_auth = Arc::new(meridian_api::auth::ClientAuth::new(
        gateway.clone(),
        (access_key.clone(), secret_key.clone()),
        token_verifier,
        // Requests are stamped by their clients' wall clocks.
        meridian_core::clock::system(),
        audit.clone(),
    ));
    let access_log = cfg.access_log.as_ref().and_then(|a| {
        crate::serve::spawn_access_shipper(
            &gateway,
            a,
            (format!("node-{}", cfg.id), access_key.clone()),
            &mut tasks,
            stop_rx.clone(),
        )
    });
    let idle_close = crate::serve::spawn_idle_close(
        meta.clone(),
        &gateway,
        cfg.gc.period,
        &mut tasks,
        stop_rx.clone(),
    );
    let admin = AdminApi {
        meta: meta.clone(),
        data: data.clone(),
        catalogue: gateway.catalogue().clone(),
        access: gateway.access_cache().clone(),
        replicator: jobs.replicator.clone(),
        s3_endpoints: endpoints.iter().map(|e| (cfg.site, e.clone())).collect(),
        policy: policy.clone(),
        reconciler: jobs.reconciler.clone(),
        keyring,
        tokens: Arc::new(token_issuer),
        audit,
        uploads: jobs.uploads.clone(),
        lifecycle: jobs.lifecycle.clone(),
        repair: jobs.repair.clone(),
        test_clock,
        access_log,
        idle_close,
    };
    crate::serve::spawn_grpc(
        &mut tasks,
        grpc_listeners,
        crate::serve::GrpcServices {
            gateway,
            admin,
            data,
            raft: Some(node.raft_service()),
            cluster_tls: cluster_tls.clone(),
            endpoint_tls,
            client_auth,
            publisher: cfg.publisher.clone(),
            points: meridian_api::datasets::AccessPoints {
                s3: endpoints
                    .iter()
                    .map(|e| (cfg.site_name.clone(), e.clone()))
                    .collect(),
                grpc: format!("{scheme}://{}", cfg.grpc_addr),
            },
        },
        stop_rx.clone(),
    )
    .await?;

    if cfg.role == MetaRole::Learner {
        join(&cfg, &cluster_tls).await?;
    }
    let leader = node
        .wait_for_leader(LEADER_WAIT)
        .await
        .context("waiting for the metadata group to have a leader")?;
    print_banner(&cfg, leader, &endpoints, &access_key, scheme);

    crate::serve::shutdown_signal().await;
    tracing::info!("shutting down");
    let _ = stop_tx.send(true);
    crate::serve::drain(tasks).await;
    meta.shutdown()
        .await
        .context("stopping the metadata node")?;
    Ok(())
}

/// Asks the voters, bounded, to add this node as a learner.
async fn join(cfg: &NodeConfig, tls: &meridian_tls::ClusterTls) -> anyhow::Result<()> {
    let voters: Vec<String> = cfg.voters.values().cloned().collect();
    let mut last = None;
    for attempt in 1..=JOIN_ATTEMPTS {
        match meridian_meta::forward::join(&voters, cfg.id, &cfg.advertise, tls).await {
            Ok(()) => {
                tracing::info!(node = cfg.id, "joined the metadata group as a learner");
                return Ok(());
            }
            // A membership refusal will not change by asking again.
            Err(e @ meridian_meta::MetaError::Membership(_)) => {
                return Err(e).context("joining the metadata group")
            }
            Err(e) => {
                if attempt % 10 == 1 {
                    tracing::info!(attempt, error = %e, "no leader to join yet; asking again");
                }
                last = Some(e);
                tokio::time::sleep(JOIN_PAUSE).await;
            }
        }
    }
    Err(anyhow::anyhow!(
        "no voter added this node after {JOIN_ATTEMPTS} attempts: {}",
        last.map(|e| e.to_string()).unwrap_or_default()
    ))
}

fn print_banner(
    cfg: &NodeConfig,
    leader: u64,
    endpoints: &[String],
    access_key: &str,
    scheme: &str,
) {
    let mut out = std::io::stdout().lock();
    let role = match cfg.role {
        MetaRole::Voter => "voter",
        MetaRole::Learner => "learner",
    };
    let _ = writeln!(
        out,
        "Meridian node {} at {}: metadata {role}, data in {}",
        cfg.id,
        cfg.site_name,
        cfg.data_dir.display()
    );
    let _ = writeln!(out, "  gRPC client API  {scheme}://{}", cfg.grpc_addr);
    let _ = writeln!(out, "  gRPC admin API   {scheme}://{}", cfg.admin_addr);
    let _ = writeln!(
        out,
        "  gRPC cluster     https://{} (Raft, chunk reads; mutual TLS)",
        cfg.cluster_addr
    );
    for e in endpoints {
        let _ = writeln!(out, "  S3 {e} (access key {access_key})");
    }
    let _ = writeln!(out, "  metadata leader: node {leader}");
    let _ = writeln!(out, "meridian: ready");
    let _ = out.flush();
}
