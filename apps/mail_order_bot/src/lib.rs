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
//! `sqlite`, the store every build needs. The default is all of them. A configuration
//! naming an adapter the build lacks still parses and is refused by
//! [`AppConfig::check`], naming the missing feature.
//!
//! # Layers
//!
//! The crate is three layers, a directory each, and what they share:
//!
//! - `decision/` — what one mail means: [`process_mail`] turns its bytes and the
//!   [`Rules`] into a [`Decision`] (an order or a rejection). It uses nothing of storage,
//!   configuration or wiring.
//! - `store/` — where the outcomes are kept: the [`OrderStore`] contract, SQLite
//!   ([`SqliteOrderStore`]) and PostgreSQL (`PostgresOrderStore`) behind it, idempotent on
//!   Message-ID, and [`open_store`] for the one the configuration names. It uses the
//!   decision's types and its own section of the configuration, nothing of the wiring.
//! - `wiring/` — the two put to work on the runtime's contracts: [`MailOrderBot`] (source →
//!   queue → [`OrderMailHandler`] → store), the configuration followed live, the console's
//!   pages, the nightly summary. It uses both layers; neither uses it.
//! - shared: `config/` (the `mail_order_bot` section: its types, decoding, checks and
//!   restart rules; it uses the decision's [`Limits`]) and `error.rs` ([`DomainError`]).
//!
//! A layer's `mod.rs` says what it offers; the other layers import that, and a layer's own
//! files import their siblings, never their `mod.rs`: no two modules import each other.
//!
//! # One mail
//!
//! [`process_mail`] parses the MIME (mail-parser), finds the order attachments — CSV
//! (`,` or `;`; UTF-8 with or without BOM, else Windows-1252; a declared charset decoded
//! strictly, never lossily) or XLSX (first sheet) — and validates every line against the
//! [`Rules`] (customers, catalog, [`Limits`]). [`OrderMailHandler`] runs it off the async
//! threads and stores the outcome; the [`MailTaskHandler`](plba_mail::MailTaskHandler) around
//! it marks the mail seen only once the store answered.
//!
//! Invariants:
//!
//! - No input panics the handler or the process: every malformed mail, attachment or line,
//!   and a mail over the size limit, becomes a recorded rejection reason.
//! - A memory budget per mail: the message, each attachment, the lines, an XLSX's
//!   decompressed size (a zip-bomb guard) and its shape (cells streamed, at most 64
//!   columns: a sheet costs what it holds, never the range it spans) are bounded before
//!   anything is materialised.
//! - Durable before seen: a mail is marked seen only after its order or rejection is
//!   committed; a store failure is transient, and the mail stays unseen until a retry
//!   succeeds, without a restart.
//! - A Message-ID is keyed on its exact bytes; one reused by another sender is a recorded
//!   rejection, not a duplicate.
//! - A rejection is a recorded, acked outcome; the allowlist is exactly what the
//!   operator's configuration states.
//!
//! # The nightly summary
//!
//! With `summary.schedule` set, [`MailOrderBot`] registers the schedule
//! [`SUMMARY_SCHEDULE`], whose [`SummaryJob`] asks the store for the orders per customer and
//! the rejections since the last summary and writes them as one CSV file (written aside,
//! then renamed), trying for up to an hour (never past half the time to the next
//! occurrence). The period starts at the newest summary file in its directory — for bots
//! sharing the schedule through `summary.lease`, at the later of that and the occurrence
//! claimed before — and, with no file, at the occurrence claimed before, the schedule's
//! previous one, or [`SUMMARY_PERIOD`] back. A single bot keeps the schedule's record in a
//! [`FileScheduleStore`](plba_workers::FileScheduleStore) in the summary directory, so a
//! night missed while it was down is caught up at start; with a lease, a Redis lease and
//! store. The directory is created at start, so a bad one stops the bot at once.

#[cfg(not(feature = "sqlite"))]
compile_error!(
    "mail_order_bot needs an order store: enable the `sqlite` feature (the default store; `postgres` adds PostgreSQL beside it)"
);
#[cfg(not(any(feature = "maildir", feature = "imap")))]
compile_error!("mail_order_bot needs a mail source: enable the `maildir` or the `imap` feature");

mod config;
mod decision;
mod error;
mod store;
mod wiring;

#[cfg(feature = "postgres")]
pub use config::PostgresStoreOptions;
pub use config::{
    Adapter, AppConfig, MAX_WORKERS, MODULE, NotBuilt, QueueConfig, RetryConfig,
    ScheduleLeaseConfig, SourceConfig, SourceLeaseConfig, SqliteStoreOptions, StoreConfig,
    SummaryConfig,
};
pub use decision::{
    Catalog, CustomerTotals, Decision, Limits, NewOrder, NewRejection, Order, OrderLine,
    PeriodSummary, Rejection, Rules, format_cents, process_light_mail, process_mail,
};
pub use error::DomainError;
pub use store::{OrderStore, SqliteOrderStore, Stored, open_store};
#[cfg(feature = "postgres")]
pub use store::{PostgresOrderStore, PostgresSettings};
pub use wiring::{
    LiveRules, MailOrderBot, OrderMailHandler, OrdersView, RejectionsView, SAMPLES, SUMMARY_PERIOD,
    SUMMARY_SCHEDULE, SummaryJob, read_config, summary_csv, summary_file_name,
};
