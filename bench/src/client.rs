//! The S3 client the workers share.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::Client;
use aws_smithy_http_client::tls;

/// Path-style, static credentials; HTTPS (rustls with ring, trusting `ca`)
/// for an https endpoint. No retries: a failed request counts as an error
/// instead of hiding inside a slower success.
pub fn build(
    endpoint: &str,
    (access_key, secret_key): (&str, &str),
    ca: Option<&Path>,
    op_timeout: Duration,
) -> Result<Client> {
    let http = if endpoint.starts_with("https://") {
        let mut trust = tls::TrustStore::empty().with_native_roots(ca.is_none());
        if let Some(ca) = ca {
            let pem = std::fs::read(ca).with_context(|| format!("reading {}", ca.display()))?;
            trust = trust.with_pem_certificate(pem);
        }
        aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(
                tls::rustls_provider::CryptoMode::Ring,
            ))
            .tls_context(
                tls::TlsContext::builder()
                    .with_trust_store(trust)
                    .build()
                    .context("the S3 client's TLS")?,
            )
            .build_https()
    } else {
        aws_smithy_http_client::Builder::new().build_http()
    };
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .force_path_style(true)
        .credentials_provider(Credentials::new(
            access_key,
            secret_key,
            None,
            None,
            "meridian-bench",
        ))
        .http_client(http)
        .retry_config(RetryConfig::standard().with_max_attempts(1))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(10))
                .operation_timeout(op_timeout)
                .build(),
        )
        .build();
    Ok(Client::from_conf(config))
}
