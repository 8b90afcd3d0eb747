//! `meridian-bench`: load generators for Meridian's APIs.

mod cli;
mod client;
mod grpc;
mod meta;
mod query;
mod replicate;
mod report;
mod resume;
mod scrub;
mod size;
mod stats;
mod workload;

use anyhow::Result;
use clap::Parser;

#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() -> Result<()> {
    let cli = cli::Cli::parse();
    match cli.command {
        cli::Command::S3(args) => objects(&args, cli::Protocol::S3).await?,
        cli::Command::Grpc(args) => objects(&args, cli::Protocol::Grpc).await?,
        cli::Command::Resume(args) => resume::run(&args).await?,
        cli::Command::Scrub(args) => println!("{}", scrub::run(&args).await?),
        cli::Command::Replicate(args) => {
            let report = replicate::run(&args).await?;
            if args.json {
                println!("{report}");
            } else {
                println!("{}", serde_json::to_string_pretty(&report)?);
            }
        }
        cli::Command::Query(args) => {
            let report = query::run(&args).await?;
            if args.json {
                println!("{report}");
            } else {
                println!("{}", serde_json::to_string_pretty(&report)?);
            }
        }
        cli::Command::Meta(args) => {
            let report = meta::run(&args).await?;
            if args.json {
                println!("{report}");
            } else {
                println!("{}", serde_json::to_string_pretty(&report)?);
            }
        }
    }
    Ok(())
}

/// The object workload through `protocol`, printed.
async fn objects(args: &cli::S3Args, protocol: cli::Protocol) -> Result<()> {
    let report = workload::run(&args.validated(protocol)?).await?;
    if args.json {
        println!("{}", report.to_json());
    } else {
        print!("{}", report.to_table());
    }
    Ok(())
}
