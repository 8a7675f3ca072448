//! The application module: what mail_order_bot asks the runtime to run.

use std::sync::Arc;
use std::time::Duration;

use plba_contracts::{
    ApplicationModule, Backoff, Cadence, ConfigError, ConfigProvider, HealthContributor,
    HealthOptions, HealthReport, MetricsSource, Registry, RegistryError, Schedule, TaskQueue,
    Timetable, WorkerSpec, async_trait,
};
use plba_mail::{InFlight, MailBackend, MailTaskHandler, SourceLiveness};
#[cfg(feature = "imap")]
use plba_mail_imap::{ImapMailbox, ImapMode, ImapSource};
#[cfg(feature = "maildir")]
use plba_mail_maildir::{Maildir, MaildirSource};
use plba_queue_memory::MemoryQueue;
#[cfg(feature = "redis")]
use plba_redis::{RedisLease, RedisQueue, RedisScheduleStore};
use plba_workers::{FileScheduleStore, QueueWorkerOptions, QueueWorkerPool};

use super::handler::OrderMailHandler;
use super::live_config::{ConfigFollower, LiveRules, read_rules};
#[cfg(feature = "maildir")]
use super::samples::SAMPLES;
use super::summary::SummaryJob;
use super::views::{OrdersView, RejectionsView};
use crate::config::{MODULE, QueueConfig, SourceConfig, SummaryConfig};
use crate::store::{OrderStore, open_store};

/// mail_order_bot: mail source → queue → order handlers → order store.
#[derive(Debug, Default)]
pub struct MailOrderBot {
    store: Option<Arc<dyn OrderStore>>,
}

impl MailOrderBot {
    /// The module with the store its configuration names.
    pub fn new() -> Self {
        Self::default()
    }

    /// The module with this store instead (tests, other backends).
    pub fn with_store(store: Arc<dyn OrderStore>) -> Self {
        Self { store: Some(store) }
    }
}

/// A failure to build `what`, keeping its cause.
fn module_error<E: std::error::Error + Send + Sync + 'static>(
    what: &'static str,
) -> impl FnOnce(E) -> RegistryError {
    move |source| RegistryError::module(MODULE, what, source)
}

/// Reports whether the order store can write: a critical dependency (a store that only
/// reads would let mails be fetched and never stored).
struct StoreHealth(Arc<dyn OrderStore>);

#[async_trait]
impl HealthContributor for StoreHealth {
    async fn check(&self) -> HealthReport {
        match self.0.check_writable().await {
            Ok(()) => HealthReport::ok(),
            Err(error) => HealthReport::unhealthy(plba_util::error_chain(&error)),
        }
    }
}

/// The schedule that writes the nightly summary, when `summary.schedule` is set: the
/// runtime checks the expression and the time zone, and shows its next and last run.
fn register_summary(
    registry: &mut dyn Registry,
    summary: &SummaryConfig,
    store: Arc<dyn OrderStore>,
) -> Result<(), RegistryError> {
    let Some(expression) = &summary.schedule else {
        return Ok(());
    };
    let cadence = Cadence::Cron {
        expression: expression.clone(),
        time_zone: summary.time_zone.clone(),
    };
    // Checked with the configuration already; the runtime reports it again if not.
    let timetable = Timetable::parse(&cadence).map_err(|reason| RegistryError::Invalid {
        kind: "schedule",
        name: SUMMARY_SCHEDULE.to_owned(),
        reason,
    })?;
    // Made now, so a directory that cannot be stops the bot at start, not at midnight.
    std::fs::create_dir_all(&summary.directory).map_err(|source| {
        RegistryError::module(
            MODULE,
            format!(
                "the summary directory {} (summary.directory)",
                summary.directory.display()
            ),
            source,
        )
    })?;
    let shared = summary.lease.is_some();
    let job = Arc::new(SummaryJob::new(
        store,
        summary.directory.clone(),
        timetable,
        shared,
    ));
    let schedule = Schedule::new(SUMMARY_SCHEDULE, cadence, job).missed(summary.missed);
    let schedule = match &summary.lease {
        // One bot: its record in the summary directory, so a night missed while it was
        // down is noticed (and, with `missed: run_once`, written) when it starts again.
        None => schedule.with_store(Arc::new(FileScheduleStore::new(
            summary.directory.join(".orders-summary-schedule.json"),
        ))),
        #[cfg(feature = "redis")]
        Some(lease) => {
            let ttl = Duration::from_millis(lease.ttl_ms.max(300));
            let name = format!("schedule:{SUMMARY_SCHEDULE}");
            schedule
                .with_lease(Arc::new(
                    RedisLease::new(&lease.url, &lease.prefix, &name, ttl)
                        .map_err(module_error("the summary's lease"))?,
                ))
                .with_store(Arc::new(
                    RedisScheduleStore::new(&lease.url, &lease.prefix)
                        .map_err(module_error("the summary's schedule store"))?,
                ))
        }
        // Refused by the configuration check in a build without Redis.
        #[cfg(not(feature = "redis"))]
        Some(_) => schedule,
    };
    registry.add_schedule(schedule)
}

