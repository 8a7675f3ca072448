//! The PLBA control plane: health, status, metrics, traces, the console and token-protected
//! actions.
//!
//! [`ControlPlaneService`] performs the [`Action`]s independently of any transport: it
//! identifies the caller, checks their role, audits every change, and answers with a
//! [`Reply`] or an [`ApiError`] (one type, whose kind decides the status and the stable error
//! code). [`ControlServer`] serves them over HTTP/1.1: it owns the accept loop, the
//! connection cap, the header and body timeouts and TLS, and routes each request with an
//! axum router whose handlers are grouped by resource. [`ControlClient`] is the small client
//! a launcher exposes as `status`, `health`, `stop`, `reload` subcommands.
//!
//! The routes (a test holds the server's route table to this one):
//!
//! | method | path | who | answer |
//! |---|---|---|---|
//! | GET | `/health/live`, `/health/ready` | anyone | 200 / 503 |
//! | GET | `/health` | viewer if `protect_reads` | 200 / 503, every contributor |
//! | GET | `/status` | viewer if `protect_reads` | runtime, workers, queues, schedules, the configuration database's revision and state |
//! | GET | `/metrics` | viewer if `protect_reads` | OpenMetrics text |
//! | GET | `/traces`, `/traces/{id}` | viewer if `protect_reads` | recent task traces (`?limit=`) |
//! | GET | `/queues/{queue}/dead-letters` | viewer if `protect_reads` | newest dead letters (`?limit=`) |
//! | GET | `/config` | viewer | effective configuration, secrets redacted, each value's layer |
//! | GET | `/config/history` | viewer | the configuration database's changes: who, when, old and new value (`?key=`, `?limit=`) |
//! | POST | `/config/values` | admin | body `{"key": …, "value": YAML or null, "comment": …}`: a value set in (or removed from) the configuration database, checked first |
//! | GET | `/audit` | viewer | recent changes and sign-ins; apart, recent refusals |
//! | GET | `/views`, `/views/{view}`, `/views/{view}/{*id}` | viewer | the modules' pages (`?q=`, `?limit=`; an id may hold `/`) |
//! | GET | `/ui`, `/ui/app.js`, `/ui/app.css` | anyone | the console's files |
//! | GET | `/ui/session` | a session | who the browser is, its CSRF token |
//! | POST | `/ui/session` | viewer (a configured token, or a user's password as HTTP Basic) | opens a session: an HttpOnly cookie |
//! | POST | `/ui/session/end` | a session | ends it |
//! | GET | `/ui/session/methods` | anyone | how to sign in: a password, single sign-on and its button's words |
//! | GET | `/ui/oidc/start` | anyone | 303 to the OpenID Connect provider (`?page=` the console page to come back to) |
//! | GET | `/ui/oidc/callback` | the provider's redirect | 303 to the console, signed in, or to its sign-in form with `?sign_in_error=` |
//! | GET | `/users` | admin | the users of `platform.control.users`: name, role, disabled |
//! | POST | `/users/{name}/disable`, `/users/{name}/enable` | admin | a disabled user's sessions and tokens stop at once |
//! | POST | `/users/{name}/role` | admin | `?role=viewer`, `operator` or `admin` |
//! | GET | `/me/tokens` | a user (session or token) | their API tokens: id, name, expiry, last use |
//! | POST | `/me/tokens` | a user's session | `?name=&days=`: a new API token, shown once |
//! | POST | `/me/tokens/{id}/revoke` | a user | revokes one of their tokens |
//! | POST | `/me/password` | a user's session | body `{"current": …, "new": …}`: changes the password, ends every session |
//! | POST | `/ui/session/end-everywhere` | a session | ends every session of its user (or token), on every instance sharing the users' database |
//! | POST | `/actions/stop`, `/actions/start` | operator | JSON |
//! | POST | `/actions/reload`, `/actions/shutdown` | admin | JSON |
//! | POST | `/actions/log-level` | admin | `?level=debug` or a filter `?level=info,plba_core=debug` |
//! | POST | `/queues/{queue}/dead-letters/replay`, `/queues/{queue}/dead-letters/purge` | operator | `?task=ID` for one task's, all otherwise |
//!
//! Query and path parameters are percent-decoded (a query key given twice counts once, with
//! its first value). A `GET` route answers `HEAD` too; another
//! method gets a 405 whose `Allow` header lists the route's methods. Every error is JSON:
//! `{"error": {"code": "...", "message": "..."}}`. Every answer is `Cache-Control: no-store` and
//! `X-Content-Type-Options: nosniff` (and over TLS carries HSTS); a POST whose `Origin` is not
//! this server is refused (`foreign_origin`). No action but `/me/password` and
//! `/config/values` takes a body: a
//! POST's body is read and dropped, bounded by `max_body_bytes` and `body_timeout_ms`.
//!
//! The server holds at most `max_connections` connections: at the cap a new connection closes
//! the longest-idle one, and an eighth of the slots is kept for the two probes (other requests
//! beyond the rest get a 503 with `Connection: close`), so a flood neither exhausts the
//! process's file descriptors nor silences the probes. A token is checked from the headers
//! before any body is read, and a body must arrive within `body_timeout_ms`. The header
//! timeout (`header_timeout_ms`) also bounds a TLS handshake and a kept-alive connection's
//! wait for its next request, so no connection holds its slot idle for longer. No request
//! can panic the server: a handler that panics answers a JSON 500. HTTPS
//! (`platform.control.tls`, PEM files, rustls) needs this crate's `tls` feature; a build
//! without it refuses a configured certificate at start instead of serving plain HTTP.
//!
//! The console is three files written by hand (`ui/`: a page, a script, a style sheet),
//! embedded in the binary and served under a `default-src 'self'` policy; the script
//! writes data into the page with `textContent` only.
//!
//! # Who may do what
//!
//! A caller is identified by a bearer token from `platform.control.tokens`, compared in
//! constant time with every configured token (so timing tells nothing of which one
//! matched), or by a browser session. A viewer reads; an admin also acts. With no token
//! configured every action that changes something is refused; with `protect_reads` off the
//! probes, health, status, metrics, traces and dead-letter lists need no token, but the
//! configuration, the audit and the modules' pages always need at least a viewer.
//!
//! A browser signs in with a token (a session cannot renew itself) and then holds a
//! session id in an `HttpOnly; SameSite=Strict` cookie instead of the token. Sessions live
//! in memory for `session_ttl_ms` (at most 32 per token name, the oldest of that name ending
//! first, so nobody can sign someone else out; a restart signs everyone out), and each change
//! a session asks for, signing out included, must carry its CSRF token. Two different session
//! cookies count as none. A bearer token, when a request has one, wins over the session.
//!
//! A client address that presents `auth_failures_per_minute` wrong tokens (10 by default)
//! gets 429 with `Retry-After` for every request that presents a token, until its allowance
//! refills; the token is then not even compared, so a right guess looks like a wrong one.
//! Requests that need no token (the probes, open reads) are never limited. A token signs
//! in at most 10 times a minute (more is answered 429), and sign-ins are audited apart from
//! changes, so signing in again and again pushes no change out of `/audit`.
//!
//! Every change, sign-in and sign-out that gets past authentication is audited: one line
//! under the `plba::audit` target naming the caller by the token's name (never the token),
//! the action and the status; the last 200 are kept for `GET /audit`. Refused requests
//! (any endpoint) are kept apart, so no flood of them can push a change out: the last 200
//! are listed under `refusals`, `plba_control_requests_denied_total` counts them by error
//! code, and the log has one line for a client's first refusal and then one line a minute
//! summing the rest.

mod action;
mod api_error;
mod auth;
mod client;
mod connections;
mod error;
mod http;
mod metrics;
mod reply;
mod service;
mod sessions;
mod stored_config;
#[cfg(feature = "tls")]
mod tls;

pub use action::Action;
pub use api_error::ApiError;
pub use client::{ClientReply, ControlClient};
pub use error::ControlError;
pub use http::ControlServer;
pub use metrics::render_metrics;
pub use reply::{Reply, ReplyBody, SessionChange};
pub use service::ControlPlaneService;
pub use stored_config::StoredConfig;
