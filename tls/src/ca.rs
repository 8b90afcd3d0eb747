//! The cluster's certificate authority: made once per cluster, kept offline
//! by the administrator, used to issue each node's certificate.

use std::time::{Duration, SystemTime};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use time::OffsetDateTime;

use crate::files::{read, write_new, ClusterFiles};
use crate::TlsError;

/// How long the CA is valid: a cluster outlives many node certificates.
pub const CA_VALIDITY: Duration = Duration::from_secs(10 * 365 * 86_400);
/// How long a node's certificate is valid; `meridianctl cluster issue`
/// makes a new one.
pub const NODE_VALIDITY: Duration = Duration::from_secs(2 * 365 * 86_400);
/// Certificates start this long before they are made, so a peer whose clock
/// is a little behind does not refuse a new one.
const CLOCK_SKEW: Duration = Duration::from_secs(3600);

/// The CA: its certificate and signing key.
pub struct ClusterCa {
    cert_pem: String,
    key: KeyPair,
}

/// A certificate and its private key, PEM.
pub struct IssuedCert {
    pub cert_pem: String,
    pub key_pem: String,
}

fn name(common: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "Meridian");
    dn.push(DnType::CommonName, common);
    dn
}

fn validity(params: &mut CertificateParams, now: SystemTime, valid: Duration) {
    params.not_before = OffsetDateTime::from(now.checked_sub(CLOCK_SKEW).unwrap_or(now));
    params.not_after = OffsetDateTime::from(now + valid);
}

impl ClusterCa {
    /// A new CA for the cluster `cluster` (its name is in the CA's subject).
    pub fn generate(cluster: &str, now: SystemTime) -> Result<Self, TlsError> {
        let mut params = CertificateParams::default();
        params.distinguished_name = name(&format!("{cluster} cluster CA"));
        // It signs node certificates only, never another CA.
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        validity(&mut params, now, CA_VALIDITY);
        let key = KeyPair::generate()?;
        let cert = params.self_signed(&key)?;
        Ok(ClusterCa {
            cert_pem: cert.pem(),
            key,
        })
    }

    /// The CA from its certificate and key (PEM); checks the key is the
    /// certificate's and the CA is valid at `now`.
    pub fn from_pem(cert_pem: &str, key_pem: &str, now: SystemTime) -> Result<Self, TlsError> {
        let key = KeyPair::from_pem(key_pem).map_err(|e| TlsError::pem("the CA key", e))?;
        let issuer = Issuer::from_ca_cert_pem(cert_pem, &key)
            .map_err(|e| TlsError::pem("the CA certificate", e))?;
        drop(issuer);
        let ca = ClusterCa {
            cert_pem: cert_pem.to_string(),
            key,
        };
        // A key that is not the certificate's would sign certificates that
        // no node accepts: find out now.
        let probe = ca.issue("probe", &["localhost".into()], now)?;
        crate::ClusterTls::from_pem(&ca.cert_pem, &probe.cert_pem, &probe.key_pem, now).map_err(
            |e| TlsError::Config(format!("the CA key and certificate do not make a CA: {e}")),
        )?;
        Ok(ca)
    }

    pub fn load(files: &ClusterFiles, now: SystemTime) -> Result<Self, TlsError> {
        Self::from_pem(&read(&files.ca_cert())?, &read(&files.ca_key())?, now)
    }

    /// Writes `ca.pem` and `ca.key` (owner-only) into a directory that has
    /// neither.
    pub fn save(&self, files: &ClusterFiles) -> Result<(), TlsError> {
        write_new(&files.ca_cert(), &self.cert_pem, false)?;
        write_new(&files.ca_key(), &self.key.serialize_pem(), true)
    }

    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// Issues `node` a certificate and returns it as an identity, for a
    /// group that lives in one process (benchmarks, tests).
    pub fn identity(
        &self,
        node: &str,
        hosts: &[String],
        now: SystemTime,
    ) -> Result<crate::ClusterTls, TlsError> {
        let c = self.issue(node, hosts, now)?;
        crate::ClusterTls::from_pem(&self.cert_pem, &c.cert_pem, &c.key_pem, now)
    }

