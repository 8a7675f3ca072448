//! Options of an IMAP mailbox.

use std::time::Duration;

use plba_contracts::Secret;
use serde::Deserialize;

/// How the connection is protected.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Security {
    /// Implicit TLS from the first byte (IMAPS, usually port 993): the default.
    #[default]
    Tls,
    /// Plain text upgraded with STARTTLS (usually port 143); refused if the server cannot.
    Starttls,
    /// Plain text: only for loopback tests, and only when asked for explicitly.
    Plain,
}

/// One IMAP mailbox to read orders from.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImapOptions {
    /// Server host name or address.
    pub host: String,
    /// Server port.
    pub port: u16,
    /// Connection security (default: implicit TLS).
    #[serde(default)]
    pub security: Security,
    /// Trust only this CA (PEM) instead of the system's roots.
    #[serde(default)]
    pub ca_file: Option<std::path::PathBuf>,
    /// Login name.
    pub user: String,
    /// Password (give it as `password_file` or through env).
    pub password: Secret<String>,
    /// The folder to read.
    #[serde(default = "default_mailbox")]
    pub mailbox: String,
    /// Poll every this many milliseconds (with IDLE: rescan at least this often anyway).
    #[serde(default = "default_poll_ms")]
    pub poll_interval_ms: u64,
    /// With IDLE, re-issue it after this many milliseconds (RFC 2177: servers may drop an
    /// IDLE after 30 minutes).
    #[serde(default = "default_idle_max_ms")]
    pub idle_max_ms: u64,
    /// Larger messages are rejected without being fetched whole.
    #[serde(default = "default_max_message")]
    pub max_message_bytes: u64,
    /// Most bytes of messages fetched and not yet done with, across all workers (a larger
    /// message is fetched alone).
    #[serde(default = "default_memory_budget")]
    pub memory_budget_bytes: u64,
    /// Move rejected messages to this folder (created when missing); when unset they are
    /// flagged `\Flagged` and `\Seen` where they are.
    #[serde(default)]
    pub rejected_folder: Option<String>,
    /// Timeout of one IMAP command, in milliseconds.
    #[serde(default = "default_command_ms")]
    pub command_timeout_ms: u64,
    /// First reconnect delay, in milliseconds (doubles up to `reconnect_max_ms`).
    #[serde(default = "default_reconnect_ms")]
    pub reconnect_initial_ms: u64,
    /// Largest reconnect delay, in milliseconds.
    #[serde(default = "default_reconnect_max_ms")]
    pub reconnect_max_ms: u64,
    /// Unhealthy once the server has been unreachable this long, in milliseconds.
    #[serde(default = "default_outage_ms")]
    pub unhealthy_after_ms: u64,
}

fn default_mailbox() -> String {
    "INBOX".to_owned()
}
fn default_poll_ms() -> u64 {
    30_000
}
fn default_idle_max_ms() -> u64 {
    28 * 60 * 1000
}
fn default_max_message() -> u64 {
    25 * 1024 * 1024
}
fn default_memory_budget() -> u64 {
    plba_mail::DEFAULT_MEMORY_BUDGET
}
fn default_command_ms() -> u64 {
    30_000
}
fn default_reconnect_ms() -> u64 {
    500
}
fn default_reconnect_max_ms() -> u64 {
    60_000
}
fn default_outage_ms() -> u64 {
    300_000
}

impl ImapOptions {
    /// Checks the options as configuration without connecting, naming the offending key
    /// (relative to the options' own section).
    pub fn check(&self) -> Result<(), plba_contracts::ConfigError> {
        use plba_contracts::ConfigError;
        let empty = |key: &str, value: &str| {
            if value.trim().is_empty() {
                Err(ConfigError::invalid(key, "is empty"))
            } else {
                Ok(())
            }
        };
        empty("host", &self.host)?;
        empty("user", &self.user)?;
        empty("mailbox", &self.mailbox)?;
        if self.port == 0 {
            return Err(ConfigError::invalid("port", "must be between 1 and 65535"));
        }
        if self.max_message_bytes == 0 {
            return Err(ConfigError::invalid(
                "max_message_bytes",
                "must be at least 1",
            ));
        }
        if self.memory_budget_bytes < 1024 {
            return Err(ConfigError::invalid(
                "memory_budget_bytes",
                "must be at least 1024",
            ));
        }
        if let Some(ca) = &self.ca_file
            && !ca.is_file()
        {
            return Err(ConfigError::invalid(
                "ca_file",
                format!("{} is not a readable file", ca.display()),
            ));
        }
        if let Some(folder) = &self.rejected_folder {
            // Folder names are compared as IMAP does: INBOX in any case is the INBOX.
            let same = |a: &str, b: &str| {
                a == b || (a.eq_ignore_ascii_case("INBOX") && b.eq_ignore_ascii_case("INBOX"))
            };
            let bad = folder.trim().is_empty()
                || folder.starts_with(['/', '.'])
                || folder.contains("..")
                || folder.contains(['*', '%', '\r', '\n', '"'])
                || same(folder, &self.mailbox);
            if bad {
                return Err(ConfigError::invalid(
                    "rejected_folder",
                    format!(
                        "{folder:?} is not a usable folder name; use a plain name such as \"Rejected\" other than the mailbox read"
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The mailbox name used in message references: `user@host:port/folder`.
    pub fn mailbox_name(&self) -> String {
        format!("{}@{}:{}/{}", self.user, self.host, self.port, self.mailbox)
    }

    pub(crate) fn command_timeout(&self) -> Duration {
        Duration::from_millis(self.command_timeout_ms.max(100))
    }
}

/// Why an IMAP operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ImapError {
    /// The server could not be reached or the connection broke.
    #[error("IMAP server {server}: {what}")]
    Connection {
        /// `host:port`.
        server: String,
        /// What happened.
        what: String,
        /// The I/O or protocol error, when there is one.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// The server refused the login (the password is never shown).
    #[error("IMAP login as {user} on {server} refused")]
    Login {
        /// `host:port`.
        server: String,
        /// The user.
        user: String,
        /// The server's answer.
        #[source]
        source: async_imap::error::Error,
    },
    /// A command failed or timed out.
    #[error("IMAP {command} on {server}: {what}")]
    Command {
        /// `host:port`.
        server: String,
        /// The command.
        command: &'static str,
        /// What happened.
        what: String,
        /// The protocol or I/O error, when there is one.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
}
