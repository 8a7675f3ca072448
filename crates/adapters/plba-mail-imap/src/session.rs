//! Connecting and logging in, every call under a timeout.

use std::future::Future;
use std::time::Duration;

use async_imap::Session;
use plba_contracts::{Backoff, Jitter};
use tokio::net::TcpStream;

use crate::options::{ImapError, ImapOptions, Security};
use crate::stream::{ImapStream, start_tls, tls_connector};

/// A logged-in IMAP session.
pub(crate) type ImapSession = Session<ImapStream>;

/// Runs an IMAP step under the command timeout; the crate itself has none.
pub(crate) async fn timed<T, E: std::error::Error + Send + Sync + 'static>(
    options: &ImapOptions,
    command: &'static str,
    step: impl Future<Output = Result<T, E>>,
) -> Result<T, ImapError> {
    match tokio::time::timeout(options.command_timeout(), step).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(ImapError::Command {
            server: server(options),
            command,
            what: "failed".to_owned(),
            source: Some(Box::new(error)),
        }),
        Err(_) => Err(ImapError::Command {
            server: server(options),
            command,
            what: format!("no answer within {:?}", options.command_timeout()),
            source: None,
        }),
    }
}

pub(crate) fn server(options: &ImapOptions) -> String {
    format!("{}:{}", options.host, options.port)
}

/// Connects, reads the greeting and logs in.
pub(crate) async fn connect(options: &ImapOptions) -> Result<ImapSession, ImapError> {
    let connection_error = |what: String| ImapError::Connection {
        server: server(options),
        what,
        source: None,
    };
    let caused =
        |what: &str, error: Box<dyn std::error::Error + Send + Sync>| ImapError::Connection {
            server: server(options),
            what: what.to_owned(),
            source: Some(error),
        };
    let connector = match options.security {
        Security::Plain => None,
        Security::Tls | Security::Starttls => {
            Some(tls_connector(options.ca_file.as_deref()).map_err(&connection_error)?)
        }
    };
    let tcp = tokio::time::timeout(
        options.command_timeout(),
        TcpStream::connect((options.host.as_str(), options.port)),
    )
    .await
    .map_err(|_| connection_error("connect timed out".to_owned()))?
    .map_err(|e| caused("cannot connect", Box::new(e)))?;
    let handshake = |stream| async {
        let connector = connector
            .as_ref()
            .ok_or_else(|| connection_error("no TLS connector".to_owned()))?;
        tokio::time::timeout(
            options.command_timeout(),
            start_tls(connector, &options.host, stream),
        )
        .await
        .map_err(|_| connection_error("TLS handshake timed out".to_owned()))?
        .map_err(&connection_error)
    };
    let stream = match options.security {
        Security::Plain | Security::Starttls => ImapStream::Plain(tcp),
        Security::Tls => handshake(tcp).await?,
    };
    let mut client = async_imap::Client::new(stream);
    let greeting = tokio::time::timeout(options.command_timeout(), client.read_response())
        .await
        .map_err(|_| connection_error("no greeting".to_owned()))?
        .map_err(|e| caused("cannot read the greeting", Box::new(e)))?;
    if greeting.is_none() {
        return Err(connection_error("closed before the greeting".to_owned()));
    }
    if options.security == Security::Starttls {
        tokio::time::timeout(
            options.command_timeout(),
            client.run_command_and_check_ok("STARTTLS", None),
        )
        .await
        .map_err(|_| connection_error("STARTTLS timed out".to_owned()))?
        .map_err(|e| caused("the server refused STARTTLS", Box::new(e)))?;
        let ImapStream::Plain(tcp) = client.into_inner() else {
            return Err(connection_error("STARTTLS on a TLS stream".to_owned()));
        };
        client = async_imap::Client::new(handshake(tcp).await?);
    }
    let login = client.login(&options.user, options.password.expose());
    match tokio::time::timeout(options.command_timeout(), login).await {
        Ok(Ok(session)) => Ok(session),
        Ok(Err((error, _client))) => Err(ImapError::Login {
            server: server(options),
            user: options.user.clone(),
            source: error,
        }),
        Err(_) => Err(connection_error("login timed out".to_owned())),
    }
}

/// Exponential backoff for reconnects, spread by equal jitter: after a server restart the
/// bots do not all log in at the same moment, and no pause is shorter than half its ceiling,
/// so a refused login never turns into a tight loop.
pub(crate) fn reconnect_delay(options: &ImapOptions, failures: u32) -> Duration {
    let initial = Duration::from_millis(options.reconnect_initial_ms.max(1));
    let max = Duration::from_millis(options.reconnect_max_ms.max(options.reconnect_initial_ms));
    Backoff::new(initial, max)
        .with_jitter(Jitter::Equal)
        .delay(failures)
}
