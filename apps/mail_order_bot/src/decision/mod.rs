//! The decision: what one mail means — an order, or a rejection with every reason — as a
//! plain function of its bytes and the rules in force.
//!
//! It uses nothing of the other layers: no store, no configuration section, no runtime;
//! no async and no I/O but reading a catalog file. The configuration and the store use its
//! types ([`Limits`], [`NewOrder`], [`Order`], …), never the other way round.
//!
//! - `model`: what an order and a rejection are;
//! - `process`: one mail → a [`Decision`] (MIME, attachments, lines, validation);
//! - `table`: attachments as tables of text (CSV in its encodings, XLSX with its bounds);
//! - `rules`: what the bot knows before reading a mail (customers, catalog, [`Limits`]);
//! - `money`: prices as whole cents.

mod model;
mod money;
mod process;
mod rules;
mod table;

pub use model::{
    CustomerTotals, Decision, NewOrder, NewRejection, Order, OrderLine, PeriodSummary, Rejection,
};
pub use money::format_cents;
pub use process::{process_light_mail, process_mail};
pub use rules::{Catalog, Limits, Rules};
