//! `meridian dev`: every role of every site in one process.
//!
//! One metadata node (a single-voter openraft group on RocksDB), one chunk
//! store per site, the emulated links between them, the replication job, an
//! S3 endpoint per site and one gRPC endpoint for the client, admin and
//! data-node APIs. The same components run in production; only the wiring
//! is in one process.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use meridian_gateway::grpc::ObjectApi;
use meridian_gateway::Gateway;
use meridian_proto::v1::admin_service_server::AdminServiceServer;
use meridian_proto::v1::data_node_service_server::DataNodeServiceServer;
use meridian_proto::v1::object_service_server::ObjectServiceServer;
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};

use crate::admin::AdminApi;
use crate::catalogue::MetaCatalogue;
use crate::config::DevConfig;
use crate::data::DataPlane;
use crate::datanode::DataNodeApi;
use crate::metagroup::MetaGroup;
use crate::replicator::Replicator;

/// Largest gRPC message: a data frame of a Put is at most this.
const MAX_GRPC_MESSAGE: usize = 16 << 20;
/// How long shutdown waits for servers to finish in-flight requests.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

pub async fn run(cfg: DevConfig) -> anyhow::Result<()> {
    cfg.validate().map_err(anyhow::Error::msg)?;
    std::fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("creating {}", cfg.data_dir.display()))?;
    let topology = Arc::new(cfg.topology.clone());
    let policy = Arc::new(cfg.policy.clone());

    let meta = Arc::new(if cfg.meta_voters == 1 {
        MetaGroup::single(&cfg.data_dir.join("meta"), cfg.grpc_addr.to_string())
            .await
            .context("starting the metadata node")?
    } else {
        MetaGroup::local(&cfg.data_dir.join("meta-group"), cfg.meta_voters)
            .await
            .context("starting the metadata group")?
    });
    let data = Arc::new(
        DataPlane::open_local(topology.clone(), &cfg.data_dir, cfg.link_scale)
            .context("opening chunk stores")?,
    );
    let wake = Arc::new(Notify::new());
    let catalogue = Arc::new(MetaCatalogue::new(
        meta.clone(),
        topology.clone(),
        policy,
        wake.clone(),
    ));
    let gateway = Arc::new(Gateway::new(
        catalogue,
        data.clone(),
        topology.clone(),
        cfg.chunk_size,
    ));

    // Bind everything before saying ready.
    let mut s3_listeners = Vec::new();
    for (i, site) in topology.sites().iter().enumerate() {
        let addr = cfg.s3_addr_of(i);
        let l = TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding the S3 endpoint of {} at {addr}", site.name))?;
        s3_listeners.push((site.id.0, site.name.clone(), addr, l));
    }
    let grpc_listener = TcpListener::bind(cfg.grpc_addr)
        .await
        .with_context(|| format!("binding gRPC at {}", cfg.grpc_addr))?;

    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|v| *v).await;
    };

    let replicator = Replicator::new(meta.clone(), data.clone(), wake, cfg.transfers_per_site);
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(replicator.clone().run(stop_rx.clone()));

    let mut endpoints = Vec::new();
    for (site, name, addr, listener) in s3_listeners {
        endpoints.push(format!("http://{addr}"));
        let gw = gateway.clone();
        let (ak, sk) = (cfg.access_key.clone(), cfg.secret_key.clone());
        let stop = stopped(stop_rx.clone());
        tasks.spawn(async move {
            meridian_gateway::s3::serve(listener, gw, site, ak, sk, stop).await;
            tracing::info!(site = %name, "S3 endpoint stopped");
        });
    }

    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_serving::<ObjectServiceServer<ObjectApi>>().await;
    health.set_serving::<AdminServiceServer<AdminApi>>().await;
    health
        .set_serving::<DataNodeServiceServer<DataNodeApi>>()
        .await;
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(meridian_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .context("building gRPC reflection")?;
    let admin = AdminApi {
        meta: meta.clone(),
        data: data.clone(),
        gateway: gateway.clone(),
        replicator: replicator.clone(),
        s3_endpoints: endpoints.clone(),
    };
    let grpc = tonic::transport::Server::builder()
        .add_service(health_service)
        .add_service(reflection)
        .add_service(
            ObjectServiceServer::new(ObjectApi::new(gateway.clone()))
                .max_decoding_message_size(MAX_GRPC_MESSAGE)
                .max_encoding_message_size(MAX_GRPC_MESSAGE),
        )
        .add_service(AdminServiceServer::new(admin))
        .add_service(
            DataNodeServiceServer::new(DataNodeApi { data: data.clone() })
                .max_encoding_message_size(MAX_GRPC_MESSAGE),
        )
        .serve_with_incoming_shutdown(
            tokio_stream::wrappers::TcpListenerStream::new(grpc_listener),
            stopped(stop_rx.clone()),
        );
    tasks.spawn(async move {
        if let Err(e) = grpc.await {
            tracing::error!(error = %e, "gRPC server failed");
        }
    });

    print_banner(&cfg, &topology, &endpoints);

    shutdown_signal().await;
    tracing::info!("shutting down");
    let _ = stop_tx.send(true);
    let drain = async { while tasks.join_next().await.is_some() {} };
    if tokio::time::timeout(SHUTDOWN_GRACE, drain).await.is_err() {
        tracing::warn!("servers did not stop within {SHUTDOWN_GRACE:?}; stopping anyway");
    }
    meta.shutdown()
        .await
        .context("stopping the metadata node")?;
    Ok(())
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
    let _ = writeln!(
        out,
        "  gRPC (client, admin, data-node, health, reflection)  http://{}",
        cfg.grpc_addr
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
    if cfg.secret_key == crate::config::DEV_SECRET_KEY {
        let _ = writeln!(
            out,
            "  S3 secret key: {} (the documented dev default)",
            cfg.secret_key
        );
    } else {
        let _ = writeln!(out, "  S3 secret key: from MERIDIAN_ROOT_SECRET_KEY");
    }
    let _ = writeln!(out, "meridian: ready");
    let _ = out.flush();
}
