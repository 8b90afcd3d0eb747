use anyhow::Context;
use clap::{Parser, Subcommand};
use meridian_proto::v1::admin_service_client::AdminServiceClient;
use meridian_proto::v1::{
    BucketsRequest, MetaAddLearnerRequest, MetaMembersRequest, MetaNodeRequest, PolicyShowRequest,
    ReplicationStatusRequest, StatRequest, StatusRequest,
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
        default_value = "http://127.0.0.1:50051"
    )]
    pub endpoint: String,
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

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let mut client = AdminServiceClient::connect(cli.endpoint.clone())
        .await
        .with_context(|| format!("connecting to {}", cli.endpoint))?;
    let out = match cli.command {
        Command::Status => {
            let s = client
                .status(StatusRequest {})
                .await
                .map_err(render::status_error)?
                .into_inner();
            if cli.json {
                render::status_json(&s).to_string()
            } else {
                render::status_table(&s)
            }
        }
        Command::Buckets => {
            let b = client
                .buckets(BucketsRequest {})
                .await
                .map_err(render::status_error)?
                .into_inner();
            if cli.json {
                render::buckets_json(&b).to_string()
            } else {
                render::buckets_table(&b)
            }
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
            if cli.json {
                render::members_json(&m).to_string()
            } else {
                render::members_table(&m)
            }
        }
        Command::Replication {
            command: ReplicationCommand::Status,
        } => {
            let r = client
                .replication_status(ReplicationStatusRequest {})
                .await
                .map_err(render::status_error)?
                .into_inner();
            if cli.json {
                render_replication::replication_json(&r).to_string()
            } else {
                render_replication::replication_table(&r)
            }
        }
        Command::Policy {
            command: PolicyCommand::Show,
        } => {
            let p = client
                .policy_show(PolicyShowRequest {})
                .await
                .map_err(render::status_error)?
                .into_inner();
            if cli.json {
                render_replication::policy_json(&p).to_string()
            } else {
                render_replication::policy_table(&p)
            }
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
            if cli.json {
                render::object_json(&o).to_string()
            } else {
                render::object_table(&o)
            }
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
            if cli.json {
                render::explain_json(&e).to_string()
            } else {
                render::explain_table(&e)
            }
        }
    };
    println!("{out}");
    Ok(())
}
