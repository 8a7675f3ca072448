//! The one error type of the mail_order_bot domain library.

use std::path::PathBuf;

/// Why the domain could not be set up or could not reach its store.
#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    /// The configured catalog cannot be read.
    #[error("catalog {}: {reason}", path.display())]
    Catalog {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The order store failed; retrying may help.
    #[error("order store: {0}")]
    Store(String),
    /// The configuration is unusable.
    #[error("{0}")]
    Config(String),
}

impl From<sqlx::Error> for DomainError {
    fn from(error: sqlx::Error) -> Self {
        Self::Store(error.to_string())
    }
}