/// The summary schedule's name (status, the lease and the store's keys).
pub const SUMMARY_SCHEDULE: &str = "orders-summary";

#[async_trait]
impl ApplicationModule for MailOrderBot {
    fn name(&self) -> &str {
        MODULE
    }

    fn check_config(&self, config: &dyn ConfigProvider) -> Result<(), ConfigError> {
        read_rules(config).map(drop)
    }

    async fn register(&self, registry: &mut dyn Registry) -> Result<(), RegistryError> {
        let (config, rules) = read_rules(registry.config())?;
        let rules = Arc::new(LiveRules::new(rules));
        registry.add_config_subscriber(Arc::new(ConfigFollower::new(
            config.clone(),
            Arc::clone(&rules),
        )))?;
        let store: Arc<dyn OrderStore> = match &self.store {
            Some(store) => Arc::clone(store),
            None => open_store(&config.store).map_err(module_error("the order store"))?,
        };
        registry.add_view(Arc::new(OrdersView(Arc::clone(&store))))?;
        registry.add_view(Arc::new(RejectionsView(Arc::clone(&store))))?;
        registry.add_health_contributor(
            "order-store",
            Arc::new(StoreHealth(Arc::clone(&store))),
            HealthOptions::critical(),
        )?;

        register_summary(registry, &config.summary, Arc::clone(&store))?;

        // With several bots on one mailbox, a task may be given up in another process.
        let in_flight = Arc::new(match &config.source_lease {
            Some(lease) => InFlight::with_max_age(Duration::from_millis(lease.republish_after_ms)),
            None => InFlight::new(),
        });
        // Every arm of a kind this build lacks is refused by `read_rules` above.
        let (queue, max_attempts): (Arc<dyn TaskQueue>, u32) = match &config.queue {
            QueueConfig::Memory { memory } => (
                Arc::new(
                    MemoryQueue::new("mail", *memory).map_err(module_error("the memory queue"))?,
                ),
                memory.max_attempts,
            ),
            #[cfg(feature = "redis")]
            QueueConfig::Redis { redis } => {
                // Connected here, in the start-up phase: a Redis that refuses the bot stops it
                // before the runtime reports running.
                let queue = RedisQueue::connect("mail", redis.clone())
                    .await
                    .map_err(module_error("the Redis queue"))?;
                registry.add_health_contributor(
                    "queue-redis",
                    queue.health_contributor(),
                    HealthOptions::critical(),
                )?;
                // Tasks Redis lost are forgotten as in flight, so the next scan publishes
                // their still-unseen mails again.
                let in_flight = Arc::clone(&in_flight);
                queue.on_contents_lost(move || in_flight.clear());
                (Arc::new(queue), redis.max_attempts)
            }
            QueueConfig::NotBuilt(missing) => {
                return Err(missing.error().within("queue").within(MODULE).into());
            }
        };
        // The sources publish in the runtime's traces; the pool below registers the queue and
        // traces its handlers with the same tracer.
        let tracer = registry.tracer();

        let liveness = Arc::new(SourceLiveness::new(
            Duration::from_millis(config.source_stale_after_ms),
            Arc::clone(&in_flight),
        ));
        registry.add_metrics_source(Arc::clone(&liveness) as Arc<dyn MetricsSource>)?;
        let backend: Arc<dyn MailBackend> = match &config.source {
            #[cfg(feature = "maildir")]
            SourceConfig::Maildir { maildir } => {
                let fresh = !maildir.path.join("new").is_dir();
                let maildir =
                    Arc::new(Maildir::open(maildir.clone()).map_err(module_error("the Maildir"))?);
                if fresh && config.seed_samples {
                    for (name, bytes) in SAMPLES {
                        maildir
                            .deliver(bytes::Bytes::from_static(bytes))
                            .await
                            .map_err(module_error("the sample mails"))?;
                        tracing::info!(sample = name, "sample mail delivered");
                    }
                }
                let source = MaildirSource::new(
                    Arc::clone(&maildir),
                    queue.clone(),
                    Arc::clone(&in_flight),
                    Arc::clone(&tracer),
                )
                .with_liveness(Arc::clone(&liveness));
                // Without the `redis` feature `read_rules` refused a lease.
                #[cfg(feature = "redis")]
                let source = match &config.source_lease {
                    Some(lease) => {
                        let name = format!("mail-source:{}", maildir.name());
                        let ttl = Duration::from_millis(lease.ttl_ms.max(300));
                        let lease = RedisLease::new(&lease.url, &lease.prefix, &name, ttl)
                            .map_err(module_error("the mailbox lease"))?;
                        source.with_lease(Arc::new(lease))
                    }
                    None => source,
                };
                registry.add_worker(WorkerSpec::single("mail-source", Arc::new(source)))?;
                maildir
            }
            #[cfg(feature = "imap")]
            SourceConfig::ImapPoll { imap } | SourceConfig::ImapIdle { imap } => {
                let mode = match &config.source {
                    SourceConfig::ImapIdle { .. } => ImapMode::Idle,
                    _ => ImapMode::Poll,
                };
                let mailbox = Arc::new(ImapMailbox::new(imap.clone()));
                let source = ImapSource::new(
                    imap.clone(),
                    queue.clone(),
                    Arc::clone(&in_flight),
                    Arc::clone(&tracer),
                    mode,
                )
                .with_liveness(Arc::clone(&liveness))
                .connecting_ahead(Arc::clone(&mailbox));
                #[cfg(feature = "redis")]
                let source = match &config.source_lease {
                    Some(lease) => {
                        let name = format!(
                            "mail-source:imap:{}@{}:{}/{}",
                            imap.user, imap.host, imap.port, imap.mailbox
                        );
                        let ttl = Duration::from_millis(lease.ttl_ms.max(300));
                        let lease = RedisLease::new(&lease.url, &lease.prefix, &name, ttl)
                            .map_err(module_error("the mailbox lease"))?;
                        source.with_lease(Arc::new(lease))
                    }
                    None => source,
                };
                registry.add_worker(WorkerSpec::single("mail-source", Arc::new(source)))?;
                mailbox
            }
            SourceConfig::NotBuilt(missing) => {
                return Err(missing.error().within("source").within(MODULE).into());
            }
        };

        let handler = MailTaskHandler::new(
            backend,
            Arc::new(OrderMailHandler::new(rules, store)),
            in_flight,
            max_attempts,
        );
        registry.add_metrics_source(handler.outcomes())?;
        QueueWorkerPool::new("order-handlers", queue, Arc::new(handler))
            .concurrency(config.workers)
            .options(QueueWorkerOptions {
                retry_backoff: Backoff::new(
                    Duration::from_millis(config.retry.initial_ms),
                    Duration::from_millis(config.retry.max_ms.max(config.retry.initial_ms)),
                )
                .with_jitter(config.retry.jitter),
                task_timeout: Some(Duration::from_millis(config.handler_timeout_ms)),
            })
            .register(registry)?;
        Ok(())
    }
}
