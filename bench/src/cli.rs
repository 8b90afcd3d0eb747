//! Command-line arguments.

use std::time::Duration;

use anyhow::{ensure, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::size::parse_size;

/// Upper bounds, so a typo cannot start an hour-long or memory-eating run.
const MAX_CONCURRENCY: usize = 1024;
const MAX_DURATION_S: f64 = 3600.0;
pub const MAX_SIZE: u64 = 1 << 30;

#[derive(Parser, Debug)]
#[command(
    name = "meridian-bench",
    version,
    about = "Load generators for Meridian"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// PUT or GET objects of one size through the S3 API for a fixed time.
    S3(S3Args),
    /// The same workload through the gRPC client API (signed requests):
    /// `--endpoint` is then the client gRPC port, e.g. http://127.0.0.1:50051.
    Grpc(S3Args),
    /// Insert N file records into a fresh catalogue, then measure stat and list.
    Meta(crate::meta::MetaArgs),
    /// Insert N described files and D datasets with metadata into a fresh
    /// catalogue, then time selective searches.
    Query(crate::query::QueryArgs),
    /// Replicate one workload with the planner and with the naive baseline,
    /// on the star and the mesh, against the min-cut lower bound.
    Replicate(crate::replicate::ReplicateArgs),
    /// Cut an upload session's stream part-way, resume it, and print the
    /// bytes sent twice (JSON lines, one per cut).
    Resume(crate::resume::ResumeArgs),
    /// Inject faults into a running server's chunk files (flipped bits,
    /// truncated and deleted files), wait for the scrub and repair to mend
    /// them while readers check every byte, then measure re-hashing
    /// throughput per core. One JSON object.
    Scrub(crate::scrub::ScrubArgs),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Op {
    Put,
    Get,
    /// ListObjectsV2 pages of up to 1000 keys over a prefix of `--size`d
    /// objects (1000 of them, fewer when that would pass 1 GiB).
    List,
}

impl Op {
    pub fn name(self) -> &'static str {
        match self {
            Op::Put => "put",
            Op::Get => "get",
            Op::List => "list",
        }
    }
}

#[derive(Args, Debug, Clone)]
pub struct S3Args {
    /// S3 endpoint of one site, e.g. http://127.0.0.1:9000 (Beijing in `meridian dev`).
    #[arg(
        long,
        env = "MERIDIAN_S3_ENDPOINT",
        default_value = "http://127.0.0.1:9000"
    )]
    pub endpoint: String,
    #[arg(long, value_enum)]
    pub op: Op,
    /// Object size: bytes, or with a KiB/MiB/GiB (or KB/MB/GB) suffix.
    #[arg(long, value_parser = parse_size)]
    pub size: u64,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Seconds to keep issuing requests.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    #[arg(long, default_value = "meridian-bench")]
    pub bucket: String,
    #[command(flatten)]
    pub creds: Credentials,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Who the benchmark is, and the CA it trusts.
#[derive(Args, Debug, Clone, Default)]
pub struct Credentials {
    #[arg(long, env = "MERIDIAN_ROOT_ACCESS_KEY", default_value = "meridian-dev")]
    pub access_key: String,
    #[arg(
        long,
        env = "MERIDIAN_ROOT_SECRET_KEY",
        default_value = "meridian-dev-secret",
        hide_env_values = true
    )]
    pub secret_key: String,
    /// For an https endpoint: the CA its certificate chains to (PEM).
    #[arg(long)]
    pub ca_cert: Option<std::path::PathBuf>,
}

/// Which API the workload drives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    S3,
    Grpc,
}

/// The arguments after range checks, in the units the workload uses.
#[derive(Clone, Debug)]
pub struct S3Run {
    pub endpoint: String,
    pub op: Op,
    pub size: u64,
    pub concurrency: usize,
    pub duration: Duration,
    pub bucket: String,
    pub creds: Credentials,
    pub protocol: Protocol,
}

impl S3Args {
    pub fn validated(&self, protocol: Protocol) -> Result<S3Run> {
        ensure!(
            (1..=MAX_CONCURRENCY).contains(&self.concurrency),
            "--concurrency must be 1..={MAX_CONCURRENCY}"
        );
        ensure!(
            self.duration.is_finite() && self.duration > 0.0 && self.duration <= MAX_DURATION_S,
            "--duration must be more than 0 and at most {MAX_DURATION_S} seconds"
        );
        ensure!(self.size <= MAX_SIZE, "--size must be at most 1GiB");
        Ok(S3Run {
            endpoint: self.endpoint.clone(),
            op: self.op,
            size: self.size,
            concurrency: self.concurrency,
            duration: Duration::from_secs_f64(self.duration),
            bucket: self.bucket.clone(),
            creds: self.creds.clone(),
            protocol,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_invocation() {
        let cli = Cli::try_parse_from([
            "meridian-bench",
            "s3",
            "--endpoint",
            "http://127.0.0.1:9000",
            "--op",
            "get",
            "--size",
            "64MiB",
            "--concurrency",
            "4",
            "--duration",
            "2",
            "--json",
        ])
        .expect("parses");
        let Command::S3(args) = cli.command else {
            panic!("parsed as another command");
        };
        let run = args.validated(Protocol::S3).expect("valid");
        assert_eq!(run.op, Op::Get);
        assert_eq!(run.size, 64 << 20);
        assert_eq!(run.concurrency, 4);
        assert_eq!(run.duration, Duration::from_secs(2));
        assert!(args.json);
    }

    #[test]
    fn rejects_out_of_range_values() {
        for (flag, value) in [
            ("--concurrency", "0"),
            ("--duration", "0"),
            ("--size", "2GiB"),
        ] {
            let mut argv = vec!["meridian-bench", "s3", "--op", "put"];
            if flag != "--size" {
                argv.extend(["--size", "4KiB"]);
            }
            argv.extend([flag, value]);
            let cli = Cli::try_parse_from(argv).expect("parses");
            let Command::S3(args) = cli.command else {
                panic!("parsed as another command");
            };
            assert!(
                args.validated(Protocol::Grpc).is_err(),
                "{flag} {value} accepted"
            );
        }
    }
}
