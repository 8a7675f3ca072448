//! Sending a reminder: over SMTP (lettre), or into a directory of `.eml` files.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use lettre::message::{Mailbox, Message, header::ContentType};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use plba_contracts::{ConfigError, Secret};
use serde::Deserialize;

use crate::error::ReminderError;

/// The largest CA file read, in bytes.
const CA_FILE_BYTES: u64 = 1 << 20;

/// How the connection to the SMTP server is protected.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmtpTls {
    /// Plain SMTP, then `STARTTLS`, required (port 587 or 25): the default.
    #[default]
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No TLS: only for a relay on this host or a network you trust; refused with a
    /// password unless the server is on loopback.
    None,
}

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
        /// `starttls` (the default), `tls` or `none`.
        #[serde(default)]
        tls: SmtpTls,
        /// A PEM file of the CA that signed the server's certificate, when it is not one
        /// the system trusts (certificates are always verified).
        #[serde(default)]
        ca_file: Option<PathBuf>,
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

    /// Checks what decoding cannot: a user name goes with a password, and a password never
    /// crosses a network in clear text. Keys are relative to this section.
    pub fn check(&self) -> Result<(), ConfigError> {
        let Self::Smtp {
            host,
            username,
            password,
            tls,
            ca_file,
            ..
        } = self
        else {
            return Ok(());
        };
        if username.is_some() != password.is_some() {
            return Err(ConfigError::invalid(
                "username",
                "a user name and a password go together (give the password as password_file)",
            ));
        }
        let loopback =
            host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
        if password.is_some() && *tls == SmtpTls::None && !loopback {
            return Err(ConfigError::invalid(
                "tls",
                format!(
                    "`none` would send the password to {host} in clear text: use starttls or tls"
                ),
            ));
        }
        if let Some(ca) = ca_file {
            tls_parameters(host, Some(ca))
                .map_err(|error| ConfigError::invalid("ca_file", error.to_string()))?;
        }
        Ok(())
    }
}

/// What lettre needs to check the server: its name, and the CA in `ca_file` on top of the
/// system's roots.
fn tls_parameters(host: &str, ca_file: Option<&Path>) -> Result<TlsParameters, ReminderError> {
    let mut builder = TlsParameters::builder(host.to_owned());
    if let Some(path) = ca_file {
        let pem = plba_util::read_limited(path, CA_FILE_BYTES).map_err(|error| {
            ReminderError::Message(format!(
                "cannot read the CA file {}: {error}",
                path.display()
            ))
        })?;
        let ca = Certificate::from_pem(&pem).map_err(|error| {
            ReminderError::Message(format!(
                "{} holds no PEM certificate: {error}",
                path.display()
            ))
        })?;
        builder = builder.add_root_certificate(ca);
    }
    builder.build_rustls().map_err(|error| {
        ReminderError::Message(format!("TLS for {host} cannot be set up: {error}"))
    })
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
                tls,
                ca_file,
            } => {
                let tls = match tls {
                    SmtpTls::None => Tls::None,
                    SmtpTls::Starttls => Tls::Required(tls_parameters(host, ca_file.as_deref())?),
                    SmtpTls::Tls => Tls::Wrapper(tls_parameters(host, ca_file.as_deref())?),
                };
                let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
                    .port(*port)
                    .tls(tls)
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
