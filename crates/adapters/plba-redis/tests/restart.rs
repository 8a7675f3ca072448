//! Redis restarted mid-run: consumers reconnect, health goes unhealthy (nothing can be
//! consumed) then ok, no task lost.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on broken setup

use std::sync::Arc;
use std::time::Duration;

use plba_contracts::{Backoff, HealthState, RestartPolicy, Task, TaskQueue};
use plba_core::{RuntimeManager, RuntimeOptions};
use plba_redis::{RedisQueue, RedisQueueOptions};
use plba_testkit::handlers::CountingHandler;
use plba_testkit::module::FnModule;
use plba_testkit::servers::RedisServer;
use plba_testkit::wait::{eventually, eventually_async};
use plba_workers::QueueWorkerPool;

mod support;

use support::quick_options;

const TASKS: usize = 2_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumers_reconnect_after_a_redis_restart_and_lose_nothing() {
    let mut redis = RedisServer::start_persistent().expect("redis-server is needed");
    let options = RedisQueueOptions {
        command_timeout_ms: 1_000,
        max_attempts: 1_000,
        ..quick_options(&redis.url())
    };
    let queue = Arc::new(RedisQueue::connect("restart", options).await.unwrap());
    for i in 0..TASKS {
        queue
            .publish(Task::new("job", i.to_string()))
            .await
            .unwrap();
    }
    let health = queue.health_contributor();
    let handler = Arc::new(CountingHandler::new());
    let spec = QueueWorkerPool::new("workers", queue.clone(), handler.clone())
        .concurrency(3)
        .into_spec()
        .with_restart_policy(RestartPolicy {
            backoff: Backoff::new(Duration::from_millis(20), Duration::from_millis(200)),
            max_restarts: 1_000,
            window: Duration::from_secs(60),
        });
    let runtime = RuntimeManager::new(RuntimeOptions::default());
    runtime
        .register(&FnModule::new("m", move |registry| {
            registry.add_health_contributor(
                "redis",
                health.clone(),
                plba_contracts::HealthOptions::critical(),
            )?;
            registry.add_worker(spec.clone())
        }))
        .await
        .unwrap();
    runtime.start().await.unwrap();
    eventually(Duration::from_secs(60), "some tasks handled", || {
        handler.distinct() >= TASKS / 4
    })
    .await;

    redis.kill();
    eventually_async(
        Duration::from_secs(30),
        "health unhealthy while Redis is down",
        || async {
            runtime
                .health()
                .await
                .contributors
                .iter()
                .any(|c| c.name == "redis" && c.state == HealthState::Unhealthy)
        },
    )
    .await;
    redis.restart();
    eventually_async(Duration::from_secs(60), "health ok again", || async {
        runtime
            .health()
            .await
            .contributors
            .iter()
            .any(|c| c.name == "redis" && c.state == HealthState::Ok)
    })
    .await;
    eventually_async(
        Duration::from_secs(120),
        "every task handled and settled",
        || async {
            let Ok(stats) = queue.stats().await else {
                return false;
            };
            handler.distinct() == TASKS
                && stats.depth == 0
                && stats.in_flight == 0
                && stats.delayed == 0
        },
    )
    .await;
    runtime.stop().await;
    assert_eq!(handler.distinct(), TASKS, "no task lost");
    assert_eq!(queue.stats().await.unwrap().dead, 0);
}

/// A task published for later outlives both the process that published it and a restart
/// of Redis: another queue instance delivers it when due, not before, and a keyed task's
/// key outlives the restart too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delayed_task_and_its_key_survive_a_restart_of_the_publisher_and_of_redis() {
    let mut redis = RedisServer::start_persistent().expect("redis-server is needed");
    let delay = Duration::from_secs(2);
    let published_at = std::time::Instant::now();
    let task = Task::new("reminder", "invoice 7")
        .run_after(delay)
        .with_idempotency_key("remind-7", Duration::from_secs(600));
    let id = task.id;
    {
        let publisher = RedisQueue::connect("later", quick_options(&redis.url()))
            .await
            .unwrap();
        assert_eq!(
            publisher.publish(task.clone()).await.unwrap(),
            plba_contracts::Published::Enqueued
        );
        // The publisher's process goes away.
    }
    redis.restart();
    let consumer = RedisQueue::connect("later", quick_options(&redis.url()))
        .await
        .unwrap();
    assert!(
        consumer.publish(task).await.unwrap().is_duplicate(),
        "the key outlived the restart"
    );
    let delivery = tokio::time::timeout(Duration::from_secs(30), consumer.consume())
        .await
        .expect("the delayed task is delivered")
        .unwrap();
    assert_eq!(delivery.task().id, id);
    assert!(
        published_at.elapsed() >= delay,
        "delivered after {:?}, before its time",
        published_at.elapsed()
    );
    consumer.ack(delivery).await.unwrap();
}
