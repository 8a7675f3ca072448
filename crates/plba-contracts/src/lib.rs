//! The contracts of PLBA: traits and data types only.
//!
//! Everything a domain module or an adapter needs to speak to the runtime lives here, and
//! nothing else does: no tokio runtime, no I/O, no dependency on another PLBA crate. A domain
//! library that compiles against this crate alone (plus the adapters it picks) cannot reach
//! into the runtime's internals: the platform/domain split is enforced by the compiler.
//!
//! The main protocols:
//!
//! - [`ApplicationModule`] declares what a module contributes through a [`Registry`]; it runs
//!   nothing itself.
//! - [`Worker`] is an active component the supervisor spawns, stops and restarts.
//! - [`TaskQueue`] carries [`Task`]s with at-least-once delivery; a [`TaskHandler`] holds the
//!   business logic for one task and says through [`TaskError`] whether a retry can help.
//! - [`HealthContributor`] answers "is this part operational?".
//! - [`ConfigProvider`] hands a module its typed configuration section.
//! - [`TaskTracer`] carries a task's trace context from producer to handler; a [`Publisher`]
//!   publishes with it, so producers never make the span by hand.

mod backoff;
mod config;
mod handler;
mod health;
mod lease;
mod limit;
mod message_error;
mod metrics;
mod module;
mod opaque_debug;
mod publisher;
mod queue;
mod schedule;
mod secret;
mod status;
mod task;
mod timetable;
mod trace;
mod view;
mod worker;

pub use async_trait::async_trait;
pub use bytes::Bytes;
pub use tokio_util::sync::CancellationToken;

pub use backoff::{Backoff, Jitter};
pub use config::{
    ConfigError, ConfigProvider, ConfigProviderExt, ConfigSubscriber, DEFAULT_CONTROL_BIND,
    EmptyConfig,
};
pub use handler::{TaskError, TaskErrorKind, TaskHandler};
pub use health::{HealthContributor, HealthOptions, HealthReport, HealthState};
pub use lease::Lease;
pub use limit::{Admission, LimitError, Limiter, Limits, Permit, Rate};
pub use metrics::{
    HistogramValue, MetricFamily, MetricKind, MetricSample, MetricValue, MetricsSource,
};
pub use module::{
    ApplicationModule, Registry, RegistryError, RegistryExt, RestartPolicy, WorkerFactory,
    WorkerSpec,
};
pub use publisher::Publisher;
pub use queue::{
    DeadLetter, DeadLetterReport, DeadLetterSelection, Delivery, NackOutcome, Published,
    QueueError, QueueStats, Receipt, TaskQueue, TryAck,
};
pub use schedule::{
    Cadence, Missed, Occurrence, Schedule, ScheduleStore, ScheduleStoreError, ScheduledJob,
};
pub use secret::{REDACTED, Secret};
pub use task::{
    IDEMPOTENCY_KEY, IDEMPOTENCY_TTL_KEY, LIMIT_KEY, Metadata, NOT_BEFORE_KEY, ParseTaskIdError,
    TIMEOUT_KEY, Task, TaskId,
};
pub use timetable::Timetable;
pub use trace::{InTaskTrace, IncomingTrace, NoopTaskTracer, TaskOutcome, TaskTracer};
pub use view::{AppView, ViewError, ViewRef, ViewRow, ViewTable};
pub use worker::{Worker, WorkerContext, WorkerError, WorkerStatus};
