//! Meridian for AI agents: an MCP server (the `rmcp` crate) whose tools
//! are calls of the client gRPC API as the agent's user, so an agent sees
//! and does exactly what that user may. Over stdio the server acts as the
//! user whose access key it was started with; over streamable HTTP each
//! request must carry a bearer token (`meridianctl token create`), which
//! is passed on to the API with every call, so the token's scopes bound
//! the agent too. Read-only unless started with `allow_writes`, and then
//! still within the user's rights.

mod client;
pub mod presign;
mod tools;

use std::net::SocketAddr;
use std::sync::Arc;

pub use client::Credential;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::ServiceExt;
use tokio_util::sync::CancellationToken;
pub use tools::Meridian;

#[derive(Debug, thiserror::Error)]
pub enum McpError {
    #[error("{0}")]
    Invalid(String),
    #[error("credential: {0}")]
    Credential(String),
    #[error(
        "this MCP server is read-only (start it with --allow-writes for tools that change things)"
    )]
    ReadOnly,
    #[error("the client API at {endpoint}: {message}")]
    Connect { endpoint: String, message: String },
    #[error("MCP transport: {0}")]
    Transport(String),
}

/// What the server needs besides its transport.
pub struct Settings {
    /// The client API.
    pub channel: tonic::transport::Channel,
    /// Who stdio sessions act as (HTTP sessions bring their own token).
    pub credential: Option<Credential>,
    /// Where presigned URLs point, and the region they are signed for.
    pub s3_endpoint: Option<String>,
    pub s3_region: String,
    pub allow_writes: bool,
}

/// A channel to the client API at `endpoint` (`http://` or `https://`,
/// trusting `ca` if given).
pub async fn connect(
    endpoint: &str,
    ca: Option<&[u8]>,
) -> Result<tonic::transport::Channel, McpError> {
    let fail = |m: String| McpError::Connect {
        endpoint: endpoint.to_string(),
        message: m,
    };
    let mut ep = tonic::transport::Endpoint::from_shared(endpoint.to_string())
        .map_err(|e| fail(e.to_string()))?;
    if endpoint.starts_with("https://") {
        let tls = tonic::transport::ClientTlsConfig::new();
        let tls = match ca {
            Some(pem) => tls.ca_certificate(tonic::transport::Certificate::from_pem(pem)),
            None => tls.with_native_roots(),
        };
        ep = ep.tls_config(tls).map_err(|e| fail(e.to_string()))?;
    }
    ep.connect().await.map_err(|e| fail(e.to_string()))
}

/// Serves one MCP session over stdin and stdout until the client leaves.
pub async fn serve_stdio(settings: Settings) -> Result<(), McpError> {
    if settings.credential.is_none() {
        return Err(McpError::Credential(
            "stdio acts as one user: set MERIDIAN_ACCESS_KEY and MERIDIAN_SECRET_KEY, or MERIDIAN_TOKEN"
                .into(),
        ));
    }
    let running = Meridian::new(Arc::new(settings))
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|e| McpError::Transport(e.to_string()))?;
    running
        .waiting()
        .await
        .map_err(|e| McpError::Transport(e.to_string()))?;
    Ok(())
}

/// Bodies of HTTP answers that refuse before MCP sees the request.
fn unauthorized() -> axum::response::Response {
    axum::response::Response::builder()
        .status(http::StatusCode::UNAUTHORIZED)
        .header(http::header::WWW_AUTHENTICATE, "Bearer")
        .body(axum::body::Body::from(
            "a Meridian bearer token is needed: Authorization: Bearer <token> (meridianctl token create)\n",
        ))
        .unwrap_or_default()
}

/// Serves MCP over streamable HTTP at `/mcp` on `listener` until `stop`
/// is cancelled; every request must carry a bearer token.
pub async fn serve_http(
    listener: tokio::net::TcpListener,
    settings: Settings,
    stop: CancellationToken,
) -> Result<(), McpError> {
    let local: SocketAddr = listener
        .local_addr()
        .map_err(|e| McpError::Transport(e.to_string()))?;
    let settings = Arc::new(settings);
    let config = StreamableHttpServerConfig::default()
        .with_cancellation_token(stop.child_token())
        .with_allowed_hosts([
            "localhost".to_string(),
            "127.0.0.1".to_string(),
            local.ip().to_string(),
            format!("{}:{}", local.ip(), local.port()),
            format!("localhost:{}", local.port()),
        ]);
    let service: StreamableHttpService<Meridian, LocalSessionManager> = StreamableHttpService::new(
        move || Ok(Meridian::new(settings.clone())),
        Default::default(),
        config,
    );
    let router =
        axum::Router::new()
            .nest_service("/mcp", service)
            .layer(axum::middleware::from_fn(
                |req: axum::extract::Request, next: axum::middleware::Next| async move {
                    let bearer = req
                        .headers()
                        .get(http::header::AUTHORIZATION)
                        .and_then(|v| v.to_str().ok())
                        .and_then(crate::client::bearer_token)
                        .is_some();
                    if bearer {
                        next.run(req).await
                    } else {
                        unauthorized()
                    }
                },
            ));
    axum::serve(listener, router)
        .with_graceful_shutdown(async move { stop.cancelled_owned().await })
        .await
        .map_err(|e| McpError::Transport(e.to_string()))
}
