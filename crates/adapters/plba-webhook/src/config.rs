//! The webhook source's configuration: the listener, its limits and its routes.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::Duration;

use plba_contracts::{ConfigError, ConfigProvider, Secret};
use serde::Deserialize;

/// The shortest shared secret or bearer token a route accepts, in bytes: a shorter one can
/// be guessed.
pub const MIN_SECRET_BYTES: usize = 16;

/// The largest body limit a configuration may set (64 MiB): a webhook announces work, it
/// does not carry files.
pub const MAX_BODY_LIMIT: u64 = 64 << 20;

/// The webhook listener: where it listens, its limits and what each path does.
///
/// ```yaml
/// listen: 127.0.0.1:8088
/// routes:
///   - path: /hooks/invoices
///     queue: invoices
///     task: invoice.announced
///     auth:
///       hmac:
///         secret_file: /etc/app/invoices-webhook.secret
///     idempotency_field: invoice_id
/// ```
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhookConfig {
    /// The listener's address: its own port, never the control plane's.
    pub listen: SocketAddr,
    /// Connections held at once; a connection beyond it is answered 503 and closed.
    pub max_connections: usize,
    /// How long a connection may take to send a request's head (and how long a kept-alive
    /// connection may wait for its next request).
    pub header_timeout_ms: u64,
    /// How long a request may take to send its body.
    pub body_timeout_ms: u64,
    /// The largest body accepted; a larger one is answered 413.
    pub max_body_bytes: u64,
    /// How long a request may wait for its queue to take the task (a bounded queue that
    /// is full makes publishers wait); beyond it the request is answered 503 with
    /// `Retry-After`. A queue that refuses at once because it is full is answered 429.
    pub publish_timeout_ms: u64,
    /// The `Retry-After` (seconds) of a 429 or 503 answer.
    pub retry_after_secs: u64,
    /// What each path does.
    pub routes: Vec<RouteConfig>,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8088)),
            max_connections: 256,
            header_timeout_ms: 10_000,
            body_timeout_ms: 10_000,
            max_body_bytes: 1 << 20,
            publish_timeout_ms: 5_000,
            retry_after_secs: 5,
            routes: Vec::new(),
        }
    }
}

/// One path of the listener: requests `POST`ed to it become tasks on its queue.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// The path, e.g. `/hooks/invoices`.
    pub path: String,
    /// The queue each request's task goes to (one the application has).
    pub queue: String,
    /// The name of each task (what its handler is for).
    pub task: String,
    /// How a request proves it comes from the sender.
    pub auth: AuthConfig,
    /// The top-level field of the JSON body (or a JSON pointer such as `/data/id`) that
    /// identifies the event when the request has no `Idempotency-Key` header: a retried
    /// webhook then makes one task.
    #[serde(default)]
    pub idempotency_field: Option<String>,
    /// How long an idempotency key is remembered, in hours (Stripe keeps its keys a day).
    #[serde(default = "default_idempotency_hours")]
    pub idempotency_ttl_hours: u64,
}

fn default_idempotency_hours() -> u64 {
    24
}

impl RouteConfig {
    /// How long this route's idempotency keys are remembered.
    pub fn idempotency_ttl(&self) -> Duration {
        Duration::from_secs(self.idempotency_ttl_hours.saturating_mul(3600))
    }
}

/// How a route checks that a request comes from the sender.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum AuthConfig {
    /// An HMAC-SHA256 signature of the timestamp and the raw body (Stripe's scheme, see
    /// [`crate::signature`]).
    Hmac(HmacConfig),
    /// `Authorization: Bearer <token>`.
    Bearer(BearerConfig),
}

/// The shared secret and header of a signed route.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HmacConfig {
    /// The shared secret (give it as `secret_file: /path`).
    pub secret: Secret<String>,
    /// The header that carries the signature.
    #[serde(default = "default_signature_header")]
    pub header: String,
    /// How far a signature's timestamp may be from now, in seconds.
    #[serde(default = "default_tolerance_secs")]
    pub tolerance_secs: u64,
}

fn default_signature_header() -> String {
    "Webhook-Signature".to_owned()
}

fn default_tolerance_secs() -> u64 {
    300
}

/// The token of a bearer route.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BearerConfig {
    /// The token (give it as `token_file: /path`).
    pub token: Secret<String>,
}

