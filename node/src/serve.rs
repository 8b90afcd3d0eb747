//! What `meridian dev` and `meridian node` serve alike: three gRPC ports
//! (client; admin; cluster: data-node and, in a cluster, Raft; each with
//! health, the first two with reflection of their own services), the S3
//! endpoints, and the signal that stops them.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use futures::StreamExt;
use meridian_api::{DatasetApi, ObjectApi};
use meridian_meta::raft_service::RaftGrpc;
use meridian_objects::Objects;
use meridian_proto::v1::admin_service_server::AdminServiceServer;
use meridian_proto::v1::data_node_service_server::DataNodeServiceServer;
use meridian_proto::v1::dataset_service_server::DatasetServiceServer;
use meridian_proto::v1::object_service_server::ObjectServiceServer;
use meridian_proto::v1::raft_service_server::RaftServiceServer;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tonic::server::NamedService;

use meridian_placement::Topology;
use tokio::sync::Notify;

use crate::admin::AdminApi;
use crate::catalogue::MetaCatalogue;
use crate::datanode::DataNodeApi;
use crate::metagroup::MetaGroup;
use meridian_data::DataPlane;

/// The process's clock: the system's, or (`--test-clock`) one that runs
/// ahead of it by what the admin API's `AdvanceClock` says, with the handle
/// that moves it.
pub fn clock(
    test: bool,
) -> (
    meridian_core::SharedClock,
    Option<Arc<meridian_core::clock::OffsetClock>>,
) {
    if test {
        tracing::warn!("running on a test clock: the admin API can move it forward");
        let c = meridian_core::clock::OffsetClock::new();
        (c.clone(), Some(c))
    } else {
        (meridian_core::clock::system(), None)
    }
}

