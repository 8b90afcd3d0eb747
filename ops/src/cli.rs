use anyhow::Context;
use clap::{Parser, Subcommand};
use meridian_proto::v1::admin_service_client::AdminServiceClient;
use meridian_proto::v1::{
    BucketsRequest, MetaAddLearnerRequest, MetaMembersRequest, MetaNodeRequest, PolicyApplyRequest,
    PolicyShowRequest, ReplicationStatusRequest, SiteDrainRequest, StatRequest, StatusRequest,
};

use crate::{render, render_replication};

#[derive(Parser, Debug)]
#[command(
    name = "meridianctl",
    version,
    about = "Administer a Meridian federation"
)]
pub struct Cli {
    /// Admin gRPC endpoint.
    #[arg(
        long,
        global = true,
        env = "MERIDIAN_ENDPOINT",
        default_value = "http://127.0.0.1:50052"
    )]
    pub endpoint: String,
    /// Client gRPC endpoint (datasets are a client API: the caller acts as
    /// the user whose key signs).
    #[arg(
        long,
        global = true,
        env = "MERIDIAN_CLIENT_ENDPOINT",
        default_value = "http://127.0.0.1:50051"
    )]
    pub client_endpoint: String,
    /// The CA that signed an https endpoint's certificate (PEM), if not
    /// one the system trusts.
    #[arg(long, global = true, env = "MERIDIAN_CA_CERT")]
    pub ca_cert: Option<std::path::PathBuf>,
    /// Print JSON for scripts instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Sites, links, Raft state, objects per site and replication backlog.
    Status,
    /// Buckets with their object counts and sizes.
    Buckets,
    /// Objects.
    Object {
        #[command(subcommand)]
        command: ObjectCommand,
    },
    /// The metadata plane's Raft group.
    Meta {
        #[command(subcommand)]
        command: MetaCommand,
    },
    /// Replication backlog and progress.
    Replication {
        #[command(subcommand)]
        command: ReplicationCommand,
    },
    /// The placement policy.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// Sites.
    Site {
        #[command(subcommand)]
        command: SiteCommand,
    },
    /// S3 users.
    User {
        #[command(subcommand)]
        command: crate::access::UserCommand,
    },
    /// Users' S3 access keys.
    Key {
        #[command(subcommand)]
        command: crate::access::KeyCommand,
    },
    /// A bucket's owner, grants and policy.
    Bucket {
        #[command(subcommand)]
        command: crate::access::BucketCommand,
    },
    /// Chunk stores audited against the catalogue (`audit run`, `audit
    /// report`); without a subcommand, the answering node's audit log:
    /// admin changes and refused calls.
    Audit {
        #[command(subcommand)]
        command: Option<crate::integrity::AuditCommand>,
        /// The last N events.
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// Only events at or after this time (ms since the Unix epoch).
        #[arg(long, default_value_t = 0)]
        since_ms: i64,
    },
    /// Each site's scrubber (chunks re-read and re-hashed).
    Scrub {
        #[command(subcommand)]
        command: crate::integrity::ScrubCommand,
    },
    /// Bearer tokens for batch jobs.
    Token {
        #[command(subcommand)]
        command: crate::access::TokenCommand,
    },
    /// Datasets: create, describe, attach files, publish, metadata, grants
    /// (over the client API, as the signing key's user).
    Dataset {
        #[command(subcommand)]
        command: crate::dataset::DatasetCommand,
    },
    /// Who read and wrote a dataset's files (over the client API).
    Access {
        #[command(subcommand)]
        command: crate::dataset::AccessCommand,
    },
    /// The cluster CA and the nodes' certificates (offline: files only).
    Cluster {
        #[command(subcommand)]
        command: crate::cluster::ClusterCommand,
    },
}

#[derive(Subcommand, Debug)]
pub enum ReplicationCommand {
    /// Backlog, throughput and ETA per link; lag per site; the planner's
    /// round against its lower bound.
    Status,
}

