//! `meridianctl`: the admin CLI, a client of the admin gRPC API.

use clap::Parser;

mod access;
mod cli;
mod cluster;
mod credentials;
mod dataset;
mod integrity;
mod render;
mod render_dataset;
mod render_replication;

/// The admin API's client, each call signed.
pub(crate) type Admin = meridian_proto::v1::admin_service_client::AdminServiceClient<
    meridian_api::auth::client::SigningChannel<tonic::transport::Channel>,
>;

fn main() -> std::process::ExitCode {
    let args = cli::Cli::parse();
    let result = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(anyhow::Error::from)
        .and_then(|rt| rt.block_on(cli::run(args)));
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // One line an operator can act on, not a backtrace.
            eprintln!("meridianctl: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
