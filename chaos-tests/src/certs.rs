//! Certificates for the cluster port, made as an administrator makes them:
//! with `meridianctl cluster init` and `meridianctl cluster issue`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{ensure, Context, Result};
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};

use crate::binaries;

/// Runs `meridianctl cluster ARGS` (offline) and returns what it printed.
pub fn meridianctl_cluster(args: &[&str]) -> Result<String> {
    let out = Command::new(binaries::meridianctl()?)
        .arg("cluster")
        .args(args)
        .output()
        .context("running meridianctl cluster")?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    ensure!(out.status.success(), "meridianctl cluster {args:?}: {text}");
    Ok(text)
}

/// A cluster CA and a certificate for each (node id, host) in `dir`, made
/// by `init`.
pub fn init(dir: &Path, nodes: &[(u64, String)]) -> Result<()> {
    let specs: Vec<String> = nodes.iter().map(|(n, h)| format!("{n}={h}")).collect();
    let mut args = vec!["init", "--out"];
    let out = dir.to_str().context("a non-UTF-8 path")?;
    args.push(out);
    for s in &specs {
        args.extend(["--node", s.as_str()]);
    }
    meridianctl_cluster(&args).map(drop)
}

/// The PEM files of one caller of a cluster port.
#[derive(Debug, Clone)]
pub struct Peer {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Peer {
    /// Node `id`'s files as `init` or `issue` wrote them in `dir`; `ca`
    /// is the CA it trusts (perhaps another directory's).
    pub fn of(dir: &Path, id: u64, ca: &Path) -> Self {
        Peer {
            ca: ca.to_path_buf(),
            cert: dir.join(format!("node-{id}.pem")),
            key: dir.join(format!("node-{id}.key")),
        }
    }

    /// A TLS endpoint at `addr` (host:port) presenting this certificate,
    /// or none (`identity` false).
    pub fn endpoint(&self, addr: &str, identity: bool) -> Result<Endpoint> {
        let read = |p: &Path| std::fs::read_to_string(p).with_context(|| p.display().to_string());
        let mut tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(read(&self.ca)?));
        if identity {
            tls = tls.identity(Identity::from_pem(read(&self.cert)?, read(&self.key)?));
        }
        Ok(Endpoint::from_shared(format!("https://{addr}"))?.tls_config(tls)?)
    }
}
