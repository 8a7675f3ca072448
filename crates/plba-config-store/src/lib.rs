//! Configuration kept in a database: SQLite on one host, or PostgreSQL shared by every
//! instance of an application. Values are stored per application and dotted key path as
//! YAML text (typed as if written in the file); every change makes a new revision and
//! appends to a history that says who changed what, when, from which value to which, and
//! why. [`ConfigStore::layer`] reads the values at the latest revision as a
//! [`plba_config::StoredLayer`], the layer `ConfigSource` puts above the file.

pub mod cache;
mod commit;
mod error;
mod follow;
mod listen;
mod schema;
mod store;

pub use commit::{Committed, changes_setting, shadowed, with_changes};
pub use error::ConfigStoreError;
pub use follow::{FollowState, FollowStatus, Startup, StoreFollower};
pub use store::{Change, ConfigStore, HistoryEntry, NOTIFY_CHANNEL};

/// `url` as errors, logs and the status show it: without a password, nor its query.
pub fn shown_url(url: &str) -> String {
    store::without_password(url)
}
