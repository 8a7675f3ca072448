//! The command line.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// mail_order_bot: turns order mails (CSV or XLSX attachments) into orders.
#[derive(Debug, Parser)]
#[command(name = "mail_order_bot", version)]
pub(crate) struct Cli {
    /// A YAML configuration file. Without one, the embedded demo configuration runs
    /// (Maildir, memory queue and SQLite under ./data, sample customers and mails).
    #[arg(long, short, global = true, env = "MAIL_ORDER_BOT_CONFIG")]
    pub(crate) config: Option<PathBuf>,

    /// Override one setting: `--set mail_order_bot.workers=5` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE", global = true)]
    pub(crate) overrides: Vec<String>,

    #[command(subcommand)]
    pub(crate) command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run the bot until Ctrl-C or SIGTERM (the default).
    Run,
    /// Validate the configuration and print it, secrets redacted.
    CheckConfig,
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
    /// Ask a running bot for its status.
    Status(Remote),
    /// Ask a running bot for its health.
    Health(Remote),
    /// Stop a running bot's workers (the process stays up).
    Stop(Remote),
    /// Start a running bot's workers again.
    Start(Remote),
    /// Make a running bot reload its configuration.
    Reload(Remote),
    /// Stop a running bot gracefully and let it exit.
    Shutdown(Remote),
    /// Change a running bot's log level now (kept until it exits): `debug`, or a filter
    /// such as `info,plba_core=debug`.
    LogLevel {
        /// The level or filter.
        level: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// A running bot's dead letters: work given up that an operator must act on.
    #[command(subcommand)]
    DeadLetters(DeadLettersCommand),
}

#[derive(Debug, Subcommand)]
pub(crate) enum DeadLettersCommand {
    /// The newest dead letters, with their attempts and the last error.
    List {
        /// At most this many, newest first.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        #[command(flatten)]
        target: DeadLetterTarget,
    },
    /// Put dead letters back in their queue, attempts reset (after fixing their cause).
    Replay(DeadLetterSelection),
    /// Delete dead letters for good.
    Purge(DeadLetterSelection),
}

#[derive(Debug, Args)]
pub(crate) struct DeadLetterSelection {
    /// The task whose dead letter to act on (its id, from `dead-letters list`).
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub(crate) task: Option<String>,
    /// Every dead letter of the queue.
    #[arg(long)]
    pub(crate) all: bool,
    #[command(flatten)]
    pub(crate) target: DeadLetterTarget,
}

#[derive(Debug, Args)]
pub(crate) struct DeadLetterTarget {
    /// The queue.
    #[arg(long, default_value = "mail")]
    pub(crate) queue: String,
    #[command(flatten)]
    pub(crate) remote: Remote,
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

#[derive(Debug, Args)]
pub(crate) struct Remote {
    /// The control plane's URL (default: from platform.control.bind).
    #[arg(long)]
    pub(crate) url: Option<String>,
    /// A control-plane token (admin for actions).
    #[arg(long, env = "PLBA_CONTROL_TOKEN", hide_env_values = true)]
    pub(crate) token: Option<String>,
}
