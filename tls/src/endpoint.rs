//! A client-facing listener's certificate: the S3 endpoints and the client
//! and admin gRPC APIs, from a certificate and key an administrator gives
//! (a site's usual PKI), or one `meridian dev --tls` makes.

use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::PrivateKeyDer;
use tonic::transport::{Identity, ServerTlsConfig};

use crate::cluster::{certs, provider};
use crate::files::read;
use crate::{ClusterFiles, TlsError, HANDSHAKE_TIMEOUT};

/// The certificate chain and key a client-facing listener presents.
#[derive(Clone)]
pub struct EndpointTls {
    cert_pem: Arc<str>,
    key_pem: Arc<str>,
    https: Arc<ServerConfig>,
}

impl std::fmt::Debug for EndpointTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EndpointTls").finish_non_exhaustive()
    }
}

impl EndpointTls {
    /// From PEM: the certificate chain (leaf first) and its key; checks
    /// the key is the leaf's.
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Self, TlsError> {
        let chain = certs(cert_pem, "the endpoint certificate")?;
        let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
            .map_err(|e| TlsError::pem("the endpoint key", e))?;
        let mut https = ServerConfig::builder_with_provider(Arc::new(provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Config(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| {
                TlsError::Config(format!(
                    "the endpoint key does not go with its certificate: {e}"
                ))
            })?;
        // S3 clients speak HTTP/1.1.
        https.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(EndpointTls {
            cert_pem: Arc::from(cert_pem),
            key_pem: Arc::from(key_pem),
            https: Arc::new(https),
        })
    }

    pub fn load(cert: &Path, key: &Path) -> Result<Self, TlsError> {
        Self::from_pem(&read(cert)?, &read(key)?)
    }

    /// For an HTTPS (S3) listener.
    pub fn https(&self) -> Arc<ServerConfig> {
        self.https.clone()
    }

    /// For a gRPC listener: no client certificate asked for (callers
    /// authenticate in the request).
    pub fn grpc(&self) -> ServerTlsConfig {
        ServerTlsConfig::new()
            .identity(Identity::from_pem(&*self.cert_pem, &*self.key_pem))
            .timeout(HANDSHAKE_TIMEOUT)
    }
}

/// `meridian dev --tls`: a CA of its own and an endpoint certificate for
/// `hosts` under it, in `files`, made on first use. Clients trust the CA.
pub fn local_endpoint(
    files: &ClusterFiles,
    hosts: &[String],
    now: SystemTime,
) -> Result<EndpointTls, TlsError> {
    crate::ca::ensure_issued(files, "meridian dev endpoints", "endpoint", hosts, now)?;
    EndpointTls::load(&files.node_cert("endpoint"), &files.node_key("endpoint"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_dev_endpoint_certificate_is_made_once_and_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let files = ClusterFiles::new(dir.path().join("endpoints"));
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let hosts = ["localhost".to_string(), "*.s3.example".into()];
        local_endpoint(&files, &hosts, now).expect("first start");
        let first = std::fs::read(files.node_cert("endpoint")).expect("cert");
        local_endpoint(&files, &hosts, now).expect("second start");
        assert_eq!(
            std::fs::read(files.node_cert("endpoint")).expect("cert"),
            first,
            "a restart made a new certificate, which clients would not know"
        );
    }

    #[test]
    fn a_key_that_is_not_the_certificates_is_refused() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let ca = crate::ClusterCa::generate("t", now).expect("ca");
        let a = ca.issue("a", &["localhost".into()], now).expect("a");
        let b = ca.issue("b", &["localhost".into()], now).expect("b");
        EndpointTls::from_pem(&a.cert_pem, &a.key_pem).expect("its own key");
        let err = EndpointTls::from_pem(&a.cert_pem, &b.key_pem).expect_err("another key");
        assert!(err.to_string().contains("does not go with"), "{err}");
        let err = EndpointTls::from_pem("", &a.key_pem).expect_err("no certificate");
        assert!(matches!(err, TlsError::Pem { .. }), "{err}");
    }
}
