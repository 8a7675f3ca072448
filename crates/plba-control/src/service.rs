//! The control plane's actions, independent of HTTP.

use std::sync::Arc;
use std::time::Duration;

use plba_config::{ConfigurationManager, ControlConfig, ControlRole};
use plba_contracts::{DeadLetter, DeadLetterSelection, QueueError, TaskQueue};
use plba_core::{CoreError, RuntimeManager, RuntimeState};
use plba_tracing::RecentTraces;
use serde_json::{Value, json};

use crate::auth::{Caller, identify};
use crate::connections::ConnectionLimiter;
use crate::metrics::render_metrics_with;
use crate::sessions::Sessions;

/// What a caller asks the control plane to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Liveness probe.
    Live,
    /// Readiness probe.
    Ready,
    /// Aggregated health with every contributor.
    Health,
    /// Runtime, pools and queues.
    Status,
    /// Prometheus text.
    Metrics,
    /// The most recent task traces.
    Traces {
        /// At most this many.
        limit: usize,
    },
    /// One task trace, by task id or trace id.
    Trace {
        /// The id.
        id: String,
    },
    /// Stop the workers; the process and the control plane stay up.
    Stop,
    /// Start the workers again.
    Start,
    /// Reload the configuration.
    Reload,
    /// Stop gracefully and let the process exit.
    Shutdown,
    /// A file of the console (`/ui`): its page, script or style sheet.
    UiAsset {
        /// The content type.
        content_type: &'static str,
        /// The file, embedded in the binary.
        text: &'static str,
    },
    /// The console pages the application's modules contribute.
    Views,
    /// Rows of one page.
    ViewList {
        /// The view's name.
        view: String,
        /// Free-text search (empty: all).
        search: String,
        /// At most this many rows.
        limit: usize,
    },
    /// One item of a page in detail.
    ViewItem {
        /// The view's name.
        view: String,
        /// The item's id, as its row carries it.
        id: String,
    },
    /// The effective configuration, secrets redacted, with its generation.
    Config,
    /// The recent audited actions: who, what, when, and the answer.
    Audit,
    /// Sign a browser in with a bearer token: a session cookie replaces the token.
    SignIn,
    /// The browser's session: who, which role, its CSRF token.
    SessionInfo,
    /// End the browser's session.
    SignOut,
    /// Change the log filter now (`log.level`, kept until the process ends).
    SetLogLevel {
        /// A level or a filter (`debug`, `info,plba_core=debug`).
        level: String,
    },
    /// The newest dead letters of a queue.
    DeadLetters {
        /// The queue's name.
        queue: String,
        /// At most this many.
        limit: usize,
    },
    /// Put dead letters back in their queue, attempts reset.
    ReplayDeadLetters {
        /// The queue's name.
        queue: String,
        /// One task's dead letters (by task id), or all of them.
        task: Option<String>,
    },
    /// Delete dead letters for good.
    PurgeDeadLetters {
        /// The queue's name.
        queue: String,
        /// One task's dead letters (by task id), or all of them.
        task: Option<String>,
    },
}

