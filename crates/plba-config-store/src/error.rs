//! What can go wrong with the configuration store, one enum for the crate.

/// Why a configuration store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ConfigStoreError {
    /// The database could not be opened or did not answer.
    #[error("the configuration database {what}")]
    Database {
        /// What failed.
        what: String,
        /// The database's error.
        #[source]
        source: sqlx::Error,
    },
    /// The URL names PostgreSQL, and this build was made without it.
    #[error("this build has no PostgreSQL for configuration (its feature `postgres` is off)")]
    NoPostgres,
    /// The URL is not one of a database this store knows.
    #[error("{0:?} is not a configuration database URL (sqlite://PATH or postgres://…)")]
    BadUrl(String),
    /// A key path is not one a value may have.
    #[error("{0:?} is not a key path: dotted names, none empty")]
    BadKey(String),
    /// A value is larger than any configuration value.
    #[error("the value of {key} is {bytes} bytes; at most {max}")]
    TooLarge {
        /// The key.
        key: String,
        /// Its size.
        bytes: usize,
        /// The most.
        max: usize,
    },
    /// No such revision to roll back to.
    #[error("revision {0} does not exist")]
    NoRevision(u64),
}

impl ConfigStoreError {
    pub(crate) fn database(what: impl Into<String>) -> impl FnOnce(sqlx::Error) -> Self {
        let what = what.into();
        move |source| Self::Database { what, source }
    }
}
