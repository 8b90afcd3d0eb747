//! Where certificates and keys live on disk.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::TlsError;

/// The files `meridianctl cluster init` writes into one directory: the CA
/// and, per node, `node-ID.pem` and `node-ID.key`.
#[derive(Debug, Clone)]
pub struct ClusterFiles {
    pub dir: PathBuf,
}

impl ClusterFiles {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        ClusterFiles { dir: dir.into() }
    }
    pub fn ca_cert(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }
    pub fn ca_key(&self) -> PathBuf {
        self.dir.join("ca.key")
    }
    pub fn node_cert(&self, node: &str) -> PathBuf {
        self.dir.join(format!("{node}.pem"))
    }
    pub fn node_key(&self, node: &str) -> PathBuf {
        self.dir.join(format!("{node}.key"))
    }
}

/// Writes `contents` to a new file at `path`: never over an existing one
/// (a second `init` must not replace a CA the cluster trusts), and a key
/// (`private`) readable by its owner only.
pub fn write_new(path: &Path, contents: &str, private: bool) -> Result<(), TlsError> {
    let io = |source| TlsError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(if private { 0o600 } else { 0o644 });
    }
    let mut f = options.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            TlsError::Exists(path.to_path_buf())
        } else {
            io(e)
        }
    })?;
    f.write_all(contents.as_bytes()).map_err(io)?;
    f.sync_all().map_err(io)
}

pub(crate) fn read(path: &Path) -> Result<String, TlsError> {
    std::fs::read_to_string(path).map_err(|source| TlsError::Io {
        path: path.to_path_buf(),
        source,
    })
}
