//! Configuration kept in a database: SQLite on one host, or PostgreSQL shared by every
//! instance of an application. Values are stored per application and dotted key path as
//! YAML text (typed as if written in the file); every change makes a new revision and
//! appends to a history that says who changed what, when, from which value to which, and
//! why. [`ConfigStore::layer`] reads the values at the latest revision as a
//! [`plba_config::StoredLayer`], the layer `ConfigSource` puts above the file.

mod error;
mod schema;
mod store;

pub use error::ConfigStoreError;
pub use store::{Change, ConfigStore, HistoryEntry};
