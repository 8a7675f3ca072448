//! The platform's own sections: `platform` and `log`. Unknown keys are errors, so a typo
//! never silently falls back to a default.

use std::collections::BTreeMap;

use plba_contracts::Secret;
use serde::{Deserialize, Serialize};

/// The `platform` section.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PlatformConfig {
    /// How long a graceful stop may take before it is forced, in milliseconds.
    pub stop_timeout_ms: u64,
    /// After forcing, how long workers get before they are aborted, in milliseconds.
    pub force_grace_ms: u64,
    /// Poll the configuration file for changes every this many milliseconds and reload on
    /// change; 0 turns it off (SIGHUP and the reload action always work).
    pub config_watch_interval_ms: u64,
    /// Task tracing and export.
    pub tracing: TracingConfig,
    /// The HTTP control plane.
    pub control: ControlConfig,
    /// A configuration database every instance follows: none by default.
    pub config_store: Option<crate::ConfigStoreConfig>,
}

impl Default for PlatformConfig {
    fn default() -> Self {
        Self {
            stop_timeout_ms: 30_000,
            force_grace_ms: 2_000,
            config_watch_interval_ms: 0,
            tracing: TracingConfig::default(),
            control: ControlConfig::default(),
            config_store: None,
        }
    }
}

/// Where finished spans go.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TraceExporter {
    /// Nowhere (trace context still propagates through task metadata).
    #[default]
    None,
    /// One log line per finished span.
    Log,
    /// OTLP over HTTP/protobuf to a collector.
    Otlp,
}

/// The `platform.tracing` section.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TracingConfig {
    /// The exporter.
    pub exporter: TraceExporter,
    /// `service.name` of exported spans.
    pub service_name: String,
    /// Spans and events at this level and above are traced (independent of the log level).
    pub level: String,
    /// Fraction of new traces sampled, 0.0 to 1.0 (a sampled parent always samples its children).
    pub sample_ratio: f64,
    /// Make a producer span for tasks published to in-process queues too. Off by default:
    /// there the handler's span is a child of the publisher's span, one span per task
    /// instead of two. Queues that cross processes always get a producer span.
    pub in_process_producer_spans: bool,
    /// How many recent task traces are kept in memory for the control plane.
    pub recent_traces: usize,
    /// OTLP exporter settings.
    pub otlp: OtlpConfig,
}

impl Default for TracingConfig {
    fn default() -> Self {
        Self {
            exporter: TraceExporter::None,
            service_name: "plba".to_owned(),
            level: "info".to_owned(),
            sample_ratio: 1.0,
            in_process_producer_spans: false,
            recent_traces: 1_000,
            otlp: OtlpConfig::default(),
        }
    }
}

/// The `platform.tracing.otlp` section.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OtlpConfig {
    /// The collector's traces endpoint.
    pub endpoint: String,
    /// Timeout of one export request, in milliseconds.
    pub timeout_ms: u64,
    /// Spans buffered for export; beyond it new spans are dropped (never blocking tasks).
    pub max_queue_size: usize,
    /// Spans per export request.
    pub max_export_batch_size: usize,
    /// How often the buffer is flushed, in milliseconds.
    pub scheduled_delay_ms: u64,
    /// Extra HTTP headers (e.g. an API key for a hosted collector); treated as secrets.
    pub headers: BTreeMap<String, Secret<String>>,
}

impl Default for OtlpConfig {
    fn default() -> Self {
        Self {
            endpoint: "http://127.0.0.1:4318/v1/traces".to_owned(),
            timeout_ms: 10_000,
            max_queue_size: 2_048,
            max_export_batch_size: 512,
            scheduled_delay_ms: 1_000,
            headers: BTreeMap::new(),
        }
    }
}

/// How log lines look.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Pretty,
    /// One JSON object per line.
    Json,
}

/// Where log lines go.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogOutput {
    /// Standard error.
    #[default]
    Stderr,
    /// Standard output.
    Stdout,
}

/// The `log` section.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// Default level: `trace`, `debug`, `info`, `warn`, `error` or `off`; or a filter in
    /// `tracing` directive syntax whose directives are each a level or `target=level`, such
    /// as `info,plba_core=debug`.
    pub level: String,
    /// Per-target levels, e.g. `plba_core: debug`.
    pub targets: BTreeMap<String, String>,
    /// Line format.
    pub format: LogFormat,
    /// Destination.
    pub output: LogOutput,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: "info".to_owned(),
            targets: BTreeMap::new(),
            format: LogFormat::Pretty,
            output: LogOutput::Stderr,
        }
    }
}

