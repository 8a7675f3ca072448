//! What can go wrong in the domain, one enum for the crate.

/// Why a reminder, an invoice or the store failed.
#[derive(Debug, thiserror::Error)]
pub enum ReminderError {
    /// The store could not be opened or did not answer.
    #[error("the reminder store {what}")]
    Store {
        /// What failed (`did not answer`, `cannot be opened at …`).
        what: String,
        /// The database's error.
        #[source]
        source: sqlx::Error,
    },
    /// A template does not compile or does not render.
    #[error("the {which} template {what}")]
    Template {
        /// `subject` or `body`.
        which: &'static str,
        /// What failed.
        what: &'static str,
        /// The template engine's error.
        #[source]
        source: minijinja::Error,
    },
    /// The e-mail could not be built (an address that is not one).
    #[error("the reminder e-mail cannot be built: {0}")]
    Message(String),
    /// The section does not hold together (checked by `check-config` first).
    #[error("the configuration is invalid")]
    Config(#[from] plba_contracts::ConfigError),
    /// The mail server refused the e-mail or could not be reached.
    #[error("the reminder e-mail was not sent")]
    Send {
        /// Whether the server refused it for good (a 5xx answer): retrying cannot help.
        permanent: bool,
        /// The transport's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl ReminderError {
    /// Whether retrying cannot help: an e-mail that cannot be built, a template that does
    /// not render, a mail server's permanent refusal.
    pub fn is_permanent(&self) -> bool {
        match self {
            Self::Message(_) | Self::Template { .. } => true,
            Self::Send { permanent, .. } => *permanent,
            Self::Store { .. } | Self::Config(_) => false,
        }
    }

    pub(crate) fn store(what: impl Into<String>) -> impl FnOnce(sqlx::Error) -> Self {
        let what = what.into();
        move |source| Self::Store { what, source }
    }
}

impl From<ReminderError> for plba_contracts::RegistryError {
    fn from(error: ReminderError) -> Self {
        Self::module(crate::config::MODULE, "its parts", error)
    }
}
