//! Command line of the `meridian` binary.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use meridian_placement::{Policy, Topology};

use crate::dev_config::{
    DevConfig, DEFAULT_POLICY, DEFAULT_TOPOLOGY, DEV_ACCESS_KEY, DEV_SECRET_KEY,
};
use crate::size::parse_size;

#[derive(Parser, Debug)]
#[command(
    name = "meridian",
    version,
    about = "Meridian: distributed storage and replication across sites"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the whole federation (every site and role) in one process.
    Dev(DevArgs),
    /// Run one node of a multi-process cluster, as its TOML file says
    /// (see docs/examples/cluster/).
    Node(NodeArgs),
    /// An MCP server for AI agents over the client API: over stdio as the
    /// user of MERIDIAN_ACCESS_KEY/MERIDIAN_SECRET_KEY (or MERIDIAN_TOKEN),
    /// or over streamable HTTP (--http) as whoever's bearer token comes
    /// with each request.
    Mcp(McpArgs),
}

#[derive(Args, Debug)]
pub struct McpArgs {
    /// The client gRPC API.
    #[arg(
        long,
        env = "MERIDIAN_CLIENT_ENDPOINT",
        default_value = "http://127.0.0.1:50051"
    )]
    pub endpoint: String,
    /// The CA of an https endpoint's certificate (PEM).
    #[arg(long, env = "MERIDIAN_CA_CERT")]
    pub ca_cert: Option<PathBuf>,
    /// Serve streamable HTTP at http://ADDR/mcp instead of stdio.
    #[arg(long)]
    pub http: Option<std::net::SocketAddr>,
    /// The S3 endpoint presigned download URLs point at.
    #[arg(long)]
    pub s3_endpoint: Option<String>,
    #[arg(long, default_value = meridian_core::regions::DEFAULT_REGION)]
    pub s3_region: String,
    /// Offer tools that change things (still within the user's rights).
    #[arg(long)]
    pub allow_writes: bool,
}

#[derive(Args, Debug)]
pub struct NodeArgs {
    /// The node's configuration file.
    #[arg(long)]
    pub config: PathBuf,
    /// Run on a clock the admin API can move forward, for tests that make
    /// things old without waiting. Never in production.
    #[arg(long, hide = true)]
    pub test_clock: bool,
}

#[derive(Args, Debug)]
pub struct DevArgs {
    /// Where the catalogue and every site's chunks live.
    #[arg(long, default_value = "./meridian-data")]
    pub data_dir: PathBuf,
    /// S3 endpoint of the first site; the others take the following ports in topology order.
    #[arg(long, default_value = "127.0.0.1:9000")]
    pub s3_addr: SocketAddr,
    /// Client gRPC API (experiment software).
    #[arg(long, default_value = "127.0.0.1:50051")]
    pub grpc_addr: SocketAddr,
    /// Admin gRPC API (meridianctl).
    #[arg(long, default_value = "127.0.0.1:50052")]
    pub admin_addr: SocketAddr,
    /// The cluster's own gRPC traffic (data-node chunk reads, Raft).
    #[arg(long, default_value = "127.0.0.1:50053")]
    pub cluster_addr: SocketAddr,
    /// Multiplies every link's bandwidth (0.001: the 2 Gb/s link carries 2 Mb/s).
    #[arg(long, default_value_t = 0.001)]
    pub link_scale: f64,
    /// Chunk size (e.g. 4MiB, 262144).
    #[arg(long, default_value = "4MiB", value_parser = parse_size)]
    pub chunk_size: u64,
    /// Topology file (TOML); the five sites of the brief if absent.
    #[arg(long)]
    pub topology: Option<PathBuf>,
    /// Placement policy file (TOML); three copies if absent.
    #[arg(long)]
    pub policy: Option<PathBuf>,
    /// Transfers in flight per link.
    #[arg(long, default_value_t = 4)]
    pub transfers_per_site: usize,
    /// Metadata voters: 1, or 3 (or 5) in this process over loopback gRPC.
    #[arg(long, default_value_t = 1)]
    pub meta_voters: u64,
    /// An unreferenced chunk's file is removed once nothing has written or
    /// used it for this long (e.g. 1h, 90s).
    #[arg(long, default_value = "1h", value_parser = parse_secs)]
    pub gc_grace: std::time::Duration,
    /// Pause between passes of the chunk collector.
    #[arg(long, default_value = "30s", value_parser = parse_secs)]
    pub gc_period: std::time::Duration,
    /// A multipart upload neither completed nor aborted for this long is
    /// aborted and its parts reclaimed.
    #[arg(long, default_value = "7d", value_parser = parse_secs)]
    pub abandoned_uploads: std::time::Duration,
    /// Bytes per second the scrubber re-reads and re-hashes at each site
    /// (e.g. 32MiB, 100MB); 0 turns it off.
    #[arg(long, default_value = "32MiB", value_parser = crate::size::parse_size)]
    pub scrub_rate: u64,
    /// Pause after a full scrub pass before the next.
    #[arg(long, default_value = "1h", value_parser = parse_secs)]
    pub scrub_rest: std::time::Duration,
    /// Pause between passes of the bucket lifecycle job.
    #[arg(long, default_value = "10m", value_parser = parse_secs)]
    pub lifecycle_period: std::time::Duration,
    /// The length of a lifecycle rule's day. For tests and demos only (a
    /// rule's "1 day" then passes in this time).
    #[arg(long, default_value = "1d", value_parser = parse_secs, hide = true)]
    pub lifecycle_day: std::time::Duration,
    /// Versions the lifecycle job looks at per bucket before it pauses
    /// (tests use a few, to cut walks short).
    #[arg(long, default_value_t = 100_000, hide = true)]
    pub lifecycle_walk: usize,
    /// Accept virtual-host addressing under this domain (`BUCKET.DOMAIN`),
    /// besides path style.
    #[arg(long)]
    pub s3_domain: Option<String>,
    /// The region S3 clients sign for by default; each site is a region
    /// too (its name in lower case) and is accepted everywhere.
    #[arg(long, default_value = meridian_core::regions::DEFAULT_REGION)]
    pub s3_region: String,
    /// Refuse SigV2 signatures (headers and presigned URLs), as AWS regions
    /// that take SigV4 only do.
    #[arg(long)]
    pub no_sigv2: bool,
    /// Run on a clock the admin API can move forward, for tests that make
    /// things old without waiting.
    #[arg(long, hide = true)]
    pub test_clock: bool,
    /// Serve S3 and the client and admin gRPC APIs over TLS, with a
    /// certificate made (first start) under a CA in <data-dir>/tls/endpoints/;
    /// the banner says how clients trust it.
    #[arg(long)]
    pub tls: bool,
    /// Track no object requests (no access log, no access reports).
    #[arg(long)]
    pub no_access_log: bool,
    /// Access log segments (hourly, JSON lines, in <data-dir>/access/) are
    /// deleted this long after they were shipped.
    #[arg(long, default_value = "30d", value_parser = parse_secs)]
    pub access_retention: std::time::Duration,
    /// How often the access log is shipped to the catalogue.
    #[arg(long, default_value = "10s", value_parser = parse_secs)]
    pub access_ship_every: std::time::Duration,
}

