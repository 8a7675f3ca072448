//! What can go wrong with users, one enum for the crate.

/// Why a user operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The users' database could not be opened or did not answer.
    #[error("the users' database {what}")]
    Store {
        /// What failed.
        what: String,
        /// The database's error.
        #[source]
        source: sqlx::Error,
    },
    /// The configuration names PostgreSQL, and this build was made without it.
    #[error(
        "this build has no PostgreSQL for users (its feature `postgres` is off); use kind: sqlite"
    )]
    NoPostgres,
    /// Too many passwords are being checked at once; the caller may retry shortly.
    #[error("too many sign-ins at once; retry shortly")]
    Busy,
    /// A user of this name exists already.
    #[error("a user named {0:?} exists already")]
    Exists(String),
    /// No user has this name.
    #[error("no user is named {0:?}")]
    NotFound(String),
    /// The name is not one a user may have.
    #[error("{0:?} is not a user name: 1 to 64 letters, digits, `.`, `_`, `-` or `@`")]
    BadName(String),
    /// No such token of this user.
    #[error("the user has no token {0:?}")]
    NoToken(String),
    /// The name is not one a token may have.
    #[error("{0:?} is not a token name: 1 to 64 letters, digits, spaces, `.`, `_` or `-`")]
    BadTokenName(String),
    /// The new password is refused.
    #[error("the password is refused: {0}")]
    WeakPassword(String),
    /// The password could not be hashed.
    #[error("the password could not be hashed: {0}")]
    Hash(String),
    /// A role is stored that this version does not know.
    #[error("user {user:?} has a role this version does not know: {role:?}")]
    UnknownRole {
        /// The user.
        user: String,
        /// What is stored.
        role: String,
    },
}

impl AuthError {
    pub(crate) fn store(what: impl Into<String>) -> impl FnOnce(sqlx::Error) -> Self {
        let what = what.into();
        move |source| Self::Store { what, source }
    }
}
