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
    /// Another change was made since the values a write was checked against.
    #[error(
        "the configuration changed while this change was being checked (revision {found}, checked against {expected}); check it again"
    )]
    Moved {
        /// The revision the change was checked against.
        expected: u64,
        /// The revision the store is at.
        found: u64,
    },
    /// The database did not answer in time.
    #[error("the configuration database did not answer within {0:?}")]
    TimedOut(std::time::Duration),
    /// The cache of the last values applied could not be written or read.
    #[error("the configuration cache {path} {what}")]
    Cache {
        /// The cache file.
        path: String,
        /// What failed.
        what: &'static str,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The database could not be read at start-up and no cache may stand in for it.
    #[error("cannot start without the configuration database {database}{hint}")]
    Unavailable {
        /// The database (no password).
        database: String,
        /// What to do about it, or why the cache could not stand in.
        hint: String,
        /// Why the database could not be read.
        #[source]
        source: Box<ConfigStoreError>,
    },
    /// The values a change would make are not a valid configuration: nothing was committed.
    #[error("refused, nothing was changed: {0}")]
    Refused(String),
    /// The key to remove is not in the store.
    #[error("{key} is not set in {database}")]
    NotSet {
        /// The key.
        key: String,
        /// The database.
        database: String,
    },
    /// An application holds more values than any configuration does (made by hand).
    #[error("the configuration database holds {values} values; at most {max}")]
    TooMany {
        /// How many.
        values: u64,
        /// The most.
        max: u64,
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
