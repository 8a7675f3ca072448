//! mail_order_bot's own commands; the platform's come from `plba::launcher`.

use std::path::PathBuf;

use clap::{Args, Subcommand};

/// mail_order_bot's own commands, beside the platform's (`run`, `check-config`, `status`,
/// `dead-letters`, …).
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Deliver mail files (.eml) into the configured Maildir.
    Deliver {
        /// The files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Stored orders.
    #[command(subcommand)]
    Orders(OrdersCommand),
    /// Rejected mails.
    #[command(subcommand)]
    Rejections(RejectionsCommand),
}

#[derive(Debug, Subcommand)]
pub(crate) enum OrdersCommand {
    /// The most recent orders.
    List(Listing),
    /// One order with its lines.
    Show {
        /// The order id.
        id: i64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum RejectionsCommand {
    /// The most recent rejections with their reasons.
    List(Listing),
}

#[derive(Debug, Args)]
pub(crate) struct Listing {
    /// Print JSON.
    #[arg(long)]
    pub(crate) json: bool,
    /// At most this many, newest first.
    #[arg(long, default_value_t = 50)]
    pub(crate) limit: u32,
}
