//! Sending a reminder: over SMTP (lettre), or into a directory of `.eml` files.

use std::time::Duration;

use lettre::message::{Mailbox, Message, header::ContentType};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use std::path::PathBuf;

use crate::error::ReminderError;
use plba_contracts::Secret;
use serde::Deserialize;

/// Where reminders are sent: an SMTP server, or files in a directory (the demo, tests of
/// templates).
#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum MailConfig {
    /// An SMTP server (a relay on the host, the company's mail server).
    Smtp {
        /// The server's host name or address.
        host: String,
        /// Its port.
        #[serde(default = "default_smtp_port")]
        port: u16,
        /// The sender address (`Billing <billing@example.com>`).
        from: String,
        /// A user name, when the server wants one.
        #[serde(default)]
        username: Option<String>,
        /// Its password (give it as `password_file: /path`).
        #[serde(default)]
        password: Option<Secret<String>>,
        /// How long a delivery may take before it is retried.
        #[serde(default = "default_smtp_timeout")]
        timeout_ms: u64,
    },
    /// One `.eml` file per reminder in `directory`.
    Files {
        /// Where the files go.
        directory: PathBuf,
        /// The sender address.
        from: String,
    },
}

fn default_smtp_port() -> u16 {
    25
}

fn default_smtp_timeout() -> u64 {
    30_000
}

impl MailConfig {
    /// The sender address.
    pub fn from(&self) -> &str {
        match self {
            Self::Smtp { from, .. } | Self::Files { from, .. } => from,
        }
    }
}

/// One reminder e-mail, ready to send.
#[derive(Clone, Debug)]
pub(crate) struct Outgoing {
    /// The recipient's name.
    pub(crate) to_name: String,
    /// The recipient's address.
    pub(crate) to_address: String,
    /// The subject line.
    pub(crate) subject: String,
    /// The plain-text body.
    pub(crate) body: String,
    /// The Message-ID, the same on every attempt: a receiving system that sees one
    /// reminder twice (a crash between sending and recording) can tell.
    pub(crate) message_id: String,
}

/// Where reminders go.
#[derive(Debug)]
pub(crate) enum Mailer {
    /// An SMTP server.
    Smtp {
        /// lettre's transport.
        transport: AsyncSmtpTransport<Tokio1Executor>,
        /// The sender.
        from: Mailbox,
    },
    /// `.eml` files in a directory.
    Files {
        /// lettre's file transport.
        transport: lettre::AsyncFileTransport<Tokio1Executor>,
        /// The sender.
        from: Mailbox,
    },
}

/// The sender `from` as a mailbox; an error says why it is not one.
pub(crate) fn sender(from: &str) -> Result<Mailbox, ReminderError> {
    from.parse::<Mailbox>().map_err(|error| {
        ReminderError::Message(format!("{from:?} is not a sender address: {error}"))
    })
}

impl Mailer {
    /// The mailer `config` describes (the directory is made when missing).
    pub(crate) fn new(config: &MailConfig) -> Result<Self, ReminderError> {
        match config {
            MailConfig::Smtp {
                host,
                port,
                from,
                username,
                password,
                timeout_ms,
            } => {
                // Plain SMTP: a relay on the host or the local network (see the deploy notes).
                let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
                    .port(*port)
                    .timeout(Some(Duration::from_millis(*timeout_ms)));
                if let (Some(user), Some(password)) = (username, password) {
                    builder = builder.credentials(Credentials::new(
                        user.clone(),
                        password.expose().trim().to_owned(),
                    ));
                }
                Ok(Self::Smtp {
                    transport: builder.build(),
                    from: sender(from)?,
                })
            }
            MailConfig::Files { directory, from } => {
                std::fs::create_dir_all(directory).map_err(|error| {
                    ReminderError::Message(format!(
                        "the mail directory {} cannot be made: {error}",
                        directory.display()
                    ))
                })?;
                Ok(Self::Files {
                    transport: lettre::AsyncFileTransport::new(directory),
                    from: sender(from)?,
                })
            }
        }
    }

    /// Sends `mail`; an error is worth retrying (the server was down, say).
    pub(crate) async fn send(&self, mail: &Outgoing) -> Result<(), ReminderError> {
        let from = match self {
            Self::Smtp { from, .. } | Self::Files { from, .. } => from.clone(),
        };
        let to = Mailbox::new(
            Some(mail.to_name.clone()),
            mail.to_address.parse().map_err(|error| {
                ReminderError::Message(format!("{:?}: {error}", mail.to_address))
            })?,
        );
        let message = Message::builder()
            .from(from)
            .to(to)
            .subject(mail.subject.clone())
            .message_id(Some(mail.message_id.clone()))
            .header(ContentType::TEXT_PLAIN)
            .body(mail.body.clone())
            .map_err(|error| ReminderError::Message(error.to_string()))?;
        match self {
            Self::Smtp { transport, .. } => {
                transport
                    .send(message)
                    .await
                    .map(drop)
                    .map_err(|error| ReminderError::Send {
                        permanent: error.is_permanent(),
                        source: Box::new(error),
                    })
            }
            Self::Files { transport, .. } => {
                transport
                    .send(message)
                    .await
                    .map(drop)
                    .map_err(|error| ReminderError::Send {
                        permanent: false,
                        source: Box::new(error),
                    })
            }
        }
    }
}