const LEVELS: [&str; 6] = ["trace", "debug", "info", "warn", "error", "off"];

impl LogConfig {
    /// The filter in `tracing` directive syntax: `info,plba_core=debug`.
    pub fn directives(&self) -> String {
        let mut directives = vec![self.level.clone()];
        directives.extend(self.targets.iter().map(|(t, l)| format!("{t}={l}")));
        directives.join(",")
    }

    /// Checks level names; returns the offending key path and reason.
    pub(crate) fn validate(&self) -> Result<(), (String, String)> {
        let check = |key: String, level: &str| {
            if LEVELS.contains(&level.to_ascii_lowercase().as_str()) {
                Ok(())
            } else {
                Err((
                    key,
                    format!(
                        "unknown level {level:?}; expected one of {}",
                        LEVELS.join(", ")
                    ),
                ))
            }
        };
        check_filter(&self.level)?;
        for (target, level) in &self.targets {
            if target.is_empty() || target.contains([',', '=', ' ']) {
                return Err((
                    format!("log.targets.{target}"),
                    "not a valid target name".to_owned(),
                ));
            }
            check(format!("log.targets.{target}"), level)?;
        }
        Ok(())
    }
}

/// Checks `log.level`: comma-separated directives, each a level (`debug`) or a target's
/// level (`plba_core=debug`), accepted by the parser the runtime applies them with.
fn check_filter(filter: &str) -> Result<(), (String, String)> {
    let key = || "log.level".to_owned();
    for directive in filter.split(',').map(str::trim) {
        let level = match directive.rsplit_once('=') {
            Some((target, level)) if !target.trim().is_empty() => level,
            Some(_) => {
                return Err((key(), format!("{directive:?} names no target before `=`")));
            }
            None => directive,
        };
        if !LEVELS.contains(&level.trim().to_ascii_lowercase().as_str()) {
            return Err((
                key(),
                format!(
                    "unknown level {level:?}; expected one of {}, or a filter such as info,plba_core=debug",
                    LEVELS.join(", ")
                ),
            ));
        }
    }
    tracing_subscriber::EnvFilter::builder()
        .parse(filter)
        .map(drop)
        .map_err(|error| (key(), format!("not a log filter: {error}")))
}

impl TracingConfig {
    pub(crate) fn validate(&self) -> Result<(), (String, String)> {
        if !(0.0..=1.0).contains(&self.sample_ratio) {
            return Err((
                "platform.tracing.sample_ratio".to_owned(),
                format!("{} is not between 0.0 and 1.0", self.sample_ratio),
            ));
        }
        if !LEVELS.contains(&self.level.to_ascii_lowercase().as_str()) {
            return Err((
                "platform.tracing.level".to_owned(),
                format!("unknown level {:?}", self.level),
            ));
        }
        for (name, value) in &self.otlp.headers {
            let key = || format!("platform.tracing.otlp.headers.{name}");
            // RFC 9110 field names are tokens; a value may not break the header line.
            let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
            if name.is_empty() || !name.chars().all(token) {
                return Err((
                    key(),
                    "is not an HTTP header name (letters, digits and !#$%&'*+-.^_`|~ only)"
                        .to_owned(),
                ));
            }
            if value
                .expose()
                .chars()
                .any(|c| matches!(c, '\r' | '\n' | '\0'))
            {
                return Err((
                    key(),
                    "the value holds a line break or NUL, which would end the header line"
                        .to_owned(),
                ));
            }
        }
        Ok(())
    }
}

/// What a control-plane token may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ControlRole {
    /// Read status, health, metrics, traces, the pages, the configuration and the audit.
    Viewer,
    /// Everything a viewer may, plus running the work: stop and start the workers, replay
    /// and purge dead letters. Not the configuration (reload, log level) nor shutdown.
    Operator,
    /// Everything an operator may, plus reload, log level and shutdown.
    Admin,
}

impl ControlRole {
    /// The role's name, as the configuration writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Operator => "operator",
            Self::Admin => "admin",
        }
    }
}

/// A bearer token of the control plane.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlToken {
    /// Who holds it: written to the audit log instead of the token.
    pub name: String,
    /// The token (give it as `token_file: /path` or through env).
    pub token: Secret<String>,
    /// What it may do.
    pub role: ControlRole,
}

