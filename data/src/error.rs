//! The data plane's errors, and what each is to the domain.

use meridian_core::CoreError;

#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("site {0} has no chunk store here")]
    UnknownSite(u32),
    #[error("chunk {0} not found at {1}")]
    NotFound(String, String),
    #[error("chunk {hash} at {site} is corrupt: its bytes hash to {actual}")]
    Corrupt {
        hash: String,
        site: String,
        actual: String,
    },
    #[error("store at {site}: {source}")]
    Store {
        site: String,
        #[source]
        source: object_store::Error,
    },
    #[error("hashing task failed: {0}")]
    Task(String),
    /// Another process's data node could not be read from.
    #[error("data node of {site}: {message}")]
    Remote { site: String, message: String },
}

impl From<DataError> for CoreError {
    fn from(e: DataError) -> Self {
        match e {
            DataError::UnknownSite(s) => CoreError::UnknownSite(format!("site {s}")),
            DataError::Corrupt { .. } | DataError::NotFound(..) => {
                CoreError::Corrupt(e.to_string())
            }
            DataError::Store { .. } | DataError::Task(_) | DataError::Remote { .. } => {
                CoreError::Unavailable(e.to_string())
            }
        }
    }
}
