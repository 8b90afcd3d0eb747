//! `meridianctl`: the admin CLI, a client of the admin gRPC API.

use clap::Parser;

mod cli;
mod render;

fn main() -> anyhow::Result<()> {
    let args = cli::Cli::parse();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(cli::run(args))
}
