//! The adapters a deployment picks at compile time, and the refusal of a section that
//! names one this build was compiled without.

use plba_contracts::ConfigError;

/// An adapter a deployment picks at compile time: a cargo feature of this crate and of the
/// launcher. The SQLite store is not one of them: every build has it (feature `sqlite`,
/// required), and the memory queue is always there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Adapter {
    /// The Maildir mail source (`source.kind: maildir`): feature `maildir`.
    Maildir,
    /// The IMAP mail sources (`source.kind: imap_poll` or `imap_idle`), with rustls:
    /// feature `imap`.
    Imap,
    /// The Redis queue (`queue.kind: redis`) and the source lease (`source_lease`):
    /// feature `redis`.
    Redis,
    /// The PostgreSQL order store (`store.kind: postgres`): feature `postgres`.
    Postgres,
}

impl Adapter {
    /// The cargo feature that compiles it in.
    pub const fn feature(self) -> &'static str {
        match self {
            Self::Maildir => "maildir",
            Self::Imap => "imap",
            Self::Redis => "redis",
            Self::Postgres => "postgres",
        }
    }

    /// Whether this build has it.
    pub const fn compiled_in(self) -> bool {
        match self {
            Self::Maildir => cfg!(feature = "maildir"),
            Self::Imap => cfg!(feature = "imap"),
            Self::Redis => cfg!(feature = "redis"),
            Self::Postgres => cfg!(feature = "postgres"),
        }
    }
}

/// A section whose `kind` names an adapter this build was compiled without. It parses, so
/// the grammar is the same in every build; [`AppConfig::check`](super::AppConfig::check)
/// refuses it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotBuilt {
    /// The `kind` the section names (`imap_idle`, `redis`, …).
    pub kind: String,
    /// The adapter that kind needs.
    pub adapter: Adapter,
}

impl NotBuilt {
    pub(super) fn new(kind: &str, adapter: Adapter) -> Self {
        Self {
            kind: kind.to_owned(),
            adapter,
        }
    }

    /// The refusal, at `kind` relative to the section that names it.
    pub fn error(&self) -> ConfigError {
        ConfigError::invalid(
            "kind",
            format!(
                "{} needs a mail_order_bot built with the `{}` feature",
                self.kind,
                self.adapter.feature()
            ),
        )
    }
}
