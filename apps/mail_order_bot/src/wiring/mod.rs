//! The wiring: the decision and the store put to work on the runtime's contracts — the
//! application module, the order handler, the configuration followed live, the console's
//! pages, the nightly summary and the sample mails.
//!
//! It uses both other layers (and the configuration); neither uses it.
//!
//! - `module`: [`MailOrderBot`], what the bot asks the runtime to run;
//! - `handler`: [`OrderMailHandler`], one mail in, one stored order or rejection out;
//! - `live_config`: the section read and checked alike at `check-config`, start-up and
//!   reload, and the rules swapped live ([`LiveRules`]);
//! - `views`: the console's pages of orders and rejections;
//! - `summary`: the nightly summary job;
//! - `samples`: the sample mails of the embedded demo.

mod handler;
mod live_config;
mod module;
mod samples;
mod summary;
mod views;

pub use handler::OrderMailHandler;
pub use live_config::{LiveRules, read_config};
pub use module::{MailOrderBot, SUMMARY_SCHEDULE};
pub use samples::SAMPLES;
pub use summary::{SUMMARY_PERIOD, SummaryJob, summary_csv, summary_file_name};
pub use views::{OrdersView, RejectionsView};
