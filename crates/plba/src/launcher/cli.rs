//! The command line every application gets: the platform's commands, and the
//! application's own flattened among them.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

// The whole command line of an application with its own commands `A`. (A `//` comment: a
// doc comment here would become every application's `--help` text.)
#[derive(Debug, Parser)]
pub(super) struct Cli<A: Subcommand> {
    /// A YAML configuration file.
    #[arg(long, short, global = true)]
    pub(super) config: Option<PathBuf>,

    /// Override one setting: `--set section.key=value` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE", global = true)]
    pub(super) overrides: Vec<String>,

    #[command(subcommand)]
    pub(super) command: Option<Command<A>>,
}

/// The platform's commands, then the application's.
#[derive(Debug, Subcommand)]
pub(super) enum Command<A: Subcommand> {
    /// Run until Ctrl-C or SIGTERM (the default).
    Run,
    /// Validate the configuration and print it, secrets redacted.
    CheckConfig,
    #[command(flatten)]
    App(A),
    /// Ask a running instance for its status.
    Status(Remote),
    /// Ask a running instance for its health.
    Health(Remote),
    /// Stop a running instance's workers (the process stays up).
    Stop(Remote),
    /// Start a running instance's workers again.
    Start(Remote),
    /// Make a running instance reload its configuration.
    Reload(Remote),
    /// Stop a running instance gracefully and let it exit.
    Shutdown(Remote),
    /// Change a running instance's log level now (kept until it exits): `debug`, or a
    /// filter such as `info,plba_core=debug`.
    LogLevel {
        /// The level or filter.
        level: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// A running instance's dead letters: work given up that an operator must act on.
    #[command(subcommand)]
    DeadLetters(DeadLettersCommand),
    /// The control plane's users, in the database `platform.control.users` names.
    #[command(subcommand)]
    Users(UsersCommand),
    /// The configuration database `platform.config_store` names: every instance applies
    /// a change within a second, once it is checked as `check-config` checks.
    #[command(subcommand)]
    Config(ConfigCommand),
}

#[derive(Debug, Subcommand)]
pub(super) enum ConfigCommand {
    /// The value in force at a key, and which layer it comes from.
    Get {
        /// The dotted key path (`section.key`).
        key: String,
    },
    /// Set a key in the database (its value as YAML, as the file would have it; `-` reads
    /// it from standard input), checked as `check-config` checks first.
    Set {
        /// The dotted key path.
        key: String,
        /// The value, as YAML.
        value: String,
        /// Why (kept in the history).
        #[arg(long, short = 'm')]
        comment: Option<String>,
    },
    /// Remove a key from the database, so the file's value (or the default) applies again.
    Unset {
        /// The dotted key path.
        key: String,
        /// Why (kept in the history).
        #[arg(long, short = 'm')]
        comment: Option<String>,
    },
    /// Who changed what and when, newest first.
    History {
        /// Only this key.
        key: Option<String>,
        /// At most this many entries.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
    /// What changed since revision REV: what `rollback REV` would undo.
    Diff {
        /// The revision to compare with.
        revision: u64,
    },
    /// Make the values what they were at revision REV, as a new revision (checked first).
    Rollback {
        /// The revision to go back to.
        revision: u64,
        /// Why (kept in the history).
        #[arg(long, short = 'm')]
        comment: Option<String>,
    },
}

/// A role, as the configuration writes it.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub(super) enum RoleArg {
    /// Reads.
    Viewer,
    /// Reads, and runs the work: stop, start, dead letters.
    Operator,
    /// Everything, the configuration included.
    Admin,
}

impl From<RoleArg> for plba_config::ControlRole {
    fn from(role: RoleArg) -> Self {
        match role {
            RoleArg::Viewer => Self::Viewer,
            RoleArg::Operator => Self::Operator,
            RoleArg::Admin => Self::Admin,
        }
    }
}

/// Where a new password comes from: a file, or standard input (never the command line,
/// which other users of the machine can read).
#[derive(Debug, Args)]
pub(super) struct PasswordSource {
    /// A file holding the password (its first line). Without it, the password is read from
    /// standard input.
    #[arg(long)]
    pub(super) password_file: Option<std::path::PathBuf>,
}

#[derive(Debug, Subcommand)]
pub(super) enum UsersCommand {
    /// Add a user with a role and a password.
    Add {
        /// The user's name.
        name: String,
        /// What the user may do.
        #[arg(long, value_enum)]
        role: RoleArg,
        #[command(flatten)]
        password: PasswordSource,
    },
    /// List the users, their roles and whether they are disabled.
    List {
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
    /// Disable a user: they can no longer sign in.
    Disable {
        /// The user's name.
        name: String,
    },
    /// Enable a disabled user again.
    Enable {
        /// The user's name.
        name: String,
    },
    /// Change a user's role.
    SetRole {
        /// The user's name.
        name: String,
        /// The new role.
        #[arg(value_enum)]
        role: RoleArg,
    },
    /// Set a new password for a user (an admin's reset).
    ResetPassword {
        /// The user's name.
        name: String,
        #[command(flatten)]
        password: PasswordSource,
    },
    /// Make an API token for a user; it is printed once, and kept only as a hash.
    TokenAdd {
        /// The user's name.
        user: String,
        /// The token's name (what it is for: `ci`, `grafana`).
        #[arg(long = "name")]
        token_name: String,
        /// How long it works: `90d`, `12h`.
        #[arg(long, default_value = "90d")]
        expires_in: String,
    },
    /// List API tokens (a user's, or everyone's), never their secrets.
    Tokens {
        /// Only this user's.
        user: Option<String>,
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a user's API token: it stops working at once.
    TokenRevoke {
        /// The user's name.
        user: String,
        /// The token's id (the 8 hex digits after `plba_`).
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub(super) enum DeadLettersCommand {
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
pub(super) struct DeadLetterSelection {
    /// The task whose dead letter to act on (its id, from `dead-letters list`).
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub(super) task: Option<String>,
    /// Every dead letter of the queue.
    #[arg(long)]
    pub(super) all: bool,
    #[command(flatten)]
    pub(super) target: DeadLetterTarget,
}

#[derive(Debug, Args)]
pub(super) struct DeadLetterTarget {
    /// The queue (default: the application's main queue).
    #[arg(long)]
    pub(super) queue: Option<String>,
    #[command(flatten)]
    pub(super) remote: Remote,
}

/// Where a running instance's control plane is, and the token to present.
#[derive(Debug, Args)]
pub(super) struct Remote {
    /// The control plane's URL (default: from platform.control.bind).
    #[arg(long)]
    pub(super) url: Option<String>,
    /// A control-plane token (admin for actions).
    #[arg(long, env = "PLBA_CONTROL_TOKEN", hide_env_values = true)]
    pub(super) token: Option<String>,
}

/// For an application without commands of its own.
#[derive(Clone, Copy, Debug, Subcommand)]
pub enum NoCommands {}