impl Action {
    /// The action's name in the audit log.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Live => "live",
            Self::Ready => "ready",
            Self::Health => "health",
            Self::Status => "status",
            Self::Metrics => "metrics",
            Self::Traces { .. } => "traces",
            Self::Trace { .. } => "trace",
            Self::Stop => "stop",
            Self::Start => "start",
            Self::Reload => "reload",
            Self::Shutdown => "shutdown",
            Self::UiAsset { .. } => "ui",
            Self::Views | Self::ViewList { .. } | Self::ViewItem { .. } => "views",
            Self::Config => "config",
            Self::Audit => "audit",
            Self::SignIn => "sign-in",
            Self::SessionInfo => "session",
            Self::SignOut => "sign-out",
            Self::SetLogLevel { .. } => "log-level",
            Self::DeadLetters { .. } => "dead-letters",
            Self::ReplayDeadLetters { .. } => "replay-dead-letters",
            Self::PurgeDeadLetters { .. } => "purge-dead-letters",
        }
    }

    /// Whether the action changes something (and so needs an admin token and is audited).
    pub fn is_mutating(&self) -> bool {
        matches!(
            self,
            Self::Stop
                | Self::Start
                | Self::Reload
                | Self::Shutdown
                | Self::SetLogLevel { .. }
                | Self::ReplayDeadLetters { .. }
                | Self::PurgeDeadLetters { .. }
        )
    }

    /// Whether the audit log records the action: changes, and signing in or out.
    pub fn is_audited(&self) -> bool {
        self.is_mutating() || matches!(self, Self::SignIn | Self::SignOut)
    }

    /// Whether the action is a probe, which the connection cap keeps a reserve for.
    pub fn is_probe(&self) -> bool {
        matches!(self, Self::Live | Self::Ready)
    }

    fn required_role(&self, protect_reads: bool) -> Option<ControlRole> {
        match self {
            // The console's files hold no data: the page asks for a session itself.
            Self::Live | Self::Ready | Self::UiAsset { .. } => None,
            // The configuration and who did what are never open to anonymous callers.
            Self::SignIn
            | Self::SessionInfo
            | Self::SignOut
            | Self::Config
            | Self::Audit
            | Self::Views
            | Self::ViewList { .. }
            | Self::ViewItem { .. } => Some(ControlRole::Viewer),
            _ if self.is_mutating() => Some(ControlRole::Admin),
            _ if protect_reads => Some(ControlRole::Viewer),
            _ => None,
        }
    }
}

/// An answer body.
#[derive(Clone, Debug, PartialEq)]
pub enum ReplyBody {
    /// JSON.
    Json(Value),
    /// Text with its content type (metrics).
    Text {
        /// The `Content-Type`.
        content_type: &'static str,
        /// The text.
        text: String,
    },
}

/// An answer: an HTTP-style status code, a body, and a cookie to set when signing in or out.
#[derive(Clone, Debug, PartialEq)]
pub struct Reply {
    /// 200, 202, 401, 403, 404, 409, 422, 503, …
    pub status: u16,
    /// The body.
    pub body: ReplyBody,
    /// A `Set-Cookie` value.
    pub set_cookie: Option<String>,
}

impl Reply {
    pub(crate) fn json(status: u16, value: Value) -> Self {
        Self {
            status,
            body: ReplyBody::Json(value),
            set_cookie: None,
        }
    }

    fn with_cookie(mut self, cookie: String) -> Self {
        self.set_cookie = Some(cookie);
        self
    }

    /// The stable error shape: `{"error": {"code": …, "message": …}}`.
    pub fn error(status: u16, code: &str, message: impl Into<String>) -> Self {
        Self::json(
            status,
            json!({ "error": { "code": code, "message": message.into() } }),
        )
    }
}

/// Performs control-plane actions on a runtime, checking bearer tokens and writing an audit
/// line for every mutating action.
#[derive(Debug)]
pub struct ControlPlaneService {
    runtime: RuntimeManager,
    config: ControlConfig,
    configuration: Option<Arc<ConfigurationManager>>,
    traces: Option<Arc<RecentTraces>>,
    connections: Arc<ConnectionLimiter>,
    sessions: Sessions,
    audit: AuditLog,
}

/// The most recent audited actions, for the audit page (the log has them all).
#[derive(Debug, Default)]
struct AuditLog(std::sync::Mutex<std::collections::VecDeque<Value>>);

/// Most audit entries kept in memory.
const AUDIT_KEPT: usize = 200;

impl AuditLog {
    fn record(&self, who: &str, action: &str, status: u16) {
        use plba_contracts::Unpoisoned;
        let at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let mut entries = self.0.lock_or_recover();
        if entries.len() == AUDIT_KEPT {
            entries.pop_front();
        }
        entries.push_back(json!({ "at": at, "who": who, "action": action, "status": status }));
    }

    fn newest_first(&self) -> Vec<Value> {
        use plba_contracts::Unpoisoned;
        self.0.lock_or_recover().iter().rev().cloned().collect()
    }
}

/// What a request presents to identify its caller.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Credentials<'a> {
    /// The `Authorization` header.
    pub(crate) authorization: Option<&'a str>,
    /// The `Cookie` header (a browser session).
    pub(crate) cookie: Option<&'a str>,
    /// The CSRF header of a session's request.
    pub(crate) csrf: Option<&'a str>,
}