/// The `platform.control` section: the HTTP control plane.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ControlConfig {
    /// Serve the control plane at all.
    pub enabled: bool,
    /// Address and port; loopback by default.
    pub bind: String,
    /// Bearer tokens. Without any, every action is refused.
    pub tokens: Vec<ControlToken>,
    /// Require a viewer (or admin) token for the read endpoints too; `/health/live` and
    /// `/health/ready` always stay open for probes.
    pub protect_reads: bool,
    /// Failed sign-ins (a bearer token that matches none) allowed from one client address
    /// per minute, with up to this many at once; past it, every request from that address
    /// that presents a token is answered 429 with `Retry-After` until the allowance refills.
    /// Requests that need no token (the probes, open reads) are never limited. IPv6
    /// addresses count by their /64, which one client usually holds whole.
    pub auth_failures_per_minute: u32,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Time allowed to send the request headers, in milliseconds. It also bounds how long a
    /// kept-alive connection may sit idle before its next request.
    pub header_timeout_ms: u64,
    /// Time allowed for a whole request (headers, body and answer), in milliseconds.
    pub request_timeout_ms: u64,
    /// Time allowed to send the request body once the headers are in, in milliseconds (never
    /// more than `request_timeout_ms`). The token is checked from the headers first, so only
    /// an authorised caller ever gets this long.
    pub body_timeout_ms: u64,
    /// Most connections open at once, so a flood cannot use up the process's file
    /// descriptors. At the cap a new connection closes the longest-idle one (a connection
    /// between requests or still sending its headers); an eighth of the slots (at least one)
    /// is kept for `/health/live` and `/health/ready`: other requests beyond the rest get a
    /// 503, so probes still answer however busy the control plane is.
    pub max_connections: usize,
    /// How long a browser session lasts after signing in (`POST /ui/session`), however
    /// active, in milliseconds.
    pub session_ttl_ms: u64,
    /// How long a browser session lasts without a request, in milliseconds (sessions in the
    /// users' database; in memory a session lasts `session_ttl_ms`).
    pub session_idle_ms: u64,
    /// Serve HTTPS instead of HTTP (the session cookie is then `Secure`).
    pub tls: Option<ControlTls>,
    /// Where the team's accounts are kept (`users add|list|…`): none by default, and the
    /// configured tokens are the only way in.
    pub users: Option<UsersStore>,
    /// When a user's account locks after wrong passwords.
    pub lockout: LockoutConfig,
    /// Single sign-on to the console through an OpenID Connect provider (needs `users`).
    pub oidc: Option<crate::OidcConfig>,
}

/// When a user's account locks after wrong passwords, whatever addresses they come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LockoutConfig {
    /// Wrong passwords within `window_ms` that lock the account (0: never).
    pub failures: u32,
    /// The window they are counted in, in milliseconds.
    pub window_ms: u64,
    /// How long the account stays locked, in milliseconds.
    pub lock_ms: u64,
}

impl Default for LockoutConfig {
    fn default() -> Self {
        Self {
            failures: 5,
            window_ms: 5 * 60 * 1000,
            lock_ms: 15 * 60 * 1000,
        }
    }
}

/// Where the control plane's users are kept: SQLite beside the application, or PostgreSQL
/// when several instances share one set of users.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum UsersStore {
    /// One SQLite file.
    Sqlite {
        /// The database file (made when missing).
        path: std::path::PathBuf,
    },
    /// A PostgreSQL database (a password belongs in the environment:
    /// `PLBA__PLATFORM__CONTROL__USERS__URL`).
    Postgres {
        /// `postgres://user@host/db`.
        url: String,
    },
}

/// The control plane's certificate: PEM files, the chain first, then its private key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlTls {
    /// The certificate chain (PEM), the server's certificate first.
    pub cert_file: std::path::PathBuf,
    /// The private key (PEM).
    pub key_file: std::path::PathBuf,
}

impl Default for ControlConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            bind: plba_contracts::DEFAULT_CONTROL_BIND.to_owned(),
            tokens: Vec::new(),
            protect_reads: false,
            auth_failures_per_minute: 10,
            max_body_bytes: 64 * 1024,
            header_timeout_ms: 5_000,
            request_timeout_ms: 30_000,
            body_timeout_ms: 5_000,
            max_connections: 256,
            session_ttl_ms: 8 * 60 * 60 * 1000,
            session_idle_ms: 30 * 60 * 1000,
            tls: None,
            users: None,
            lockout: LockoutConfig::default(),
            oidc: None,
        }
    }
}

