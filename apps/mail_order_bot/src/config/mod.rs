//! Configuration: the `mail_order_bot` section — its types, how a `kind` picks an adapter,
//! its checks, and which changes wait for a restart.
//!
//! The grammar is the same in every build: a section that names an adapter this build was
//! compiled without (see [`Adapter`]) still parses, as [`NotBuilt`], and
//! [`AppConfig::check`] refuses it naming the missing cargo feature.
//!
//! This file is the part's face: what the others may name. Its parts import each other
//! only downwards, never this file:
//!
//! - `adapter`: the adapters a build may lack ([`Adapter`], [`NotBuilt`]);
//! - `schema`: the types, every key and its default, and [`MODULE`], the section's name;
//! - `decode`: reading the section ([`AppConfig::from_config`]), then its tagged sections
//!   (`source`, `queue`, `store`): `kind` → variant;
//! - `check`: what the types cannot say ([`AppConfig::check`]);
//! - `restart`: which changes wait for a restart ([`AppConfig::restart_required`]).

mod adapter;
mod check;
mod decode;
mod restart;
mod schema;
#[cfg(test)]
mod tests;

pub use adapter::{Adapter, NotBuilt};
#[cfg(feature = "postgres")]
pub use schema::PostgresStoreOptions;
pub use schema::{
    AppConfig, MAX_WORKERS, MODULE, QueueConfig, RetryConfig, ScheduleLeaseConfig, SourceConfig,
    SourceLeaseConfig, SqliteStoreOptions, StoreConfig, SummaryConfig,
};