/// Content type of `/metrics` (prometheus-client writes OpenMetrics text).
const METRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

impl ControlPlaneService {
    /// A service over `runtime`, with tokens and options from `config`. Without
    /// [`with_configuration`](Self::with_configuration) the reload action answers 409; without
    /// [`with_traces`](Self::with_traces) `/traces` is empty.
    pub fn new(runtime: RuntimeManager, config: ControlConfig) -> Self {
        let connections = Arc::new(ConnectionLimiter::new(config.max_connections));
        let sessions = Sessions::new(Duration::from_millis(config.session_ttl_ms.max(1_000)));
        Self {
            runtime,
            config,
            configuration: None,
            traces: None,
            connections,
            sessions,
            audit: AuditLog::default(),
        }
    }

    /// The configuration the reload action reloads and `/status` reports the generation of.
    #[must_use]
    pub fn with_configuration(mut self, configuration: Arc<ConfigurationManager>) -> Self {
        self.configuration = Some(configuration);
        self
    }

    /// Where `/traces` reads the recent task traces.
    #[must_use]
    pub fn with_traces(mut self, traces: Arc<RecentTraces>) -> Self {
        self.traces = Some(traces);
        self
    }

    /// The configuration it serves with.
    pub fn config(&self) -> &ControlConfig {
        &self.config
    }

    /// The connection cap the HTTP server enforces (its metrics are part of `/metrics`).
    pub(crate) fn connections(&self) -> &Arc<ConnectionLimiter> {
        &self.connections
    }

    /// Performs `action` for the caller presenting `authorization` (an `Authorization`
    /// header value).
    pub async fn perform(&self, action: Action, authorization: Option<&str>) -> Reply {
        let credentials = Credentials {
            authorization,
            ..Credentials::default()
        };
        match self.authenticate(&action, credentials) {
            Ok(caller) => self.perform_as(&action, &caller, credentials).await,
            Err(denied) => denied,
        }
    }

    /// Who presents `authorization`, when they may perform `action`; otherwise the refusal
    /// (written to the audit log for a mutating action). Needs nothing but the headers, so
    /// the HTTP server checks it before reading any request body.
    pub(crate) fn authenticate(
        &self,
        action: &Action,
        credentials: Credentials<'_>,
    ) -> Result<Caller, Reply> {
        let session = match credentials.authorization {
            // A bearer token wins: the JSON API and the CLI keep using tokens.
            Some(_) => None,
            None => self.sessions.find(credentials.cookie),
        };
        let caller = match &session {
            Some(session) => session.caller(),
            None => identify(&self.config.tokens, credentials.authorization),
        };
        // Signing in takes a token, never a cookie (a session cannot renew itself).
        let denied = if *action == Action::SignIn && session.is_some() {
            Some(Reply::error(
                401,
                "unauthorized",
                "sign in with a bearer token",
            ))
        } else if let Some(session) = &session
            && (action.is_mutating() || *action == Action::SignOut)
            && !crate::sessions::csrf_matches(session, credentials.csrf)
        {
            Some(Reply::error(
                403,
                "csrf",
                "a change from a browser session needs its CSRF token (X-CSRF-Token)",
            ))
        } else {
            self.authorize(action, &caller)
        };
        match denied {
            None => Ok(caller),
            Some(denied) => {
                if action.is_audited() {
                    self.audit
                        .record(caller.audit_name(), action.name(), denied.status);
                    tracing::warn!(target: "plba::audit", who = caller.audit_name(), action = action.name(), status = denied.status, "control action refused");
                }
                Err(denied)
            }
        }
    }

    /// Performs `action` for a caller [`authenticate`](Self::authenticate) let through.
    pub(crate) async fn perform_as(
        &self,
        action: &Action,
        caller: &Caller,
        credentials: Credentials<'_>,
    ) -> Reply {
        let reply = match action {
            Action::SignIn => self.sign_in(caller),
            Action::SessionInfo => match self.sessions.find(credentials.cookie) {
                Some(session) => Reply::json(
                    200,
                    json!({ "name": session.name, "role": session.role, "csrf": session.csrf }),
                ),
                None => Reply::error(401, "unauthorized", "no session: sign in first"),
            },
            Action::SignOut => {
                self.sessions.close(credentials.cookie);
                Reply::json(200, json!({ "signed_out": true })).with_cookie(format!(
                    "{}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0",
                    crate::sessions::COOKIE
                ))
            }
            _ => self.run(action).await,
        };
        if action.is_audited() {
            self.audit
                .record(caller.audit_name(), action.name(), reply.status);
            tracing::info!(target: "plba::audit", who = caller.audit_name(), action = action.name(), status = reply.status, "control action");
        }
        reply
    }

