//! The PLBA control plane: health, status, metrics, traces and token-protected actions.
//!
//! [`ControlPlaneService`] knows the actions independently of any transport; [`ControlServer`]
//! serves them over HTTP/1.1 on hyper; [`ControlClient`] is the small client a launcher
//! exposes as `status`, `health`, `stop`, `reload` subcommands.
//!
//! | method | path | who | answer |
//! |---|---|---|---|
//! | GET | `/health/live` | anyone | 200 / 503 |
//! | GET | `/health/ready` | anyone | 200 / 503 |
//! | GET | `/health` | viewer if `protect_reads` | 200 / 503, every contributor |
//! | GET | `/status` | viewer if `protect_reads` | runtime, pools, queues |
//! | GET | `/metrics` | viewer if `protect_reads` | Prometheus/OpenMetrics text |
//! | GET | `/traces`, `/traces/{id}` | viewer if `protect_reads` | recent task traces |
//! | POST | `/actions/stop`, `/actions/start`, `/actions/reload`, `/actions/shutdown` | admin | JSON |
//!
//! Every error is JSON: `{"error": {"code": "...", "message": "..."}}`.
//!
//! The server holds at most `max_connections` connections: at the cap a new connection closes
//! the longest-idle one, and an eighth of the slots is kept for the two probes (other requests
//! beyond the rest get a 503 with `Connection: close`), so a flood neither exhausts the
//! process's file descriptors nor silences the probes. A token is checked from the headers
//! before any body is read, and a body must arrive within `body_timeout_ms`.

mod auth;
mod client;
mod connections;
mod error;
mod http;
mod metrics;
mod service;
mod sessions;
#[cfg(feature = "tls")]
mod tls;
mod ui;

pub use client::{ClientReply, ControlClient};
pub use error::ControlError;
pub use http::ControlServer;
pub use metrics::render_metrics;
pub use service::{Action, ControlPlaneService, Reply, ReplyBody};