    /// A certificate for node `node`, reached at `hosts` (names or
    /// addresses, checked by the peers that connect to it), for both ends
    /// of a connection: it serves the cluster port and calls the others'.
    pub fn issue(
        &self,
        node: &str,
        hosts: &[String],
        now: SystemTime,
    ) -> Result<IssuedCert, TlsError> {
        if hosts.is_empty() {
            return Err(TlsError::Config(format!(
                "node {node}: a certificate needs at least one host name or address"
            )));
        }
        let mut params = CertificateParams::new(hosts.to_vec())?;
        params.distinguished_name = name(node);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        params.use_authority_key_identifier_extension = true;
        validity(&mut params, now, NODE_VALIDITY);
        let issuer = Issuer::from_ca_cert_pem(&self.cert_pem, &self.key)
            .map_err(|e| TlsError::pem("the CA certificate", e))?;
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &issuer)?;
        Ok(IssuedCert {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

/// The CA and node `node`'s certificate under `files`, made there on first
/// use: `meridian dev`, whose one process is the whole cluster, keeps its
/// own (so that callers of its cluster port can be given a certificate).
pub fn local_cluster(
    files: &ClusterFiles,
    node: &str,
    hosts: &[String],
    now: SystemTime,
) -> Result<crate::ClusterTls, TlsError> {
    ensure_issued(files, "meridian dev", node, hosts, now)?;
    crate::ClusterTls::load(
        &files.ca_cert(),
        &files.node_cert(node),
        &files.node_key(node),
        now,
    )
}

/// A CA named `ca_name` in `files` and `node`'s certificate under it, each
/// made if absent.
pub(crate) fn ensure_issued(
    files: &ClusterFiles,
    ca_name: &str,
    node: &str,
    hosts: &[String],
    now: SystemTime,
) -> Result<(), TlsError> {
    if !files.ca_cert().exists() {
        ClusterCa::generate(ca_name, now)?.save(files)?;
    }
    if !files.node_cert(node).exists() {
        ClusterCa::load(files, now)?
            .issue(node, hosts, now)?
            .save(files, node)?;
    }
    Ok(())
}

impl IssuedCert {
    /// Writes `NODE.pem` and `NODE.key` (owner-only) beside the CA.
    pub fn save(&self, files: &ClusterFiles, node: &str) -> Result<(), TlsError> {
        write_new(&files.node_cert(node), &self.cert_pem, false)?;
        write_new(&files.node_key(node), &self.key_pem, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ClusterTls;

    fn now() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)
    }

    #[test]
    fn a_node_certificate_is_trusted_under_its_ca_only() {
        let ca = ClusterCa::generate("test", now()).expect("ca");
        let node = ca
            .issue("node-1", &["127.0.0.1".into(), "meta1.bj".into()], now())
            .expect("issue");
        ClusterTls::from_pem(ca.cert_pem(), &node.cert_pem, &node.key_pem, now())
            .expect("trusted under its own CA");
        let rogue = ClusterCa::generate("test", now()).expect("rogue ca");
        let err = ClusterTls::from_pem(rogue.cert_pem(), &node.cert_pem, &node.key_pem, now())
            .expect_err("another CA, even of the same name, does not trust it");
        assert!(matches!(err, TlsError::Untrusted { .. }), "{err}");
    }

    #[test]
    fn expiry_and_mismatched_keys_are_refused() {
        let ca = ClusterCa::generate("test", now()).expect("ca");
        let node = ca
            .issue("node-1", &["localhost".into()], now())
            .expect("issue");
        let later = now() + NODE_VALIDITY + Duration::from_secs(1);
        let err = ClusterTls::from_pem(ca.cert_pem(), &node.cert_pem, &node.key_pem, later)
            .expect_err("expired");
        assert!(err.to_string().contains("xpired"), "{err}");
        let other = ca
            .issue("node-2", &["localhost".into()], now())
            .expect("issue");
        let err = ClusterTls::from_pem(ca.cert_pem(), &node.cert_pem, &other.key_pem, now())
            .expect_err("another node's key");
        assert!(err.to_string().contains("does not go with"), "{err}");
        let err = ca.issue("node-3", &[], now()).err().expect("no host");
        assert!(err.to_string().contains("at least one host"), "{err}");
    }

    #[test]
    fn a_saved_ca_loads_and_is_never_overwritten() {
        let dir = tempfile::tempdir().expect("tempdir");
        let files = ClusterFiles::new(dir.path().join("ca"));
        let ca = ClusterCa::generate("test", now()).expect("ca");
        ca.save(&files).expect("save");
        let again = ClusterCa::load(&files, now()).expect("load");
        assert_eq!(again.cert_pem(), ca.cert_pem());
        let err = ClusterCa::generate("test", now())
            .expect("ca")
            .save(&files)
            .expect_err("second init");
        assert!(matches!(err, TlsError::Exists(_)), "{err}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(files.ca_key())
                .expect("key")
                .permissions()
                .mode();
            assert_eq!(
                mode & 0o077,
                0,
                "the CA key is readable by others: {mode:o}"
            );
        }
        // A key that is not the CA's.
        let other = ClusterCa::generate("test", now()).expect("other");
        let err = ClusterCa::from_pem(ca.cert_pem(), &other.key.serialize_pem(), now())
            .err()
            .expect("mismatched CA key");
        assert!(err.to_string().contains("do not make a CA"), "{err}");
        let err = ClusterCa::from_pem("not pem", &other.key.serialize_pem(), now())
            .err()
            .expect("garbage");
        assert!(matches!(err, TlsError::Pem { .. }), "{err}");
    }
}
