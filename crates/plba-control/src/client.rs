//! A small client for the control plane, for launchers' `status`, `health`, `stop`, `reload`
//! subcommands.

use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE};
use hyper::{Method, Request};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use plba_contracts::Secret;

use crate::error::ControlError;

/// What the control plane answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientReply {
    /// The HTTP status.
    pub status: u16,
    /// The body as text.
    pub body: String,
}

impl ClientReply {
    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// Talks to one control plane over HTTP.
///
/// ```no_run
/// # async fn example() -> Result<(), plba_control::ControlError> {
/// use plba_control::ControlClient;
///
/// let client = ControlClient::new("http://127.0.0.1:9090").with_token("s3cret".to_owned().into());
/// let status = client.status().await?;
/// println!("{}", status.json()["state"]);
/// client.reload().await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct ControlClient {
    base: String,
    token: Option<Secret<String>>,
    timeout: Duration,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl ControlClient {
    /// A client for the control plane at `base_url` (e.g. `http://127.0.0.1:9090`).
    pub fn new(base_url: impl Into<String>) -> Self {
        Self {
            base: base_url.into().trim_end_matches('/').to_owned(),
            token: None,
            timeout: Duration::from_secs(60),
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    /// Sends `Authorization: Bearer <token>` with every request.
    #[must_use]
    pub fn with_token(mut self, token: Secret<String>) -> Self {
        self.token = Some(token);
        self
    }

    /// Gives up on a request after `timeout` (default 60 s, above a default graceful stop).
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// `GET /status`.
    pub async fn status(&self) -> Result<ClientReply, ControlError> {
        self.request(Method::GET, "/status").await
    }

    /// `GET /health`.
    pub async fn health(&self) -> Result<ClientReply, ControlError> {
        self.request(Method::GET, "/health").await
    }

    /// `POST /actions/stop`.
    pub async fn stop(&self) -> Result<ClientReply, ControlError> {
        self.request(Method::POST, "/actions/stop").await
    }

    /// `POST /actions/start`.
    pub async fn start(&self) -> Result<ClientReply, ControlError> {
        self.request(Method::POST, "/actions/start").await
    }

    /// `POST /actions/reload`.
    pub async fn reload(&self) -> Result<ClientReply, ControlError> {
        self.request(Method::POST, "/actions/reload").await
    }

    /// `POST /actions/shutdown`.
    pub async fn shutdown(&self) -> Result<ClientReply, ControlError> {
        self.request(Method::POST, "/actions/shutdown").await
    }

    /// `POST /actions/log-level?level=…`: a level or a filter (`info,plba_core=debug`).
    pub async fn set_log_level(&self, level: &str) -> Result<ClientReply, ControlError> {
        let query = query(&[("level", level)]);
        self.request(Method::POST, &format!("/actions/log-level?{query}"))
            .await
    }

    /// `GET /queues/{queue}/dead-letters?limit=…`.
    pub async fn dead_letters(
        &self,
        queue: &str,
        limit: usize,
    ) -> Result<ClientReply, ControlError> {
        let path = format!("/queues/{}/dead-letters?limit={limit}", segment(queue));
        self.request(Method::GET, &path).await
    }

    /// `POST /queues/{queue}/dead-letters/replay` for one task's (`task`) or all.
    pub async fn replay_dead_letters(
        &self,
        queue: &str,
        task: Option<&str>,
    ) -> Result<ClientReply, ControlError> {
        self.request(Method::POST, &dead_letter_path(queue, "replay", task))
            .await
    }

    /// `POST /queues/{queue}/dead-letters/purge` for one task's (`task`) or all.
    pub async fn purge_dead_letters(
        &self,
        queue: &str,
        task: Option<&str>,
    ) -> Result<ClientReply, ControlError> {
        self.request(Method::POST, &dead_letter_path(queue, "purge", task))
            .await
    }

    /// Any request to `path` (which starts with `/`), with an empty body.
    pub async fn request(&self, method: Method, path: &str) -> Result<ClientReply, ControlError> {
        let url = format!("{}{path}", self.base);
        let failed = |what: &str, source: Option<Box<dyn std::error::Error + Send + Sync>>| {
            ControlError::Request {
                url: url.clone(),
                what: what.to_owned(),
                source,
            }
        };
        let mut builder = Request::builder().method(method).uri(&url);
        if let Some(token) = &self.token {
            builder = builder.header(AUTHORIZATION, format!("Bearer {}", token.expose()));
        }
        let request = builder
            .header(CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::new()))
            .map_err(|e| failed("cannot build the request", Some(Box::new(e))))?;
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| failed("no connection or no answer", Some(Box::new(e))))?;
            let status = response.status().as_u16();
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|e| failed("the answer broke off", Some(Box::new(e))))?
                .to_bytes();
            Ok(ClientReply {
                status,
                body: String::from_utf8_lossy(&body).into_owned(),
            })
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| failed(&format!("no answer within {:?}", self.timeout), None))?
    }
}

fn dead_letter_path(queue: &str, action: &str, task: Option<&str>) -> String {
    let queue = segment(queue);
    match task {
        Some(task) => format!(
            "/queues/{queue}/dead-letters/{action}?{}",
            query(&[("task", task)])
        ),
        None => format!("/queues/{queue}/dead-letters/{action}"),
    }
}

/// `pairs` as a query string, each value percent-encoded as a form does.
fn query(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// Characters a path segment may not carry as they are: `/`, `?`, `#`, `%` and what a URL
/// never holds unescaped.
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}');

/// `text` as one path segment.
fn segment(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, SEGMENT).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_encoded_so_the_server_decodes_them_back() {
        assert_eq!(
            query(&[("level", "info,plba_core=debug")]),
            "level=info%2Cplba_core%3Ddebug"
        );
        assert_eq!(
            dead_letter_path("a/b c", "replay", Some("x&y")),
            "/queues/a%2Fb%20c/dead-letters/replay?task=x%26y"
        );
    }
}
