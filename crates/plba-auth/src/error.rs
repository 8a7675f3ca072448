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
    /// The configuration names an OpenID Connect provider, and this build was made without
    /// single sign-on.
    #[error(
        "this build has no single sign-on (its feature `oidc` is off); remove platform.control.oidc"
    )]
    NoSingleSignOn,
    /// Too many passwords are being checked at once; the caller may retry shortly.
    #[error("too many sign-ins at once; retry shortly")]
    Busy,
    /// A user of this name exists already (perhaps written with other capitals).
    #[error("a user named {0:?} exists already (names that differ only in capitals are one)")]
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
    /// The user holds as many live tokens as anyone may.
    #[error("{user:?} holds {max} live tokens, the most anyone may: revoke one first")]
    TooManyTokens {
        /// Whose.
        user: String,
        /// The most.
        max: i64,
    },
    /// The new password is refused.
    #[error("the password is refused: {0}")]
    WeakPassword(String),
    /// The password could not be hashed.
    #[error("the password could not be hashed: {0}")]
    Hash(String),
    /// The OpenID Connect provider could not be reached, or answered what cannot be used.
    #[error("the OpenID Connect provider {what}")]
    Provider {
        /// What failed.
        what: String,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A single sign-on came back with no sign-in this application started, one already
    /// finished, or one started more than ten minutes ago.
    #[error("this sign-in is unknown, already used or too old; sign in again")]
    SignInExpired,
    /// The provider's ID token failed a check (signature, issuer, audience, expiry, nonce).
    #[error("the ID token is refused: {0}")]
    BadIdToken(String),
    /// The provider said no, or the person cancelled.
    #[error("the provider refused the sign-in: {0}")]
    ProviderRefused(String),
    /// The person's claim maps to no role: they may not sign in.
    #[error("{name:?} may not sign in: no value of the `{claim}` claim maps to a role here")]
    NoRole {
        /// Who.
        name: String,
        /// The claim that was read.
        claim: String,
    },
    /// The name the provider gives is another user's (one who signs in with a password, or
    /// another account at the provider), perhaps written with other capitals.
    #[error(
        "{0:?} is taken by another user (perhaps with other capitals); an administrator must rename or remove that user first"
    )]
    NameTaken(String),
    /// A single-sign-on user was disabled by an administrator.
    #[error("{0:?} is disabled")]
    Disabled(String),
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
