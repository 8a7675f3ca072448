//! mail_order_bot: customers e-mail orders as CSV or XLSX attachments; the bot turns each
//! mail into an order (once per Message-ID) or a recorded rejection with its reasons.
//!
//! This library is the domain. It depends on `plba-contracts` and the adapters it picks
//! (mail sources, the memory queue, generic workers) and on nothing of the runtime: the
//! launcher links the runtime. Swapping the mail source or the queue is configuration.
//!
//! Which adapters a build links is a deployment's choice, made with cargo features (see
//! [`Adapter`]): `maildir`, `imap` (async-imap, rustls) and `redis` (the Redis queue and
//! the source lease), `postgres` (an order store shared by bots on several hosts), plus
//! `sqlite`, the store every build needs. The default is all of them. A configuration naming an adapter the build lacks still parses and is refused by
//! [`AppConfig::check`], naming the missing feature.
//!
//! - [`process_mail`]: the pure decision for one mail (MIME → attachments → lines →
//!   validation → [`Decision`]).
//! - [`OrderMailHandler`]: runs the decision off the async threads and stores the outcome.
//! - [`OrderStore`] / [`SqliteOrderStore`] / `PostgresOrderStore`: orders and rejections,
//!   idempotent on Message-ID; [`open_store`] opens the one the configuration names.
//! - [`MailOrderBot`]: the application module wiring source → queue → handlers → store.

#[cfg(not(feature = "sqlite"))]
compile_error!(
    "mail_order_bot needs an order store: enable the `sqlite` feature (the only store so far)"
);
#[cfg(not(any(feature = "maildir", feature = "imap")))]
compile_error!("mail_order_bot needs a mail source: enable the `maildir` or the `imap` feature");

mod config;
mod error;
mod handler;
mod live_config;
mod model;
mod module;
mod money;
mod process;
mod rules;
mod samples;
mod store;
mod summary;
mod table;
mod views;

#[cfg(feature = "postgres")]
pub use config::PostgresStoreOptions;
pub use config::{
    Adapter, AppConfig, Limits, MAX_WORKERS, MODULE, NotBuilt, QueueConfig, RetryConfig,
    ScheduleLeaseConfig, SourceConfig, SourceLeaseConfig, SqliteStoreOptions, StoreConfig,
    SummaryConfig,
};
pub use error::DomainError;
pub use handler::OrderMailHandler;
pub use live_config::{LiveRules, read_config};
pub use model::{
    CustomerTotals, Decision, NewOrder, NewRejection, Order, OrderLine, PeriodSummary, Rejection,
};
pub use module::{MailOrderBot, SUMMARY_SCHEDULE};
pub use money::format_cents;
pub use process::process_mail;
pub use rules::{Catalog, Rules};
pub use samples::SAMPLES;
pub use store::{OrderStore, SqliteOrderStore, Stored, open_store};
#[cfg(feature = "postgres")]
pub use store::{PostgresOrderStore, PostgresSettings};
pub use summary::{SUMMARY_PERIOD, SummaryJob, summary_csv, summary_file_name};
pub use views::{OrdersView, RejectionsView};
