//! The control plane's users: accounts in a database (SQLite beside the application, or
//! PostgreSQL shared by several instances), each with a role (`viewer`, `operator`,
//! `admin`) and a password kept only as an Argon2id hash (a PHC string, rehashed at sign-in
//! when the parameters change).
//!
//! [`UserStore`] adds, lists, disables, enables, re-roles and resets users, and makes,
//! lists and revokes their API tokens (`plba_<id>_<secret>`, kept as SHA-256 hashes); the
//! operator CLI of every application (`users …`) works on it. [`UserStore::authenticate`] answers an
//! unknown user and a wrong password alike, after the same work.

mod changes;
mod error;
mod lockout;
pub mod oidc;
pub mod password;
mod schema;
mod sessions;
mod store;
mod tokens;

pub use changes::UserChange;
pub use error::AuthError;
pub use lockout::{LockoutPolicy, SignIn};
pub use sessions::{SessionLifetimes, StoredSession};
pub use store::{User, UserStore, check_name};
pub use tokens::{NewToken, TOKEN_PREFIX, TokenInfo, is_user_token};
