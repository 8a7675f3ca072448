//! The one error type of the mail_order_bot domain library.

use std::path::PathBuf;

/// Why the domain could not be set up or could not reach its store.
#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    /// The configured catalog cannot be read.
    #[error("catalog {}: {what}", path.display())]
    Catalog {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        what: String,
        /// The OS error when the file cannot be read.
        #[source]
        source: Option<std::io::Error>,
    },
    /// The order store failed; retrying may help.
    #[error("order store: {what}")]
    Store {
        /// What was being done, or what is wrong.
        what: String,
        /// The underlying error, when there is one (sqlx, I/O, JSON), kept for inspection.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// The configuration is unusable.
    #[error("{0}")]
    Config(String),
}

impl DomainError {
    /// A store failure described by `what`, without an underlying error.
    pub fn store(what: impl Into<String>) -> Self {
        Self::Store {
            what: what.into(),
            source: None,
        }
    }

    /// A store failure while doing `what`, caused by `source`.
    pub fn store_caused(
        what: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self::Store {
            what: what.into(),
            source: Some(Box::new(source)),
        }
    }
}
