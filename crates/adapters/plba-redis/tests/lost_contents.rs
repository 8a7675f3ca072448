//! Redis loses the queue's contents (`FLUSHALL`, a restart without persistence) or goes
//! away: the queue recreates its stream and consumer group and carries on without a restart,
//! tells whoever listens that tasks were lost, reports unhealthy while no task can be
//! consumed, and its health and stats answer at once whatever Redis does.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on broken setup

use plba_util::Unpoisoned;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use plba_contracts::{Delivery, HealthContributor, HealthState, Task, TaskQueue};
use plba_redis::RedisQueue;
use plba_testkit::servers::RedisServer;
use plba_testkit::wait::{eventually, eventually_async, within};

mod support;

use support::quick_options;

const DEADLINE: Duration = Duration::from_secs(30);

/// What a probe may take at most: the probes must answer well inside their own timeouts.
const PROBE: Duration = Duration::from_secs(1);

/// Consumes until a delivery comes (a failed or slow attempt is tried again).
async fn next_delivery(queue: &dyn TaskQueue, what: &str) -> Delivery {
    let got = Mutex::new(None);
    eventually_async(DEADLINE, what, || async {
        if let Ok(Ok(delivery)) =
            tokio::time::timeout(Duration::from_secs(2), queue.consume()).await
        {
            *got.lock_or_recover() = Some(delivery);
            return true;
        }
        false
    })
    .await;
    got.into_inner().unwrap().unwrap()
}

async fn state(health: &dyn HealthContributor) -> HealthState {
    within(PROBE, "a health check", health.check())
        .await
        .state()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumers_carry_on_after_a_flushall() {
    let redis = RedisServer::start().expect("redis-server is needed");
    let queue = RedisQueue::connect("flushed", quick_options(&redis.url()))
        .await
        .unwrap();
    queue.publish(Task::new("job", "before")).await.unwrap();
    let first = next_delivery(&queue, "the first task").await;
    queue.ack(first).await.unwrap();

    redis.flushall();
    queue.publish(Task::new("job", "after")).await.unwrap();
    let after = next_delivery(&queue, "a task published after FLUSHALL").await;
    assert_eq!(after.task().payload.as_ref(), b"after");
    queue.ack(after).await.unwrap();
    let health = queue.health_contributor();
    eventually_async(DEADLINE, "health ok after recovery", || async {
        state(health.as_ref()).await == HealthState::Ok
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_contents_are_announced_once_per_loss() {
    let redis = RedisServer::start().expect("redis-server is needed");
    let queue = RedisQueue::connect("announced", quick_options(&redis.url()))
        .await
        .unwrap();
    // A second process on the same queue: it must hear of the loss even when the first one
    // recreates the group before it looks.
    let other = RedisQueue::connect("announced", quick_options(&redis.url()))
        .await
        .unwrap();
    let losses = Arc::new(AtomicUsize::new(0));
    let other_losses = Arc::new(AtomicUsize::new(0));
    queue.on_contents_lost({
        let losses = Arc::clone(&losses);
        move || {
            losses.fetch_add(1, Ordering::SeqCst);
        }
    });
    other.on_contents_lost({
        let losses = Arc::clone(&other_losses);
        move || {
            losses.fetch_add(1, Ordering::SeqCst);
        }
    });
    for i in 0..5 {
        queue
            .publish(Task::new("job", i.to_string()))
            .await
            .unwrap();
    }
    redis.flushall();
    eventually(DEADLINE, "both processes told of the loss", || {
        losses.load(Ordering::SeqCst) == 1 && other_losses.load(Ordering::SeqCst) == 1
    })
    .await;
    queue.publish(Task::new("job", "fresh")).await.unwrap();
    let fresh = next_delivery(&queue, "a task after the loss").await;
    assert_eq!(fresh.task().payload.as_ref(), b"fresh");
    queue.ack(fresh).await.unwrap();
    assert_eq!(
        losses.load(Ordering::SeqCst),
        1,
        "one loss, one announcement"
    );
    assert_eq!(other_losses.load(Ordering::SeqCst), 1);
    assert_eq!((queue.contents_lost(), other.contents_lost()), (1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_is_unhealthy_and_probes_answer_at_once() {
    let mut redis = RedisServer::start_persistent().expect("redis-server is needed");
    let queue = RedisQueue::connect("outage", quick_options(&redis.url()))
        .await
        .unwrap();
    let losses = Arc::new(AtomicUsize::new(0));
    queue.on_contents_lost({
        let losses = Arc::clone(&losses);
        move || {
            losses.fetch_add(1, Ordering::SeqCst);
        }
    });
    let health = queue.health_contributor();
    assert_eq!(state(health.as_ref()).await, HealthState::Ok);

    redis.kill();
    eventually_async(DEADLINE, "unhealthy while Redis is down", || async {
        state(health.as_ref()).await == HealthState::Unhealthy
    })
    .await;
    for _ in 0..5 {
        assert_eq!(
            state(health.as_ref()).await,
            HealthState::Unhealthy,
            "not ready for as long as nothing can be consumed"
        );
        let stats = within(PROBE, "stats while Redis is down", queue.stats()).await;
        assert!(stats.is_err(), "{stats:?}");
    }

    // Back, but empty: the group is recreated, the loss announced, work goes on.
    redis.restart_empty();
    eventually_async(DEADLINE, "healthy again", || async {
        state(health.as_ref()).await == HealthState::Ok
    })
    .await;
    eventually(DEADLINE, "the loss announced", || {
        losses.load(Ordering::SeqCst) == 1
    })
    .await;
    queue.publish(Task::new("job", "after")).await.unwrap();
    let after = next_delivery(&queue, "a task after the restart").await;
    queue.ack(after).await.unwrap();
    let stats = within(PROBE, "stats after recovery", queue.stats())
        .await
        .unwrap();
    assert_eq!((stats.depth, stats.in_flight), (0, 0), "{stats:?}");
}
