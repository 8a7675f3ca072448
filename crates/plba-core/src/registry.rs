//! The `Registry` a module sees while it registers: everything is collected first and
//! committed only when the whole module registered without error.

use std::sync::Arc;

use plba_contracts::{
    ConfigProvider, ConfigSubscriber, HealthContributor, HealthOptions, MetricsSource, Registry,
    RegistryError, Schedule, TaskQueue, TaskTracer, Timetable, ViewRef, WorkerSpec,
};

use crate::scheduler::{ScheduleRunner, ScheduleState};

/// The prefix of the worker pools that run schedules.
pub(crate) const SCHEDULE_WORKER_PREFIX: &str = "schedule:";

/// The prefix of the health contributors the runtime registers for worker pools.
pub(crate) const WORKER_HEALTH_PREFIX: &str = "worker:";

/// What one module declared, not yet committed to the runtime.
#[derive(Default)]
pub(crate) struct Pending {
    pub(crate) workers: Vec<WorkerSpec>,
    pub(crate) queues: Vec<Arc<dyn TaskQueue>>,
    pub(crate) health: Vec<(String, Arc<dyn HealthContributor>, HealthOptions)>,
    pub(crate) metrics: Vec<Arc<dyn MetricsSource>>,
    pub(crate) views: Vec<ViewRef>,
    pub(crate) schedules: Vec<Arc<ScheduleState>>,
    pub(crate) config_subscribers: Vec<Arc<dyn ConfigSubscriber>>,
}

/// What the runtime already holds (names, and the queues themselves), to refuse duplicates
/// across modules.
pub(crate) struct Taken {
    pub(crate) views: Vec<String>,
    pub(crate) workers: Vec<String>,
    pub(crate) queues: Vec<Arc<dyn TaskQueue>>,
    pub(crate) health: Vec<String>,
}

pub(crate) struct ModuleRegistry<'a> {
    pub(crate) module: &'a str,
    pub(crate) config: &'a dyn ConfigProvider,
    pub(crate) tracer: Arc<dyn TaskTracer>,
    pub(crate) taken: Taken,
    pub(crate) pending: Pending,
}

fn duplicate(kind: &'static str, name: &str) -> RegistryError {
    RegistryError::Duplicate {
        kind,
        name: name.to_owned(),
    }
}

impl Registry for ModuleRegistry<'_> {
    fn module_name(&self) -> &str {
        self.module
    }

    fn config(&self) -> &dyn ConfigProvider {
        self.config
    }

    fn tracer(&self) -> Arc<dyn TaskTracer> {
        Arc::clone(&self.tracer)
    }

    fn add_worker(&mut self, spec: WorkerSpec) -> Result<(), RegistryError> {
        let name = spec.name();
        if name.is_empty() || spec.copies() == 0 {
            return Err(RegistryError::Invalid {
                kind: "worker",
                name: name.to_owned(),
                reason: "a worker pool needs a name and at least one copy".to_owned(),
            });
        }
        if self.taken.workers.iter().any(|n| n == name)
            || self.pending.workers.iter().any(|w| w.name() == name)
        {
            return Err(duplicate("worker", name));
        }
        self.pending.workers.push(spec);
        Ok(())
    }

    fn add_schedule(&mut self, schedule: Schedule) -> Result<(), RegistryError> {
        let name = schedule.name().to_owned();
        let invalid = |reason: String| RegistryError::Invalid {
            kind: "schedule",
            name: name.clone(),
            reason,
        };
        if name.is_empty() {
            return Err(invalid("a schedule needs a name".to_owned()));
        }
        let timetable = Timetable::parse(schedule.cadence()).map_err(invalid)?;
        if schedule.lease().is_some() && schedule.store().is_none() {
            // A new lease holder would not know what the last one ran, and run it again.
            return Err(invalid(
                "a schedule with a lease needs a shared store (`with_store`) to record what its holders ran".to_owned(),
            ));
        }
        let runner = ScheduleRunner::new(schedule, timetable);
        let state = runner.state();
        // A schedule's job failing is reported in its status; it does not make the whole
        // runtime unready.
        self.add_worker(
            WorkerSpec::single(format!("{SCHEDULE_WORKER_PREFIX}{name}"), Arc::new(runner))
                .with_critical(false),
        )
        .map_err(|error| match error {
            RegistryError::Duplicate { .. } => duplicate("schedule", &name),
            other => other,
        })?;
        self.pending.schedules.push(state);
        Ok(())
    }

    fn add_queue(&mut self, queue: Arc<dyn TaskQueue>) -> Result<(), RegistryError> {
        // The same queue again (a module's own `add_queue`, then its pool's `register`) is
        // no error; another queue of the same name is.
        let same =
            |other: &Arc<dyn TaskQueue>| std::ptr::addr_eq(Arc::as_ptr(other), Arc::as_ptr(&queue));
        let name = queue.name();
        let known = self.taken.queues.iter().chain(&self.pending.queues);
        for other in known {
            if other.name() == name {
                return if same(other) {
                    Ok(())
                } else {
                    Err(duplicate("queue", name))
                };
            }
        }
        self.pending.queues.push(queue);
        Ok(())
    }

    fn add_health_contributor(
        &mut self,
        name: &str,
        contributor: Arc<dyn HealthContributor>,
        options: HealthOptions,
    ) -> Result<(), RegistryError> {
        if name.starts_with(WORKER_HEALTH_PREFIX) {
            return Err(RegistryError::Invalid {
                kind: "health contributor",
                name: name.to_owned(),
                reason: format!(
                    "names starting with `{WORKER_HEALTH_PREFIX}` are the runtime's own checks of worker pools"
                ),
            });
        }
        if self.taken.health.iter().any(|n| n == name)
            || self.pending.health.iter().any(|(n, _, _)| n == name)
        {
            return Err(duplicate("health contributor", name));
        }
        self.pending
            .health
            .push((name.to_owned(), contributor, options));
        Ok(())
    }

    fn add_metrics_source(&mut self, source: Arc<dyn MetricsSource>) -> Result<(), RegistryError> {
        self.pending.metrics.push(source);
        Ok(())
    }

    fn add_view(&mut self, view: ViewRef) -> Result<(), RegistryError> {
        let name = view.name();
        let valid = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !valid {
            return Err(RegistryError::Invalid {
                kind: "view",
                name: name.to_owned(),
                reason: "a view's name goes in URLs: letters, digits, `-` and `_` only".to_owned(),
            });
        }
        if self.taken.views.iter().any(|n| n == name)
            || self.pending.views.iter().any(|v| v.name() == name)
        {
            return Err(duplicate("view", name));
        }
        self.pending.views.push(view);
        Ok(())
    }

    fn add_config_subscriber(
        &mut self,
        subscriber: Arc<dyn ConfigSubscriber>,
    ) -> Result<(), RegistryError> {
        self.pending.config_subscribers.push(subscriber);
        Ok(())
    }
}