fn parse_secs(text: &str) -> Result<std::time::Duration, String> {
    meridian_placement::parse_duration(text).map(std::time::Duration::from_secs)
}

fn read(path: &Option<PathBuf>, default: &str) -> anyhow::Result<(String, String)> {
    match path {
        Some(p) => Ok((
            std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?,
            p.display().to_string(),
        )),
        None => Ok((default.to_string(), "embedded default".to_string())),
    }
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_string())
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,openraft=warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    match cli.command {
        Command::Mcp(a) => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("starting the tokio runtime")?;
            rt.block_on(crate::mcp::run(a))
        }
        Command::Node(a) => {
            let mut cfg = crate::node_config::NodeConfig::load(&a.config)?;
            cfg.test_clock = a.test_clock;
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("starting the tokio runtime")?;
            // A node has no default administrator: the dev key is public.
            let root = |name: &str| {
                std::env::var(name)
                    .ok()
                    .filter(|v| !v.is_empty())
                    .with_context(|| {
                        format!(
                            "{name} is not set: `meridian node` takes the administrator's key \
                             from MERIDIAN_ROOT_ACCESS_KEY and MERIDIAN_ROOT_SECRET_KEY"
                        )
                    })
            };
            let (access_key, secret_key) = (
                root("MERIDIAN_ROOT_ACCESS_KEY")?,
                root("MERIDIAN_ROOT_SECRET_KEY")?,
            );
            if secret_key == DEV_SECRET_KEY {
                tracing::warn!(
                    "the administrator's secret is meridian dev's documented default: \
                     anyone can act as the administrator"
                );
            }
            rt.block_on(crate::member::run(cfg, access_key, secret_key))
        }
        Command::Dev(a) => {
            let (text, origin) = read(&a.topology, DEFAULT_TOPOLOGY)?;
            let topology = Topology::from_toml(&text, &origin)?;
            let (text, origin) = read(&a.policy, DEFAULT_POLICY)?;
            let policy = Policy::from_toml(&text, &origin, &topology)?;
            let access_dir = a.data_dir.join("access");
            let cfg = DevConfig {
                data_dir: a.data_dir,
                s3_addr: a.s3_addr,
                grpc_addr: a.grpc_addr,
                admin_addr: a.admin_addr,
                cluster_addr: a.cluster_addr,
                link_scale: a.link_scale,
                chunk_size: usize::try_from(a.chunk_size).context("--chunk-size")?,
                topology,
                policy,
                access_key: env_or("MERIDIAN_ROOT_ACCESS_KEY", DEV_ACCESS_KEY),
                secret_key: env_or("MERIDIAN_ROOT_SECRET_KEY", DEV_SECRET_KEY),
                transfers_per_site: a.transfers_per_site,
                meta_voters: a.meta_voters,
                gc: meridian_data::GcConfig {
                    grace: a.gc_grace,
                    period: a.gc_period,
                    abandoned_uploads: a.abandoned_uploads,
                    lifecycle_period: a.lifecycle_period,
                    lifecycle_day: a.lifecycle_day,
                    lifecycle_walk: a.lifecycle_walk,
                },
                scrub: meridian_data::ScrubConfig {
                    rate: a.scrub_rate,
                    rest: a.scrub_rest,
                    ..meridian_data::ScrubConfig::default()
                },
                s3_domain: a.s3_domain,
                s3_region: a.s3_region,
                s3_sigv2: !a.no_sigv2,
                test_clock: a.test_clock,
                tls: a.tls,
                access_log: (!a.no_access_log).then_some(crate::serve::AccessLogConfig {
                    dir: access_dir,
                    retention: a.access_retention,
                    ship_every: a.access_ship_every,
                }),
            };
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("starting the tokio runtime")?;
            rt.block_on(crate::dev::run(cfg))
        }
    }
}
