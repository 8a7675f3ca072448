//! The webhook source of PLBA: business systems (shops, accounting, payment providers)
//! announce work by HTTP `POST`, and each request becomes a task.
//!
//! A [`WebhookSource`] listens on its own port (never the control plane's). Each route of
//! its [`WebhookConfig`] names a path, a queue and how a sender proves itself: an
//! HMAC-SHA256 signature of the timestamp and the raw body ([`signature`], Stripe's
//! scheme, with a tolerance on the timestamp so a captured request cannot be replayed
//! later) or a bearer token, each read from a secret file and compared in constant time.
//!
//! What a sender is answered:
//!
//! | answer | when |
//! |---|---|
//! | `202 {"task_id": …}` | the request is a task on the route's queue |
//! | `200 {"task_id": …, "duplicate": true}` | its idempotency key (the route's `idempotency_field` of the body, which a signature covers; on a route without one, the `Idempotency-Key` header) already made a task: no second one |
//! | `401` | the signature or token is missing or wrong, or the signature's timestamp is outside the tolerance |
//! | `413` | the body is over `max_body_bytes` (refused before it is read when its length is announced) |
//! | `415` / `400` | the body is not declared JSON / is not JSON, or lacks the idempotency field |
//! | `422` | the application's check of the payload ([`WebhookSource::check_payload`]) refused it, with its reason |
//! | `408` | the body did not arrive within `body_timeout_ms` |
//! | `429` + `Retry-After` | the queue is full |
//! | `503` + `Retry-After` | the application is not running, the queue cannot be reached or did not take the task within `publish_timeout_ms`, or every connection slot is taken |
//! | `404` / `405` | no route has the path / not a `POST` |
//!
//! A refused request publishes nothing. The listener counts requests received, accepted,
//! duplicate and refused by reason (`plba_webhook_requests_*_total`, per route). Its health
//! check is critical and unhealthy while it answers `503` for want of a running application,
//! so `/health/ready` turns true only once a webhook would be taken; it is degraded for a
//! minute after its queue refused a task.

pub mod config;
mod metrics;
mod request;
mod server;
pub mod signature;
mod source;

pub use config::{AuthConfig, BearerConfig, HmacConfig, RouteConfig, WebhookConfig};
pub use metrics::{Refusal, WebhookMetrics};
pub use request::{PayloadCheck, ROUTE_METADATA};
pub use signature::{SignatureError, sign, verify_bearer, verify_signature};
pub use source::{WEBHOOK, WebhookSource};
