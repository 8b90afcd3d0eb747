//! `meridian`: the server binary. All logic lives in the library.

use clap::Parser;

#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> anyhow::Result<()> {
    let cli = meridian_node::cli::Cli::parse();
    meridian_node::cli::run(cli)
}