    /// Opens a session for a caller that presented a valid token.
    fn sign_in(&self, caller: &Caller) -> Reply {
        let Caller::Known { name, role } = caller else {
            return Reply::error(401, "unauthorized", "a valid token is required");
        };
        match self.sessions.open(name, *role) {
            Ok((id, session)) => {
                let max_age = self.sessions.lifetime().as_secs();
                Reply::json(
                    200,
                    json!({ "name": session.name, "role": session.role, "csrf": session.csrf, "expires_in_seconds": max_age }),
                )
                .with_cookie(format!(
                    "{}={id}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age}{}",
                    crate::sessions::COOKIE,
                    if self.config.tls.is_some() { "; Secure" } else { "" }
                ))
            }
            Err(error) => Reply::error(500, "internal", error),
        }
    }

    fn authorize(&self, action: &Action, caller: &Caller) -> Option<Reply> {
        let required = action.required_role(self.config.protect_reads)?;
        if self.config.tokens.is_empty() && action.is_mutating() {
            return Some(Reply::error(
                403,
                "actions_disabled",
                "control actions are disabled: no control token is configured (platform.control.tokens)",
            ));
        }
        match caller {
            Caller::Anonymous => Some(Reply::error(
                401,
                "unauthorized",
                "a bearer token is required",
            )),
            Caller::Unknown => Some(Reply::error(
                401,
                "unauthorized",
                "the bearer token is not valid",
            )),
            Caller::Known { role, .. } if *role < required => Some(Reply::error(
                403,
                "forbidden",
                format!("this token's role may not perform `{}`", action.name()),
            )),
            Caller::Known { .. } => None,
        }
    }

    /// The queue an operator names, or the 404 that says which exist.
    fn queue(&self, name: &str) -> Result<Arc<dyn TaskQueue>, Reply> {
        self.runtime.queue(name).ok_or_else(|| {
            let known: Vec<String> = self.runtime.queue_names();
            Reply::error(
                404,
                "not_found",
                format!("no queue {name:?} (queues: {})", known.join(", ")),
            )
        })
    }

    /// The view an operator names, or the 404 that says which exist.
    fn view(&self, name: &str) -> Result<plba_contracts::ViewRef, Reply> {
        let views = self.runtime.views();
        views
            .iter()
            .find(|v| v.name() == name)
            .cloned()
            .ok_or_else(|| {
                let known: Vec<&str> = views.iter().map(|v| v.name()).collect();
                Reply::error(
                    404,
                    "not_found",
                    format!("no view {name:?} (views: {})", known.join(", ")),
                )
            })
    }

    async fn dead_letters(&self, queue: &str, limit: usize) -> Reply {
        let queue = match self.queue(queue) {
            Ok(queue) => queue,
            Err(reply) => return reply,
        };
        match queue.dead_letters(limit).await {
            Ok(letters) => Reply::json(
                200,
                json!({
                    "queue": queue.name(),
                    "dead_letters": letters.iter().map(dead_letter_json).collect::<Vec<_>>(),
                }),
            ),
            Err(error) => queue_error(&error),
        }
    }

    async fn settle_dead(&self, queue: &str, task: Option<&str>, replay: bool) -> Reply {
        let queue = match self.queue(queue) {
            Ok(queue) => queue,
            Err(reply) => return reply,
        };
        let which = match task {
            None => DeadLetterSelection::All,
            Some(id) => match id.parse() {
                Ok(id) => DeadLetterSelection::Task(id),
                Err(error) => {
                    return Reply::error(
                        400,
                        "bad_request",
                        format!("{id:?} is not a task id: {error}"),
                    );
                }
            },
        };
        let done = if replay {
            queue.replay_dead(&which).await
        } else {
            queue.purge_dead(&which).await
        };
        match done {
            Ok(report) if task.is_some() && report.done == 0 => Reply::error(
                404,
                "not_found",
                format!(
                    "no dead letter of task {} in queue {:?}",
                    task.unwrap_or_default(),
                    queue.name()
                ),
            ),
            Ok(report) => Reply::json(
                200,
                json!({ "queue": queue.name(), if replay { "replayed" } else { "purged" }: report.done, "kept": report.kept, "duplicates": report.duplicates }),
            ),
            Err(error) => queue_error(&error),
        }
    }

