//! The webhook source as a part of an application: it binds its port when the application
//! registers it, serves while the application runs, and reports its health and counters.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use plba_contracts::{
    CancellationToken, HealthContributor, HealthOptions, HealthReport, Publisher, Registry,
    RegistryError, Worker, WorkerContext, WorkerError, WorkerSpec, WorkerStatus, async_trait,
};
use plba_util::Unpoisoned;

use crate::config::WebhookConfig;
use crate::metrics::WebhookMetrics;
use crate::request::Handler;
use crate::request::PayloadCheck;
use crate::server::{Limits, accept_loop, bind};

/// The name of the source's worker and health check.
pub const WEBHOOK: &str = "webhook";

/// Turns the requests `POST`ed to the routes of a [`WebhookConfig`] into tasks on the
/// application's queues.
///
/// The listener is bound when the source is registered (a taken port stops the
/// application at start), and answers for as long as the application lives: while the
/// application is not running (starting, paused by an operator, stopping) a request is
/// answered `503` with `Retry-After`, so the sender retries rather than losing its event.
///
/// ```no_run
/// use std::sync::Arc;
/// use plba_contracts::{Registry, RegistryError, RegistryExt};
/// use plba_queue_memory::MemoryQueue;
/// use plba_webhook::{WebhookConfig, WebhookSource};
///
/// fn wire(registry: &mut dyn Registry, config: WebhookConfig) -> Result<(), RegistryError> {
///     let invoices = Arc::new(MemoryQueue::named("invoices"));
///     registry.add_queue(invoices.clone())?;
///     let publisher = registry.publisher(invoices);
///     WebhookSource::new(config).queue(publisher).register(registry)?;
///     Ok(())
/// }
/// ```
pub struct WebhookSource {
    config: WebhookConfig,
    publishers: HashMap<String, Publisher>,
    checks: HashMap<String, PayloadCheck>,
}

impl std::fmt::Debug for WebhookSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookSource")
            .field("config", &self.config)
            .field("publishers", &self.publishers)
            .field("checks", &self.checks.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl WebhookSource {
    /// A source for `config`'s listener and routes; name each route's queue with
    /// [`queue`](Self::queue).
    pub fn new(config: WebhookConfig) -> Self {
        Self {
            config,
            publishers: HashMap::new(),
            checks: HashMap::new(),
        }
    }

    /// Checks the payload of every request whose route makes tasks named `task` before it
    /// is published (builder style): the application's own rules, so a sender is answered
    /// `422` with the reason at once instead of `202` for a task that can only fail.
    #[must_use]
    pub fn check_payload(
        mut self,
        task: impl Into<String>,
        check: impl Fn(&[u8]) -> Result<(), String> + Send + Sync + 'static,
    ) -> Self {
        self.checks.insert(task.into(), Arc::new(check));
        self
    }

    /// Makes the publisher's queue one that routes may name (builder style).
    #[must_use]
    pub fn queue(mut self, publisher: Publisher) -> Self {
        self.publishers
            .insert(publisher.queue().name().to_owned(), publisher);
        self
    }

    /// Checks the configuration against the queues given, binds the listener, and adds the
    /// worker that serves it, its health check and its counters. Returns the address bound
    /// (the configured one, with the port chosen when it was 0).
    pub fn register(self, registry: &mut dyn Registry) -> Result<SocketAddr, RegistryError> {
        let module = registry.module_name().to_owned();
        let queues: Vec<&str> = self.publishers.keys().map(String::as_str).collect();
        self.config.check(&queues)?;
        let listener = bind(self.config.listen).map_err(|source| {
            RegistryError::module(
                module.clone(),
                format!("the webhook listener on {}", self.config.listen),
                source,
            )
        })?;
        let addr = listener.local_addr().map_err(|source| {
            RegistryError::module(module.clone(), "the webhook listener's address", source)
        })?;
        let handler = Arc::new(Handler::new(&self.config, &self.publishers, &self.checks));
        // Served from now on, so a request before the application runs is answered (503)
        // rather than left waiting in the backlog.
        let listener = tokio::runtime::Handle::try_current()
            .map_err(|source| {
                RegistryError::module(
                    module.clone(),
                    "the webhook listener (it is registered outside a tokio runtime)",
                    source,
                )
            })
            .and_then(|runtime| {
                let _entered = runtime.enter();
                tokio::net::TcpListener::from_std(listener).map_err(|source| {
                    RegistryError::module(module.clone(), "the webhook listener", source)
                })
            })?;
        let server = CancellationToken::new();
        tokio::spawn(accept_loop(
            listener,
            Arc::clone(&handler),
            Limits {
                max_connections: self.config.max_connections,
                header_timeout: Duration::from_millis(self.config.header_timeout_ms),
                retry_after_secs: self.config.retry_after_secs.max(1),
            },
            server.clone(),
        ));
        let worker = Arc::new(Listener {
            handler: Arc::clone(&handler),
            addr,
            server,
        });
        registry.add_metrics_source(Arc::clone(&handler.metrics) as Arc<WebhookMetrics>)?;
        registry.add_health_contributor(
            WEBHOOK,
            Arc::new(ListenerHealth(Arc::clone(&worker))),
            HealthOptions::critical(),
        )?;
        registry.add_worker(WorkerSpec::single(WEBHOOK, worker))?;
        tracing::info!(%addr, routes = self.config.routes.len(), "webhook listener bound");
        Ok(addr)
    }
}

/// The worker: marks the application ready while it runs; the server it stands for stops
/// when it is dropped with the application.
struct Listener {
    handler: Arc<Handler>,
    addr: SocketAddr,
    /// Stops the server when the application is dropped.
    server: CancellationToken,
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.server.cancel();
    }
}

#[async_trait]
impl Worker for Listener {
    async fn run(&self, ctx: WorkerContext) -> Result<(), WorkerError> {
        self.handler.ready.store(true, Ordering::Release);
        ctx.stop_token().cancelled().await;
        self.handler.ready.store(false, Ordering::Release);
        Ok(())
    }

    fn status(&self) -> WorkerStatus {
        if self.handler.ready.load(Ordering::Acquire) {
            WorkerStatus::Idle
        } else {
            WorkerStatus::Stopped
        }
    }
}

/// How long after a failed publish the listener reports itself degraded.
const DEGRADED_FOR: Duration = Duration::from_secs(60);

/// Unhealthy while the listener does not accept webhooks (the application starting or not
/// running), so readiness turns true only once a sender's webhook would be taken; degraded
/// within a minute of a task that could not be published (its queue full or unreachable):
/// senders are being told to retry.
struct ListenerHealth(Arc<Listener>);

#[async_trait]
impl HealthContributor for ListenerHealth {
    async fn check(&self) -> HealthReport {
        if !self.0.handler.ready.load(Ordering::Acquire) {
            return HealthReport::unhealthy(format!(
                "webhooks on {} are answered 503: the application is not running",
                self.0.addr
            ));
        }
        let failed = *self.0.handler.publish_failed.lock_or_recover();
        if failed.is_some_and(|at| at.elapsed() < DEGRADED_FOR) {
            HealthReport::degraded(format!(
                "webhooks on {} were answered 429/503 in the last minute: their queue did not take tasks",
                self.0.addr
            ))
        } else {
            HealthReport::ok()
        }
    }
}