/// Largest gRPC message: a data frame of a Put is at most this.
const MAX_GRPC_MESSAGE: usize = 16 << 20;
/// HTTP/2 flow control and framing of the client and admin ports.
pub const STREAM_WINDOW: u32 = 4 << 20;
pub const CONNECTION_WINDOW: u32 = 16 << 20;
pub const MAX_FRAME: u32 = 1 << 20;
const KEEPALIVE: Duration = Duration::from_secs(30);
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(20);
/// How long shutdown waits for servers to finish in-flight requests.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// SIGINT or SIGTERM.
pub async fn shutdown_signal() {
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

/// The gateway over the metadata group and the data plane; `wake` tells
/// the replication job about new pending replicas.
pub fn gateway(
    (meta, data): (Arc<MetaGroup>, Arc<DataPlane>),
    topology: Arc<Topology>,
    policy: Arc<crate::placement_policy::PolicyHandle>,
    chunk_size: usize,
    wake: Arc<Notify>,
    keyring: Arc<crate::keyring::Keyring>,
    access_log: Option<Arc<meridian_objects::access_log::AccessLog>>,
) -> Arc<Objects> {
    let clock = data.clock().clone();
    let catalogue = Arc::new(MetaCatalogue::new(
        meta,
        topology.clone(),
        policy,
        wake,
        data.links().clone(),
        keyring,
        clock.clone(),
    ));
    let objects = Objects::new(catalogue, data, topology, chunk_size, clock);
    Arc::new(match access_log {
        Some(l) => objects.with_access_log(l),
        None => objects,
    })
}

/// Where and how long a node keeps its access log, and how often it ships it.
#[derive(Debug, Clone)]
pub struct AccessLogConfig {
    pub dir: std::path::PathBuf,
    pub retention: std::time::Duration,
    pub ship_every: std::time::Duration,
}

/// Starts the job that closes idle facility datasets, every `period`.
pub fn spawn_idle_close(
    meta: Arc<MetaGroup>,
    gateway: &Arc<Objects>,
    period: std::time::Duration,
    tasks: &mut JoinSet<()>,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Arc<crate::jobs::idle_close::IdleClose> {
    let job = crate::jobs::idle_close::IdleClose::new(
        meta,
        gateway.catalogue().clone(),
        gateway.clock().clone(),
        period,
    );
    tasks.spawn(job.clone().run(stop));
    job
}

/// The access log `cfg` asks for (`None`: requests are not tracked).
pub fn open_access_log(
    cfg: Option<&AccessLogConfig>,
) -> anyhow::Result<Option<Arc<meridian_objects::access_log::AccessLog>>> {
    cfg.map(|a| {
        meridian_objects::access_log::AccessLog::start(&a.dir)
            .with_context(|| format!("opening the access log in {}", a.dir.display()))
    })
    .transpose()
}

/// Starts the shipper of `gateway`'s access log (if it has one) as a task.
pub fn spawn_access_shipper(
    gateway: &Arc<Objects>,
    cfg: &AccessLogConfig,
    (node, root_key): (String, String),
    tasks: &mut JoinSet<()>,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Option<(
    Arc<meridian_objects::access_log::AccessLog>,
    Arc<crate::jobs::access_ship::AccessShipper>,
)> {
    let log = gateway.access_log()?.clone();
    let shipper = crate::jobs::access_ship::AccessShipper::new(
        gateway.clone(),
        cfg.dir.clone(),
        (node, root_key),
        (cfg.ship_every, cfg.retention),
        gateway.clock().clone(),
    );
    tasks.spawn(shipper.clone().run(stop));
    Some((log, shipper))
}

/// The background jobs whose progress the admin API reports.
pub struct Jobs {
    pub replicator: Arc<dyn crate::transfer::stats::ReplicationJob>,
    pub reconciler: Arc<crate::jobs::reconcile::Reconciler>,
    pub uploads: Arc<crate::jobs::abandoned_uploads::AbandonedUploads>,
    pub lifecycle: Arc<crate::jobs::bucket_lifecycle::Lifecycle>,
    pub repair: Arc<crate::jobs::repair::Repair>,
}

/// Starts the background jobs both `meridian dev` and `meridian node` run:
/// replication, the reconciler (policy changes, drains), lifetimes, the
/// chunk collector, abandoned uploads, bucket lifecycle rules, and the
/// integrity jobs (the scrubber and the audits of this process's sites,
/// the repair of damaged replicas on the leader).
pub fn spawn_jobs(
    (meta, data, policy): (
        Arc<MetaGroup>,
        Arc<DataPlane>,
        Arc<crate::placement_policy::PolicyHandle>,
    ),
    wake: Arc<Notify>,
    concurrency: usize,
    tasks: &mut JoinSet<()>,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Jobs {
    let reconciler = crate::jobs::reconcile::Reconciler::new(
        meta.clone(),
        data.clone(),
        policy.clone(),
        wake.clone(),
    );
    tasks.spawn(reconciler.clone().run(stop.clone()));
    tasks.spawn(
        crate::jobs::expiry::Expirer::new(meta.clone(), data.clock().clone()).run(stop.clone()),
    );
    tasks.spawn(
        meridian_data::Collector::new(
            crate::jobs::reclaim_queue::CatalogueQueue::new(meta.clone()),
            data.clone(),
        )
        .run(stop.clone()),
    );
    let gc = *data.gc();
    let clock = data.clock().clone();
    let uploads = crate::jobs::abandoned_uploads::AbandonedUploads::new(
        meta.clone(),
        clock.clone(),
        gc.abandoned_uploads,
        gc.period,
    );
    tasks.spawn(uploads.clone().run(stop.clone()));
    let lifecycle = crate::jobs::bucket_lifecycle::Lifecycle::new(meta.clone(), clock, &gc);
    tasks.spawn(lifecycle.clone().run(stop.clone()));
    let integrity =
        crate::jobs::integrity::IntegrityCatalogue::new(meta.clone(), data.clock().clone());
    tasks.spawn(
        meridian_data::Scrubber::new(integrity.clone(), data.clone(), *data.scrub())
            .run(stop.clone()),
    );
    tasks.spawn(meridian_data::audit::Auditor::new(integrity, data.clone()).run(stop.clone()));
    let sites = data.topology().sites().iter().map(|s| s.id.0).collect();
    let repair =
        crate::jobs::repair::Repair::new(meta.clone(), sites, data.clock().clone(), wake.clone());
    tasks.spawn(repair.clone().run(stop.clone()));
    let replicator = crate::transfer::spawn(
        crate::transfer::Mode::Planned,
        (meta, data, policy),
        wake,
        concurrency,
        tasks,
        stop,
    );
    Jobs {
        replicator,
        reconciler,
        uploads,
        lifecycle,
        repair,
    }
}

/// The listeners a node serves gRPC on, each for its own callers: experiment
/// software on `client`, administrators on `admin`, the other members of
/// the cluster on `cluster` (Raft, forwarded writes, chunk reads). Nothing
/// internal is reachable on the client port.
pub struct GrpcListeners {
    pub client: TcpListener,
    pub admin: TcpListener,
    pub cluster: TcpListener,
}

impl GrpcListeners {
    /// Binds the three addresses (before the process says it is ready).
    pub async fn bind(
        client: std::net::SocketAddr,
        admin: std::net::SocketAddr,
        cluster: std::net::SocketAddr,
    ) -> anyhow::Result<Self> {
        let bind = |addr, what: &'static str| async move {
            TcpListener::bind(addr)
                .await
                .with_context(|| format!("binding the {what} gRPC port at {addr}"))
        };
        Ok(GrpcListeners {
            client: bind(client, "client").await?,
            admin: bind(admin, "admin").await?,
            cluster: bind(cluster, "cluster").await?,
        })
    }
}

/// Reflection that lists `services` only (and health).
fn reflection(
    services: &[&str],
) -> anyhow::Result<
    tonic_reflection::server::v1::ServerReflectionServer<
        impl tonic_reflection::server::v1::ServerReflection,
    >,
> {
    let mut b = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(meridian_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .with_service_name("grpc.health.v1.Health");
    for s in services {
        b = b.with_service_name(*s);
    }
    b.build_v1().context("building gRPC reflection")
}

/// Serves `router` on `listener` as a task of `tasks`.
fn spawn_router(
    tasks: &mut JoinSet<()>,
    listener: TcpListener,
    router: tonic::transport::server::Router,
    what: &'static str,
    stop: impl Future<Output = ()> + Send + 'static,
) {
    // Raft heartbeats, read indexes and small answers are latency-bound:
    // with Nagle's algorithm each waits out the peer's delayed ACK (40 ms).
    // The builder's own setting applies only to listeners it binds.
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener).map(|s| {
        s.and_then(|s| {
            s.set_nodelay(true)?;
            Ok(s)
        })
    });
    let serving = router.serve_with_incoming_shutdown(incoming, stop);
    tasks.spawn(async move {
        if let Err(e) = serving.await {
            tracing::error!(error = %e, port = what, "gRPC server failed");
        }
    });
}

/// What the three gRPC ports serve.
pub struct GrpcServices {
    pub gateway: Arc<Objects>,
    pub admin: AdminApi,
    pub data: Arc<DataPlane>,
    /// The Raft service, in a cluster.
    pub raft: Option<RaftServiceServer<RaftGrpc>>,
    /// The cluster port's identity: mutual TLS under the cluster CA.
    pub cluster_tls: meridian_tls::ClusterTls,
    /// The client and admin ports' certificate; `None`: plain HTTP/2.
    pub endpoint_tls: Option<meridian_tls::EndpointTls>,
    /// Who may call the client API.
    pub client_auth: Arc<meridian_api::auth::ClientAuth>,
    /// DataCite's publisher in dataset exports (empty: unset).
    pub publisher: String,
    /// Where this node serves data, for data cards.
    pub points: meridian_api::datasets::AccessPoints,
}

/// Starts the client, admin and cluster gRPC servers as tasks of `tasks`;
/// each stops once `stop` turns true.
pub async fn spawn_grpc(
    tasks: &mut JoinSet<()>,
    listeners: GrpcListeners,
    services: GrpcServices,
    stop: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let stop = || {
        let mut rx = stop.clone();
        async move {
            let _ = rx.wait_for(|v| *v).await;
        }
    };
    let health = |names: &'static [&'static str]| async move {
        let (reporter, service) = tonic_health::server::health_reporter();
        for name in names {
            reporter
                .set_service_status(*name, tonic_health::ServingStatus::Serving)
                .await;
        }
        service
    };
    // Bulk streams: HTTP/2's default 64 KiB windows and 16 KiB frames
    // would cut a 64 MiB Put into 4,096 frames (and as many TLS records)
    // and stall it on window updates.
    let server = || {
        // Keepalive pings find a client that vanished without a word (a
        // cut cable, a stalled link), which would else hold a stream open
        // until its idle timeout, or a Get blocked on its window forever.
        let b = tonic::transport::Server::builder()
            .initial_stream_window_size(STREAM_WINDOW)
            .initial_connection_window_size(CONNECTION_WINDOW)
            .max_frame_size(MAX_FRAME)
            .http2_keepalive_interval(Some(KEEPALIVE))
            .http2_keepalive_timeout(Some(KEEPALIVE_TIMEOUT));
        match &services.endpoint_tls {
            Some(t) => b
                .tls_config(t.grpc())
                .context("the client and admin ports' TLS"),
            None => Ok(b),
        }
    };
    let client = server()?
        .add_service(health(&[CLIENT_SERVICE, DATASET_SERVICE]).await)
        .add_service(reflection(&[CLIENT_SERVICE, DATASET_SERVICE])?)
        .add_service(
            ObjectServiceServer::new(ObjectApi::new(
                services.gateway.clone(),
                services.client_auth.clone(),
            ))
            .max_decoding_message_size(MAX_GRPC_MESSAGE)
            .max_encoding_message_size(MAX_GRPC_MESSAGE),
        )
        .add_service(DatasetServiceServer::new(DatasetApi::new(
            services.gateway,
            services.client_auth.clone(),
            services.publisher,
            services.points,
        )));
    spawn_router(tasks, listeners.client, client, "client", stop());
    let admin = server()?
        .add_service(health(&[ADMIN_SERVICE]).await)
        .add_service(reflection(&[ADMIN_SERVICE])?)
        .add_service(meridian_api::auth::gate::AdminGate::new(
            AdminServiceServer::new(services.admin),
            services.client_auth.clone(),
        ));
    spawn_router(tasks, listeners.admin, admin, "admin", stop());
    // A caller without a certificate of the cluster CA is refused in the
    // handshake, before any of these services sees a request.
    let cluster = tonic::transport::Server::builder()
        .tls_config(services.cluster_tls.server())
        .context("the cluster port's TLS")?
        .add_service(health(&[DATA_NODE_SERVICE]).await)
        .add_service(
            DataNodeServiceServer::new(DataNodeApi {
                data: services.data,
            })
            .max_encoding_message_size(MAX_GRPC_MESSAGE),
        )
        .add_optional_service(services.raft);
    spawn_router(tasks, listeners.cluster, cluster, "cluster", stop());
    Ok(())
}

const CLIENT_SERVICE: &str = <ObjectServiceServer<ObjectApi> as NamedService>::NAME;
const DATASET_SERVICE: &str = <DatasetServiceServer<DatasetApi> as NamedService>::NAME;
const ADMIN_SERVICE: &str = <AdminServiceServer<AdminApi> as NamedService>::NAME;
const DATA_NODE_SERVICE: &str = <DataNodeServiceServer<DataNodeApi> as NamedService>::NAME;

/// The wall-clock time `clock` reads, as certificates are dated.
pub fn wall_time(clock: &meridian_core::SharedClock) -> std::time::SystemTime {
    let ms = u64::try_from(clock.now_ms()).unwrap_or(0);
    std::time::SystemTime::UNIX_EPOCH + Duration::from_millis(ms)
}

/// Starts one site's S3 endpoint on `listener` as a task of `tasks`.
/// What an S3 endpoint is served with (the gateway's settings).
pub use meridian_gateway::s3::EndpointConfig as S3Endpoint;

pub fn spawn_s3(
    tasks: &mut JoinSet<()>,
    listener: TcpListener,
    gateway: Arc<Objects>,
    (site, name): (u32, String),
    cfg: S3Endpoint,
    stop: impl Future<Output = ()> + Send + 'static,
) {
    tasks.spawn(async move {
        meridian_gateway::s3::serve(listener, gateway, site, cfg, stop).await;
        tracing::info!(site = %name, "S3 endpoint stopped");
    });
}

/// Waits (bounded by the grace period) for every task to finish.
pub async fn drain(mut tasks: JoinSet<()>) {
    let all = async { while tasks.join_next().await.is_some() {} };
    if tokio::time::timeout(SHUTDOWN_GRACE, all).await.is_err() {
        tracing::warn!("servers did not stop within {SHUTDOWN_GRACE:?}; stopping anyway");
    }
}