impl WebhookConfig {
    /// Checks what decoding cannot: limits in range, paths that are paths and unique,
    /// secrets long enough, and every route's queue among `queues` (the application's).
    /// Keys in errors are relative to this section.
    pub fn check(&self, queues: &[&str]) -> Result<(), ConfigError> {
        if self.max_connections == 0 {
            return Err(ConfigError::invalid(
                "max_connections",
                "must be at least 1",
            ));
        }
        for (key, value) in [
            ("header_timeout_ms", self.header_timeout_ms),
            ("body_timeout_ms", self.body_timeout_ms),
            ("publish_timeout_ms", self.publish_timeout_ms),
        ] {
            if value == 0 {
                return Err(ConfigError::invalid(key, "must be more than 0"));
            }
        }
        if self.max_body_bytes == 0 || self.max_body_bytes > MAX_BODY_LIMIT {
            return Err(ConfigError::invalid(
                "max_body_bytes",
                format!("must be between 1 and {MAX_BODY_LIMIT} (64 MiB)"),
            ));
        }
        let mut paths = HashSet::new();
        for (index, route) in self.routes.iter().enumerate() {
            route
                .check(queues)
                .map_err(|error| error.within(&format!("routes.{index}")))?;
            if !paths.insert(route.path.as_str()) {
                return Err(ConfigError::invalid(
                    format!("routes.{index}.path"),
                    format!("{:?} is the path of an earlier route too", route.path),
                ));
            }
        }
        Ok(())
    }

    /// Checks that the listener does not take the control plane's port
    /// (`platform.control.bind` in `config`, or the platform's default): both would start,
    /// and the second to bind would fail with nothing but "address in use". The key in an
    /// error is `listen`, relative to this section.
    pub fn check_ports(&self, config: &dyn ConfigProvider) -> Result<(), ConfigError> {
        let platform = config.section_value("platform")?;
        let control = platform.as_ref().and_then(|p| p.pointer("/control"));
        if control
            .and_then(|c| c.get("enabled"))
            .and_then(serde_json::Value::as_bool)
            == Some(false)
        {
            return Ok(());
        }
        let bind = control
            .and_then(|c| c.get("bind"))
            .and_then(serde_json::Value::as_str)
            .unwrap_or(plba_contracts::DEFAULT_CONTROL_BIND);
        // An address the platform's own check refuses is its error to report, not this one.
        let Ok(control) = bind.parse::<SocketAddr>() else {
            return Ok(());
        };
        if overlaps(self.listen, control) {
            return Err(ConfigError::invalid(
                "listen",
                format!(
                    "{} is the control plane's address too (platform.control.bind: {control}); give the webhooks a port of their own",
                    self.listen
                ),
            ));
        }
        Ok(())
    }
}

/// Whether two listeners would want the same port: the same port on the same address, or
/// on any address when either listens on all of them.
fn overlaps(a: SocketAddr, b: SocketAddr) -> bool {
    a.port() == b.port()
        && a.port() != 0
        && (a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified())
}

impl RouteConfig {
    fn check(&self, queues: &[&str]) -> Result<(), ConfigError> {
        let path_ok = self.path.starts_with('/')
            && self.path.len() > 1
            && !self.path.contains(['?', '#'])
            && self.path.bytes().all(|b| b.is_ascii_graphic());
        if !path_ok {
            return Err(ConfigError::invalid(
                "path",
                format!(
                    "{:?} is not a path such as /hooks/invoices (it starts with /, has no query and no spaces)",
                    self.path
                ),
            ));
        }
        if !queues.contains(&self.queue.as_str()) {
            return Err(ConfigError::invalid(
                "queue",
                format!(
                    "no queue is named {:?}; the application has {}",
                    self.queue,
                    queues.join(", ")
                ),
            ));
        }
        if self.task.trim().is_empty() {
            return Err(ConfigError::invalid("task", "must name the task"));
        }
        if self.idempotency_ttl_hours == 0 {
            return Err(ConfigError::invalid(
                "idempotency_ttl_hours",
                "must be at least 1",
            ));
        }
        if let Some(field) = &self.idempotency_field
            && field.trim().is_empty()
        {
            return Err(ConfigError::invalid(
                "idempotency_field",
                "must name a field (or be left out)",
            ));
        }
        match &self.auth {
            AuthConfig::Hmac(hmac) => {
                secret_long_enough(hmac.secret.expose(), "auth.hmac.secret")?;
                if hmac.tolerance_secs == 0 {
                    return Err(ConfigError::invalid(
                        "auth.hmac.tolerance_secs",
                        "must be more than 0",
                    ));
                }
                if hyper::header::HeaderName::from_bytes(hmac.header.as_bytes()).is_err() {
                    return Err(ConfigError::invalid(
                        "auth.hmac.header",
                        format!("{:?} is not a header name", hmac.header),
                    ));
                }
                Ok(())
            }
            AuthConfig::Bearer(bearer) => {
                secret_long_enough(bearer.token.expose(), "auth.bearer.token")
            }
        }
    }
}

