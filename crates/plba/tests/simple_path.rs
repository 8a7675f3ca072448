//! The README's simple path at run time: a schedule publishes through the registry's
//! publisher with a stateful maker, a typed JSON handler takes each task, the pool
//! registers its own queue, and a payload that does not decode goes to the dead letters.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on broken setup

use std::sync::Mutex;

use plba::config::ConfigSource;
use plba::prelude::*;
use plba_util::Unpoisoned;

#[derive(serde::Deserialize)]
struct Greeting {
    name: String,
}

#[derive(Default)]
struct Greeter {
    greeted: Arc<Mutex<Vec<String>>>,
    queue: Mutex<Option<Arc<MemoryQueue>>>,
}

#[async_trait]
impl ApplicationModule for Greeter {
    fn name(&self) -> &str {
        "greeter"
    }

    async fn register(&self, registry: &mut dyn Registry) -> Result<(), RegistryError> {
        let queue = Arc::new(MemoryQueue::named("greetings"));
        *self.queue.lock_or_recover() = Some(queue.clone());
        let mut n = 0;
        let job = PublishJob::new(registry.publisher(queue.clone()), move |_| {
            n += 1;
            Task::new("greet", format!(r#"{{"name":"visitor {n}"}}"#))
        });
        registry.add_schedule(Schedule::every(
            "greet",
            Duration::from_millis(20),
            Arc::new(job),
        ))?;
        let greeted = Arc::clone(&self.greeted);
        let greet = JsonHandler::new(move |g: Greeting| {
            let greeted = Arc::clone(&greeted);
            async move {
                greeted.lock_or_recover().push(g.name);
                Ok(())
            }
        });
        QueueWorkerPool::new("greeters", queue, Arc::new(greet))
            .concurrency(3)
            .register(registry)?;
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_publisher_and_a_typed_handler_run_with_the_queue_registered_by_the_pool() {
    let greeter = Greeter::default();
    let options = plba::PlbaOptions {
        config: ConfigSource::new()
            .with_env_vars(Vec::<(String, String)>::new())
            .with_override("platform.control.enabled=false"),
        install_telemetry: false,
    };
    let application = plba::create_runtime(&greeter, options).await.unwrap();
    let runtime = application.runtime().clone();
    let running = tokio::spawn(async move { plba::run_runtime(&application).await });

    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while greeter.greeted.lock_or_recover().len() < 3 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no greetings handled"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let queue = greeter.queue.lock_or_recover().clone().unwrap();
    queue
        .publish(Task::new("greet", r#"{"nom":"wrong field"}"#))
        .await
        .unwrap();
    while queue.stats().await.unwrap().dead == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the bad payload was not dead-lettered"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let status = runtime.status().await;
    assert!(
        status.queues.iter().any(|q| q.name == "greetings"),
        "the pool registered its queue: {:?}",
        status.queues
    );
    runtime.request_shutdown();
    running.await.unwrap().unwrap();
    // Each occurrence made a task of its own: the maker's counter went on.
    let greeted = greeter.greeted.lock_or_recover().clone();
    for name in ["visitor 1", "visitor 2", "visitor 3"] {
        assert!(
            greeted.iter().any(|g| g == name),
            "{name} missing: {greeted:?}"
        );
    }
}