impl ControlConfig {
    /// Checks what the control plane would otherwise refuse only when it starts.
    pub(crate) fn validate(&self) -> Result<(), (String, String)> {
        if self.enabled && self.bind.parse::<std::net::SocketAddr>().is_err() {
            return Err((
                "platform.control.bind".to_owned(),
                format!(
                    "{:?} is not an IP address and port (e.g. 127.0.0.1:9090; host names are not resolved, ports go up to 65535)",
                    self.bind
                ),
            ));
        }
        self.validate_tokens()?;
        if self.auth_failures_per_minute == 0 {
            return Err((
                "platform.control.auth_failures_per_minute".to_owned(),
                "must be at least 1".to_owned(),
            ));
        }
        if self.max_body_bytes == 0 {
            return Err((
                "platform.control.max_body_bytes".to_owned(),
                "must be at least 1".to_owned(),
            ));
        }
        if self.body_timeout_ms == 0 {
            return Err((
                "platform.control.body_timeout_ms".to_owned(),
                "must be at least 1".to_owned(),
            ));
        }
        if let Some(tls) = self.tls.as_ref().filter(|_| self.enabled) {
            for (key, path) in [("cert_file", &tls.cert_file), ("key_file", &tls.key_file)] {
                if !path.is_file() {
                    return Err((
                        format!("platform.control.tls.{key}"),
                        format!("{} is not a readable file", path.display()),
                    ));
                }
            }
        }
        if let Some(oidc) = &self.oidc {
            oidc.validate(self.users.is_some())?;
        }
        // One slot for the probes and one for everything else, at the very least.
        if self.max_connections < 2 {
            return Err((
                "platform.control.max_connections".to_owned(),
                format!(
                    "{} is too few: at least 2 (one is kept for the health probes)",
                    self.max_connections
                ),
            ));
        }
        Ok(())
    }
}

impl ControlConfig {
    /// Every token long enough to be secret, and no two with the same name or value: the
    /// first match wins, so an admin token listed after a viewer's with the same value would
    /// act as the viewer, and two holders of one name cannot be told apart in the audit.
    fn validate_tokens(&self) -> Result<(), (String, String)> {
        let at = |index: usize, field: &str| format!("platform.control.tokens.{index}.{field}");
        for (index, token) in self.tokens.iter().enumerate() {
            if token.name.trim().is_empty() {
                return Err((at(index, "name"), "must not be empty".to_owned()));
            }
            let length = token.token.expose().len();
            if length < MIN_TOKEN_BYTES {
                return Err((
                    at(index, "token"),
                    format!(
                        "is {length} bytes long; a token must be at least {MIN_TOKEN_BYTES} bytes to be secret (make one with `head -c 32 /dev/urandom | base64 > FILE` and name FILE in `token_file`)"
                    ),
                ));
            }
            let earlier = &self.tokens[..index];
            if let Some(first) = earlier.iter().position(|t| t.name == token.name) {
                return Err((
                    at(index, "name"),
                    format!(
                        "{:?} is also the name of tokens[{first}]; give each token a name of its own (the audit log shows it)",
                        token.name
                    ),
                ));
            }
            if let Some(first) = earlier
                .iter()
                .position(|t| t.token.expose() == token.token.expose())
            {
                return Err((
                    at(index, "token"),
                    format!(
                        "is the same token as tokens[{first}] ({:?}); give each holder a token of their own",
                        self.tokens[first].name
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// The shortest token accepted: 16 bytes, 128 bits when random.
const MIN_TOKEN_BYTES: usize = 16;

/// The platform settings that differ between two configurations and take effect only at the
/// next start (the runtime, the control plane and the exporters are built at start-up; the
/// log filter alone follows reloads).
pub(crate) fn platform_restart_required(
    running: (&PlatformConfig, &LogConfig),
    candidate: (&PlatformConfig, &LogConfig),
) -> Vec<String> {
    let ((old, old_log), (new, new_log)) = (running, candidate);
    [
        (
            "platform.stop_timeout_ms",
            old.stop_timeout_ms != new.stop_timeout_ms,
        ),
        (
            "platform.force_grace_ms",
            old.force_grace_ms != new.force_grace_ms,
        ),
        (
            "platform.config_watch_interval_ms",
            old.config_watch_interval_ms != new.config_watch_interval_ms,
        ),
        ("platform.tracing", old.tracing != new.tracing),
        ("platform.control", old.control != new.control),
        (
            crate::CONFIG_STORE_KEY,
            old.config_store != new.config_store,
        ),
        ("log.format", old_log.format != new_log.format),
        ("log.output", old_log.output != new_log.output),
    ]
    .into_iter()
    .filter(|(_, changed)| *changed)
    .map(|(key, _)| key.to_owned())
    .collect()
}
