//! A node's identity on the cluster port: its certificate and key, and the
//! CA its peers' certificates must chain to.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rustls::server::WebPkiClientVerifier;
use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity, ServerTlsConfig};

use crate::files::read;
use crate::TlsError;

/// A peer that opens a connection and does not finish the handshake within
/// this is dropped: the cluster port holds no half-open strangers.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// This node's certificate and key, and the cluster CA.
#[derive(Clone)]
pub struct ClusterTls {
    ca: Certificate,
    identity: Identity,
}

impl std::fmt::Debug for ClusterTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterTls").finish_non_exhaustive()
    }
}

pub(crate) fn certs(pem: &str, what: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::pem(what, e))?;
    if certs.is_empty() {
        return Err(TlsError::pem(what, "no certificate in it"));
    }
    Ok(certs)
}

impl ClusterTls {
    /// From PEM text. Checks, so that a misconfigured node fails at start
    /// and not at its first handshake: the key is the certificate's, and
    /// the CA accepts the certificate at `now`.
    pub fn from_pem(
        ca_pem: &str,
        cert_pem: &str,
        key_pem: &str,
        now: SystemTime,
    ) -> Result<Self, TlsError> {
        let provider = Arc::new(provider());
        let ca = certs(ca_pem, "the cluster CA")?;
        let chain = certs(cert_pem, "the node certificate")?;
        let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
            .map_err(|e| TlsError::pem("the node key", e))?;
        rustls::sign::CertifiedKey::from_der(chain.clone(), key, &provider).map_err(|e| {
            TlsError::Config(format!(
                "the node key does not go with the node certificate: {e}"
            ))
        })?;
        let mut roots = RootCertStore::empty();
        for c in ca {
            roots
                .add(c)
                .map_err(|e| TlsError::pem("the cluster CA", e))?;
        }
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .map_err(|e| TlsError::Config(format!("the cluster CA: {e}")))?;
        let at = UnixTime::since_unix_epoch(
            now.duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default(),
        );
        verifier
            .verify_client_cert(&chain[0], &chain[1..], at)
            .map_err(|e| TlsError::Untrusted {
                what: "the node certificate".into(),
                message: e.to_string(),
            })?;
        Ok(ClusterTls {
            ca: Certificate::from_pem(ca_pem),
            identity: Identity::from_pem(cert_pem, key_pem),
        })
    }

    /// From the CA's certificate and this node's certificate and key files.
    pub fn load(ca: &Path, cert: &Path, key: &Path, now: SystemTime) -> Result<Self, TlsError> {
        Self::from_pem(&read(ca)?, &read(cert)?, &read(key)?, now)
    }

    /// The cluster port's server side: this node's certificate, and a
    /// client certificate the cluster CA signed required of every caller.
    pub fn server(&self) -> ServerTlsConfig {
        ServerTlsConfig::new()
            .identity(self.identity.clone())
            .client_ca_root(self.ca.clone())
            .timeout(HANDSHAKE_TIMEOUT)
    }

    /// A connection to the peer at `addr` (host:port) on its cluster port:
    /// the peer must present a certificate of the cluster CA naming that
    /// host, and this node presents its own.
    pub fn endpoint(&self, addr: &str) -> Result<Endpoint, TlsError> {
        let bad =
            |e: tonic::transport::Error| TlsError::Config(format!("cluster address {addr:?}: {e}"));
        Endpoint::from_shared(format!("https://{addr}"))
            .map_err(bad)?
            .tls_config(
                ClientTlsConfig::new()
                    .ca_certificate(self.ca.clone())
                    .identity(self.identity.clone())
                    .timeout(HANDSHAKE_TIMEOUT),
            )
            .map_err(bad)
    }
}

/// ring, as tonic's `tls-ring` uses. rustls marks it deprecated for want of
/// post-quantum key exchange, which only aws-lc-rs offers (a C and assembly
/// build of its own); the cluster port's peers are this cluster's own nodes.
#[allow(deprecated)]
pub(crate) fn provider() -> rustls::crypto::CryptoProvider {
    rustls::crypto::ring::default_provider()
}