#[derive(Subcommand, Debug)]
pub enum PolicyCommand {
    /// The rules in force, in the order they are tried.
    Show,
    /// Make FILE the policy of every node: copies first, then drops, never
    /// below a rule's count. With --dry-run, only say what would change.
    Apply {
        file: std::path::PathBuf,
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum SiteCommand {
    /// Move every replica off site NAME (within policy); --undo lets it
    /// take copies again.
    Drain {
        name: String,
        #[arg(long)]
        dry_run: bool,
        #[arg(long)]
        undo: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum MetaCommand {
    /// Members, their roles, the leader, and how far each has caught up.
    Members,
    /// Add node ID, whose Raft gRPC server is at ADDR (host:port), as a
    /// learner; returns once it has caught up.
    AddLearner { id: u64, addr: String },
    /// Make learner ID a voter.
    Promote { id: u64 },
    /// Remove node ID from the group.
    Remove { id: u64 },
}

#[derive(Subcommand, Debug)]
pub enum ObjectCommand {
    /// Size, BLAKE3, ETag and the replica map of one object.
    Stat { bucket: String, key: String },
    /// The placement rule that governs one object, the sites it chooses and why.
    Explain { bucket: String, key: String },
}

/// JSON for scripts, a table for people.
fn show<T>(
    json: bool,
    v: &T,
    as_json: fn(&T) -> serde_json::Value,
    as_table: fn(&T) -> String,
) -> String {
    if json {
        as_json(v).to_string()
    } else {
        as_table(v)
    }
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let out = match cli.command {
        // Files only: no node need be up.
        Command::Cluster { command } => crate::cluster::run(command)?,
        command @ (Command::Dataset { .. } | Command::Access { .. }) => {
            let creds = crate::credentials::resolve(|n| std::env::var(n).ok())?;
            let channel = connect(&cli.client_endpoint, cli.ca_cert.as_deref()).await?;
            let signed = meridian_api::auth::client::SigningChannel::new(
                channel,
                &creds.access_key,
                &creds.secret_key,
                meridian_core::clock::system(),
            );
            let mut client =
                meridian_proto::v1::dataset_service_client::DatasetServiceClient::new(signed);
            let done = match command {
                Command::Access { command } => {
                    crate::dataset::access(&mut client, cli.json, command).await
                }
                Command::Dataset { command } => {
                    crate::dataset::run(&mut client, cli.json, command).await
                }
                _ => anyhow::bail!("not a client API command"),
            };
            done.map_err(|e| e.context(format!("(credentials from {})", creds.source)))?
        }
        command => {
            let creds = crate::credentials::resolve(|n| std::env::var(n).ok())?;
            let channel = connect(&cli.endpoint, cli.ca_cert.as_deref()).await?;
            let signed = meridian_api::auth::client::SigningChannel::new(
                channel,
                &creds.access_key,
                &creds.secret_key,
                meridian_core::clock::system(),
            );
            call(AdminServiceClient::new(signed), cli.json, command)
                .await
                .map_err(|e| e.context(format!("(credentials from {})", creds.source)))?
        }
    };
    println!("{out}");
    Ok(())
}

/// A channel to the admin API at `endpoint`: over TLS for https, trusting
/// `ca` or else the system's roots.
async fn connect(
    endpoint: &str,
    ca: Option<&std::path::Path>,
) -> anyhow::Result<tonic::transport::Channel> {
    let mut ep = tonic::transport::Endpoint::from_shared(endpoint.to_string())
        .with_context(|| format!("the endpoint {endpoint:?}"))?;
    if endpoint.starts_with("https://") {
        let tls = tonic::transport::ClientTlsConfig::new();
        let tls = match ca {
            Some(p) => tls.ca_certificate(tonic::transport::Certificate::from_pem(
                std::fs::read(p).with_context(|| format!("reading {}", p.display()))?,
            )),
            None => tls.with_native_roots(),
        };
        ep = ep.tls_config(tls).context("TLS for the endpoint")?;
    }
    ep.connect()
        .await
        .with_context(|| format!("connecting to {endpoint}"))
}

/// A command answered by the admin API.
async fn call(mut client: crate::Admin, json: bool, command: Command) -> anyhow::Result<String> {
    let out = match command {
        Command::User { command } => crate::access::user(&mut client, json, command).await?,
        Command::Key { command } => crate::access::key(&mut client, json, command).await?,
        Command::Token { command } => crate::access::token(&mut client, json, command).await?,
        Command::Scrub { command } => crate::integrity::scrub(&mut client, json, command).await?,
        Command::Audit {
            command: Some(command),
            ..
        } => crate::integrity::audit(&mut client, json, command).await?,
        Command::Audit {
            command: None,
            limit,
            since_ms,
        } => {
            let a = client
                .audit_tail(meridian_proto::v1::AuditTailRequest { limit, since_ms })
                .await
                .map_err(render::status_error)?
                .into_inner();
            show(json, &a, render::audit_json, render::audit_table)
        }
        Command::Bucket { command } => crate::access::bucket(&mut client, json, command).await?,
        Command::Status => {
            let s = client
                .status(StatusRequest {})
                .await
                .map_err(render::status_error)?
                .into_inner();
            show(json, &s, render::status_json, render::status_table)
        }
        Command::Buckets => {
            let b = client
                .buckets(BucketsRequest {})
                .await
                .map_err(render::status_error)?
                .into_inner();
            show(json, &b, render::buckets_json, render::buckets_table)
        }
        Command::Meta { command } => {
            let m = match command {
                MetaCommand::Members => client.meta_members(MetaMembersRequest {}).await,
                MetaCommand::AddLearner { id, addr } => {
                    client
                        .meta_add_learner(MetaAddLearnerRequest { id, addr })
                        .await
                }
                MetaCommand::Promote { id } => client.meta_promote(MetaNodeRequest { id }).await,
                MetaCommand::Remove { id } => client.meta_remove(MetaNodeRequest { id }).await,
            }
            .map_err(render::status_error)?
            .into_inner();
            show(json, &m, render::members_json, render::members_table)
        }
        Command::Replication {
            command: ReplicationCommand::Status,
        } => {
            let r = client
                .replication_status(ReplicationStatusRequest {})
                .await
                .map_err(render::status_error)?
                .into_inner();
            show(
                json,
                &r,
                render_replication::replication_json,
                render_replication::replication_table,
            )
        }
        Command::Policy {
            command: PolicyCommand::Show,
        } => {
            let p = client
                .policy_show(PolicyShowRequest {})
                .await
                .map_err(render::status_error)?
                .into_inner();
            show(
                json,
                &p,
                render_replication::policy_json,
                render_replication::policy_table,
            )
        }
        Command::Policy {
            command: PolicyCommand::Apply { file, dry_run },
        } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let r = client
                .policy_apply(PolicyApplyRequest {
                    text,
                    origin: file.display().to_string(),
                    dry_run,
                })
                .await
                .map_err(render::status_error)?
                .into_inner();
            show(
                json,
                &r,
                render_replication::change_json,
                render_replication::change_table,
            )
        }
        Command::Site {
            command:
                SiteCommand::Drain {
                    name,
                    dry_run,
                    undo,
                },
        } => {
            let r = client
                .site_drain(SiteDrainRequest {
                    site: name,
                    dry_run,
                    undo,
                })
                .await
                .map_err(render::status_error)?
                .into_inner();
            show(
                json,
                &r,
                render_replication::change_json,
                render_replication::change_table,
            )
        }
        Command::Object {
            command: ObjectCommand::Stat { bucket, key },
        } => {
            let o = client
                .object_stat(StatRequest {
                    bucket,
                    key,
                    max_staleness_ms: 0,
                })
                .await
                .map_err(render::status_error)?
                .into_inner();
            show(json, &o, render::object_json, render::object_table)
        }
        Command::Cluster { command } => crate::cluster::run(command)?,
        Command::Dataset { .. } | Command::Access { .. } => {
            anyhow::bail!("datasets are served by the client API")
        }
        Command::Object {
            command: ObjectCommand::Explain { bucket, key },
        } => {
            let e = client
                .object_explain(StatRequest {
                    bucket,
                    key,
                    max_staleness_ms: 0,
                })
                .await
                .map_err(render::status_error)?
                .into_inner();
            show(json, &e, render::explain_json, render::explain_table)
        }
    };
    Ok(out)
}
