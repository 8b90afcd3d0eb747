use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} exists already: refusing to overwrite it", .0.display())]
    Exists(PathBuf),
    #[error("{what}: {message}")]
    Pem { what: String, message: String },
    #[error("making a certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// The certificate is not one the CA would accept (not signed by it,
    /// expired, or not for this use).
    #[error("{what} is not trusted by the cluster CA: {message}")]
    Untrusted { what: String, message: String },
    #[error("{0}")]
    Config(String),
}

impl TlsError {
    pub(crate) fn pem(what: impl Into<String>, message: impl std::fmt::Display) -> Self {
        TlsError::Pem {
            what: what.into(),
            message: message.to_string(),
        }
    }
}
