//! `meridian dev`: every role of every site in one process.
//!
//! One metadata node (a single-voter openraft group on RocksDB), one chunk
//! store per site, the emulated links between them, the replication job, an
//! S3 endpoint per site and three gRPC ports: the client API, the admin
//! API and the cluster's own (data-node chunk reads, and Raft between the
//! voters of `--meta-voters`), mutual TLS under a CA the process makes in
//! `<data_dir>/tls/` on first start. The same components run in production;
//! only the wiring is in one process.

use std::io::Write;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};

use crate::admin::AdminApi;
use crate::dev_config::DevConfig;
use crate::metagroup::MetaGroup;
use meridian_data::DataPlane;

pub async fn run(cfg: DevConfig) -> anyhow::Result<()> {
    cfg.validate().map_err(anyhow::Error::msg)?;
    std::fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("creating {}", cfg.data_dir.display()))?;
    let topology = Arc::new(cfg.topology.clone());
    let policy = crate::placement_policy::PolicyHandle::new(topology.clone(), cfg.policy.clone());

    let (clock, test_clock) = crate::serve::clock(cfg.test_clock);
    let cluster_tls = meridian_tls::local_cluster(
        &dev_cluster_files(&cfg.data_dir),
        DEV_NODE,
        &dev_cluster_hosts(cfg.cluster_addr),
        crate::serve::wall_time(&clock),
    )
    .context("the cluster port's certificates")?;
    let endpoint_tls = if cfg.tls {
        Some(
            meridian_tls::local_endpoint(
                &dev_endpoint_files(&cfg.data_dir),
                &dev_endpoint_hosts(&cfg),
                crate::serve::wall_time(&clock),
            )
            .context("the endpoints' certificate")?,
        )
    } else {
        None
    };
    let scheme = if cfg.tls { "https" } else { "http" };

    let meta = Arc::new(if cfg.meta_voters == 1 {
        MetaGroup::single(&cfg.data_dir.join("meta"), cfg.cluster_addr.to_string())
            .await
            .context("starting the metadata node")?
    } else {
        MetaGroup::local(
            &cfg.data_dir.join("meta-group"),
            cfg.meta_voters,
            &cluster_tls,
        )
        .await
        .context("starting the metadata group")?
    });
    let data = Arc::new(
        DataPlane::open_local(topology.clone(), &cfg.data_dir, cfg.link_scale, clock)
            .context("opening chunk stores")?
            .with_gc(cfg.gc)
            .with_scrub(cfg.scrub),
    );
    let wake = Arc::new(Notify::new());
    let keyring = Arc::new(
        crate::keyring::Keyring::load_or_create(&cfg.data_dir.join("cluster.key"))
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

    // Bind everything before saying ready.
    let mut s3_listeners = Vec::new();
    for (i, site) in topology.sites().iter().enumerate() {
        let addr = cfg.s3_addr_of(i);
        let l = TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding the S3 endpoint of {} at {addr}", site.name))?;
        s3_listeners.push((site.id.0, site.name.clone(), addr, l));
    }
    let grpc_listeners =
        crate::serve::GrpcListeners::bind(cfg.grpc_addr, cfg.admin_addr, cfg.cluster_addr).await?;

    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|v| *v).await;
    };

    let mut tasks = tokio::task::JoinSet::new();
    let jobs = crate::serve::spawn_jobs(
        (meta.clone(), data.clone(), policy.clone()),
        wake,
        cfg.transfers_per_site,
        &mut tasks,
        stop_rx.clone(),
    );

    let mut endpoints = Vec::new();
    for (site, name, addr, listener) in s3_listeners {
        endpoints.push(format!("{scheme}://{addr}"));
        crate::serve::spawn_s3(
            &mut tasks,
            listener,
            gateway.clone(),
            (site, name),
            crate::serve::S3Endpoint {
                root_keys: (cfg.access_key.clone(), cfg.secret_key.clone()),
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
        crate::tokens::load(&crate::tokens::TokenSettings::dev(&cfg.data_dir))
            .context("the bearer tokens' keys")?;
    let audit = meridian_api::audit::AuditLog::open(&cfg.data_dir.join("audit.log"))
        .context("opening the audit log")?;
    let client_auth = Arc::new(meridian_api::auth::ClientAuth::new(
        gateway.clone(),
        (cfg.access_key.clone(), cfg.secret_key.clone()),
        token_verifier,
        // Requests are stamped by their clients' wall clocks.
        meridian_core::clock::system(),
        audit.clone(),
    ));
    let access_log = cfg.access_log.as_ref().and_then(|a| {
        crate::serve::spawn_access_shipper(
            &gateway,
            a,
            ("dev".into(), cfg.access_key.clone()),
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
        s3_endpoints: topology
            .sites()
            .iter()
            .map(|s| s.id.0)
            .zip(endpoints.iter().cloned())
            .collect(),
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
            gateway: gateway.clone(),
            admin,
            data: data.clone(),
            raft: None,
            cluster_tls,
            endpoint_tls,
            client_auth,
            // The one-process federation publishes as itself; a real
            // centre names itself in `[datasets] publisher`.
            publisher: "Meridian dev federation".into(),
            points: meridian_api::datasets::AccessPoints {
                s3: topology
                    .sites()
                    .iter()
                    .map(|s| s.name.clone())
                    .zip(endpoints.iter().cloned())
                    .collect(),
                grpc: format!("{scheme}://{}", cfg.grpc_addr),
            },
        },
        stop_rx.clone(),
    )
    .await?;

    print_banner(&cfg, &topology, &endpoints);

    crate::serve::shutdown_signal().await;
    tracing::info!("shutting down");
    let _ = stop_tx.send(true);
    crate::serve::drain(tasks).await;
    meta.shutdown()
        .await
        .context("stopping the metadata node")?;
    Ok(())
}

/// The node name of `meridian dev`'s certificate on its cluster port.
pub const DEV_NODE: &str = "dev";

/// Where `meridian dev` keeps its cluster CA and certificate.
pub fn dev_cluster_files(data_dir: &std::path::Path) -> meridian_tls::ClusterFiles {
    meridian_tls::ClusterFiles::new(data_dir.join("tls"))
}

/// Where `meridian dev --tls` keeps the endpoints' CA and certificate.
pub fn dev_endpoint_files(data_dir: &std::path::Path) -> meridian_tls::ClusterFiles {
    meridian_tls::ClusterFiles::new(data_dir.join("tls").join("endpoints"))
}

/// The names clients may reach the dev endpoints by: loopback, the
/// addresses listened on, and the S3 domain with its buckets' names.
fn dev_endpoint_hosts(cfg: &DevConfig) -> Vec<String> {
    let mut hosts = dev_cluster_hosts(cfg.s3_addr);
    for a in [cfg.grpc_addr, cfg.admin_addr] {
        let ip = a.ip().to_string();
        if !a.ip().is_unspecified() && !hosts.contains(&ip) {
            hosts.push(ip);
        }
    }
    if let Some(d) = &cfg.s3_domain {
        hosts.push(d.clone());
        hosts.push(format!("*.{d}"));
    }
    hosts
}

/// The names a caller of the dev cluster port may use for it.
fn dev_cluster_hosts(addr: std::net::SocketAddr) -> Vec<String> {
    let mut hosts = vec!["localhost".to_string(), "127.0.0.1".into(), "::1".into()];
    let ip = addr.ip().to_string();
    if !addr.ip().is_unspecified() && !hosts.contains(&ip) {
        hosts.push(ip);
    }
    hosts
}

fn print_banner(cfg: &DevConfig, topology: &meridian_placement::Topology, endpoints: &[String]) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "Meridian dev federation: {} sites, data in {}",
        topology.sites().len(),
        cfg.data_dir.display()
    );
    for (s, e) in topology.sites().iter().zip(endpoints) {
        let _ = writeln!(out, "  S3 {:<10} {e}", s.name);
    }
    let scheme = if cfg.tls { "https" } else { "http" };
    let _ = writeln!(out, "  gRPC client API  {scheme}://{}", cfg.grpc_addr);
    let _ = writeln!(out, "  gRPC admin API   {scheme}://{}", cfg.admin_addr);
    let tls = dev_cluster_files(&cfg.data_dir);
    let _ = writeln!(
        out,
        "  gRPC cluster     https://{} (mutual TLS: CA {})",
        cfg.cluster_addr,
        tls.ca_cert().display()
    );
    for l in topology.links() {
        let _ = writeln!(
            out,
            "  link {} -> {}: {} Gb/s, emulated at {:.3} Mb/s",
            topology.name(l.from),
            topology.name(l.to),
            l.bandwidth_bps as f64 / 1e9,
            l.bandwidth_bps as f64 * cfg.link_scale / 1e6
        );
    }
    let _ = writeln!(
        out,
        "  metadata: {} Raft voter(s) on RocksDB under {}",
        cfg.meta_voters,
        cfg.data_dir.display()
    );
    let _ = writeln!(out, "  S3 access key: {}", cfg.access_key);
    if cfg.secret_key == crate::dev_config::DEV_SECRET_KEY {
        let _ = writeln!(
            out,
            "  S3 secret key: {} (the documented dev default)",
            cfg.secret_key
        );
    } else {
        let _ = writeln!(out, "  S3 secret key: from MERIDIAN_ROOT_SECRET_KEY");
    }
    let _ = writeln!(
        out,
        "  admin API and gRPC clients: sign with these keys (meridianctl reads \
         MERIDIAN_ACCESS_KEY and MERIDIAN_SECRET_KEY, or ~/.config/meridian/credentials)"
    );
    if cfg.tls {
        let ca = dev_endpoint_files(&cfg.data_dir).ca_cert();
        let ca = ca.display();
        let _ = writeln!(
            out,
            "  TLS: S3 and gRPC certificates are signed by {ca}; trust it with"
        );
        let _ = writeln!(
            out,
            "    aws --ca-bundle {ca} ...   (or AWS_CA_BUNDLE={ca})"
        );
        let _ = writeln!(out, "    boto3.client(\"s3\", verify=\"{ca}\", ...)");
        let _ = writeln!(
            out,
            "    meridianctl --ca-cert {ca} ...   grpcurl -cacert {ca} ..."
        );
    }
    let _ = writeln!(out, "meridian: ready");
    let _ = out.flush();
}