fn secret_long_enough(secret: &str, key: &str) -> Result<(), ConfigError> {
    let length = secret.trim().len();
    if length < MIN_SECRET_BYTES {
        return Err(ConfigError::invalid(
            key,
            format!(
                "is {length} bytes long; it must be at least {MIN_SECRET_BYTES} bytes to be secret (make one with `head -c 32 /dev/urandom | base64 > FILE`)"
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn config(yaml: serde_json::Value) -> WebhookConfig {
        serde_json::from_value(yaml).unwrap()
    }

    fn route(path: &str) -> serde_json::Value {
        serde_json::json!({
            "path": path, "queue": "invoices", "task": "invoice",
            "auth": {"hmac": {"secret": "0123456789abcdef"}},
        })
    }

    #[test]
    fn a_good_route_passes_and_takes_the_defaults() {
        let config = config(serde_json::json!({"routes": [route("/hooks/invoices")]}));
        config.check(&["invoices"]).unwrap();
        let AuthConfig::Hmac(hmac) = &config.routes[0].auth else {
            panic!("hmac expected")
        };
        assert_eq!(hmac.header, "Webhook-Signature");
        assert_eq!(hmac.tolerance_secs, 300);
        assert_eq!(
            config.routes[0].idempotency_ttl(),
            Duration::from_secs(86_400)
        );
    }

    #[test]
    fn the_control_planes_port_is_refused_to_the_listener() {
        let listener =
            |listen: &str| config(serde_json::json!({"listen": listen, "routes": [route("/a")]}));
        let platform = |bind: &str| serde_json::json!({"platform": {"control": {"bind": bind}}});
        // The platform's default when the file names no control address.
        let error = listener("127.0.0.1:9090")
            .check_ports(&serde_json::json!({}))
            .unwrap_err();
        assert!(
            error.to_string().contains("platform.control.bind"),
            "{error}"
        );
        assert!(
            listener("0.0.0.0:7000")
                .check_ports(&platform("127.0.0.1:7000"))
                .is_err()
        );
        assert!(
            listener("127.0.0.1:7000")
                .check_ports(&platform("0.0.0.0:7000"))
                .is_err()
        );
        listener("127.0.0.1:7000")
            .check_ports(&platform("127.0.0.1:7001"))
            .unwrap();
        listener("127.0.0.1:7000")
            .check_ports(&platform("127.0.0.2:7000"))
            .unwrap();
        let disabled = serde_json::json!({"platform": {"control": {"enabled": false}}});
        listener("127.0.0.1:9090").check_ports(&disabled).unwrap();
    }

    #[test]
    fn each_mistake_names_its_key() {
        let key = |config: WebhookConfig| match config.check(&["invoices"]).unwrap_err() {
            ConfigError::Invalid { key, .. } => key,
            other => panic!("{other}"),
        };
        let mut unknown_queue = route("/a");
        unknown_queue["queue"] = "payments".into();
        assert_eq!(
            key(config(serde_json::json!({"routes": [unknown_queue]}))),
            "routes.0.queue"
        );
        assert_eq!(
            key(config(
                serde_json::json!({"routes": [route("/a"), route("/a")]})
            )),
            "routes.1.path"
        );
        assert_eq!(
            key(config(serde_json::json!({"routes": [route("hooks")]}))),
            "routes.0.path"
        );
        let mut short = route("/a");
        short["auth"] = serde_json::json!({"bearer": {"token": "short"}});
        assert_eq!(
            key(config(serde_json::json!({"routes": [short]}))),
            "routes.0.auth.bearer.token"
        );
        assert_eq!(
            key(config(
                serde_json::json!({"max_body_bytes": MAX_BODY_LIMIT + 1})
            )),
            "max_body_bytes"
        );
    }

    #[test]
    fn a_short_secret_error_does_not_show_it() {
        let mut short = route("/a");
        short["auth"] = serde_json::json!({"hmac": {"secret": "tiny-secret"}});
        let error = config(serde_json::json!({"routes": [short]}))
            .check(&["invoices"])
            .unwrap_err();
        assert!(!error.to_string().contains("tiny-secret"), "{error}");
    }
}