    async fn run(&self, action: &Action) -> Reply {
        match action {
            Action::Config => match &self.configuration {
                None => Reply::error(
                    409,
                    "no_configuration",
                    "this runtime was not built from a configuration",
                ),
                Some(configuration) => {
                    let current = configuration.current();
                    Reply::json(
                        200,
                        json!({
                            "generation": current.generation(),
                            "restart_required": current.restart_required(),
                            "config": current.redacted(),
                        }),
                    )
                }
            },
            Action::Audit => Reply::json(200, json!({ "audit": self.audit.newest_first() })),
            Action::Views => {
                let views: Vec<Value> = self
                    .runtime
                    .views()
                    .iter()
                    .map(|v| json!({ "name": v.name(), "title": v.title() }))
                    .collect();
                Reply::json(200, json!({ "views": views }))
            }
            Action::ViewList {
                view,
                search,
                limit,
            } => match self.view(view) {
                Err(reply) => reply,
                Ok(found) => match found.list(search, *limit).await {
                    Ok(table) => Reply::json(200, json!(table)),
                    Err(error) => {
                        Reply::error(503, "view_unavailable", plba_contracts::error_chain(&error))
                    }
                },
            },
            Action::ViewItem { view, id } => match self.view(view) {
                Err(reply) => reply,
                Ok(found) => match found.item(id).await {
                    Ok(Some(item)) => Reply::json(200, item),
                    Ok(None) => Reply::error(404, "not_found", format!("no {view} item {id:?}")),
                    Err(error) => {
                        Reply::error(503, "view_unavailable", plba_contracts::error_chain(&error))
                    }
                },
            },
            Action::UiAsset { content_type, text } => Reply {
                status: 200,
                body: ReplyBody::Text {
                    content_type,
                    text: (*text).to_owned(),
                },
                set_cookie: None,
            },
            // Answered in `perform_as`, which has the request's credentials.
            Action::SignIn | Action::SessionInfo | Action::SignOut => {
                Reply::error(500, "internal", "session actions need the request")
            }
            Action::DeadLetters { queue, limit } => self.dead_letters(queue, *limit).await,
            Action::SetLogLevel { level } => match &self.configuration {
                None => Reply::error(
                    409,
                    "no_configuration",
                    "this runtime was not built from a configuration",
                ),
                Some(configuration) => {
                    match configuration.set_async(format!("log.level={level}")).await {
                        Ok(snapshot) => Reply::json(
                            200,
                            json!({
                                "log_level": snapshot.log().level,
                                "generation": snapshot.generation(),
                            }),
                        ),
                        Err(error) => Reply::error(
                            422,
                            "invalid_configuration",
                            plba_contracts::error_chain(&error),
                        ),
                    }
                }
            },
            Action::ReplayDeadLetters { queue, task } => {
                self.settle_dead(queue, task.as_deref(), true).await
            }
            Action::PurgeDeadLetters { queue, task } => {
                self.settle_dead(queue, task.as_deref(), false).await
            }
            Action::Live => {
                let probe = self.runtime.liveness().await;
                Reply::json(
                    if probe.ok { 200 } else { 503 },
                    json!({ "status": if probe.ok { "ok" } else { "unhealthy" }, "reason": probe.reason }),
                )
            }
            Action::Ready => {
                let probe = self.runtime.readiness().await;
                Reply::json(
                    if probe.ok { 200 } else { 503 },
                    json!({
                        "status": if probe.ok { "ready" } else { "not_ready" },
                        "state": self.runtime.state(),
                        "health": probe.state,
                        "reason": probe.reason,
                    }),
                )
            }
            Action::Health => {
                let health = self.runtime.health().await;
                let contributors: Vec<Value> = health
                    .contributors
                    .iter()
                    .map(|c| {
                        json!({
                            "name": c.name,
                            "state": c.state,
                            "reason": c.reason,
                            "critical": c.critical,
                            "latency_ms": c.latency.as_secs_f64() * 1000.0,
                        })
                    })
                    .collect();
                let status = if health.state == plba_contracts::HealthState::Unhealthy {
                    503
                } else {
                    200
                };
                Reply::json(
                    status,
                    json!({ "status": health.state, "contributors": contributors }),
                )
            }
            Action::Status => {
                let status = self.runtime.status().await;
                let generation = self
                    .configuration
                    .as_ref()
                    .map(|c| c.current().generation());
                Reply::json(
                    200,
                    json!({
                        "version": env!("CARGO_PKG_VERSION"),
                        "state": status.state,
                        "uptime_seconds": status.uptime.map(|u| u.as_secs_f64()),
                        "modules": self.runtime.modules(),
                        "config_generation": generation,
                        "workers": status.workers,
                        "queues": status.queues,
                        "schedules": status.schedules,
                    }),
                )
            }
            Action::Metrics => Reply {
                status: 200,
                body: ReplyBody::Text {
                    content_type: METRICS_CONTENT_TYPE,
                    text: render_metrics_with(&self.runtime, self.connections.families()).await,
                },
                set_cookie: None,
            },
            Action::Traces { limit } => match &self.traces {
                Some(traces) => Reply::json(200, json!({ "traces": traces.recent(*limit) })),
                None => Reply::json(200, json!({ "traces": [] })),
            },
            Action::Trace { id } => match self.traces.as_ref().and_then(|t| t.get(id)) {
                Some(trace) => Reply::json(200, json!(trace)),
                None => Reply::error(404, "not_found", format!("no recent trace for {id:?}")),
            },
            Action::Stop => {
                let report = self.runtime.stop().await;
                Reply::json(
                    200,
                    json!({ "state": self.runtime.state(), "stop": report }),
                )
            }
            Action::Start => match self.runtime.start().await {
                Ok(()) => Reply::json(200, json!({ "state": self.runtime.state() })),
                Err(CoreError::InvalidState { state, .. }) => Reply::error(
                    409,
                    "conflict",
                    format!("cannot start while the runtime is {state}"),
                ),
                Err(error) => {
                    Reply::error(500, "start_failed", plba_contracts::error_chain(&error))
                }
            },
            Action::Reload => match &self.configuration {
                None => Reply::error(
                    409,
                    "no_configuration",
                    "this runtime was not built from a configuration file",
                ),
                Some(configuration) => match configuration.reload_async().await {
                    Ok(snapshot) => Reply::json(
                        200,
                        json!({
                            "reloaded": true,
                            "generation": snapshot.generation(),
                            "restart_required": snapshot.restart_required(),
                        }),
                    ),
                    Err(error) => Reply::error(
                        422,
                        "invalid_configuration",
                        plba_contracts::error_chain(&error),
                    ),
                },
            },
            Action::Shutdown => {
                self.runtime.request_shutdown();
                let state = self.runtime.state();
                let note = if state == RuntimeState::Running {
                    "stopping gracefully, then exiting"
                } else {
                    "exiting"
                };
                Reply::json(202, json!({ "shutting_down": true, "note": note }))
            }
        }
    }
}

/// A dead letter as the API shows it: the task (payload as text when it is UTF-8), why it
/// was given up and when.
fn dead_letter_json(letter: &DeadLetter) -> Value {
    let task = &letter.task;
    let payload = std::str::from_utf8(&task.payload).ok();
    json!({
        "task_id": task.id.to_string(),
        "name": task.name,
        "attempts": task.attempt,
        "reason": letter.reason,
        "dead_at": letter
            .dead_at
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64()),
        "payload": payload,
        "payload_bytes": task.payload.len(),
        "metadata": task.metadata,
    })
}

/// A queue's failure as an answer: 503 when retrying may help, 409 otherwise.
fn queue_error(error: &QueueError) -> Reply {
    let chain = plba_contracts::error_chain(error);
    if error.is_transient() {
        Reply::error(503, "queue_unavailable", chain)
    } else {
        Reply::error(409, "queue_refused", chain)
    }
}
