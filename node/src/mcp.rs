//! `meridian mcp`: the MCP server for agents (`meridian-mcp`), with its
//! credential from the environment, never from the command line.

use anyhow::Context;
use meridian_mcp::{Credential, Settings};

use crate::cli::McpArgs;

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

pub async fn run(a: McpArgs) -> anyhow::Result<()> {
    let ca = match &a.ca_cert {
        Some(p) => Some(std::fs::read(p).with_context(|| format!("reading {}", p.display()))?),
        None => None,
    };
    let channel = meridian_mcp::connect(&a.endpoint, ca.as_deref()).await?;
    let credential = match (
        env("MERIDIAN_ACCESS_KEY"),
        env("MERIDIAN_SECRET_KEY"),
        env("MERIDIAN_TOKEN"),
    ) {
        (Some(access_key), Some(secret), _) => Some(Credential::Keys { access_key, secret }),
        (_, _, Some(t)) => Some(Credential::Bearer(t)),
        _ => None,
    };
    let settings = Settings {
        channel,
        credential: if a.http.is_some() { None } else { credential },
        s3_endpoint: a.s3_endpoint,
        s3_region: a.s3_region,
        allow_writes: a.allow_writes,
    };
    match a.http {
        None => Ok(meridian_mcp::serve_stdio(settings).await?),
        Some(addr) => {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("binding the MCP endpoint at {addr}"))?;
            let stop = tokio_util::sync::CancellationToken::new();
            let on_signal = stop.clone();
            tokio::spawn(async move {
                let _ = tokio::signal::ctrl_c().await;
                on_signal.cancel();
            });
            eprintln!(
                "meridian mcp: serving http://{}/mcp",
                listener.local_addr()?
            );
            Ok(meridian_mcp::serve_http(listener, settings, stop).await?)
        }
    }
}
