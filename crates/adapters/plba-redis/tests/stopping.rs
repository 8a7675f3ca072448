//! A consumer that stops leaves nothing waiting for the visibility timeout: its read-ahead
//! goes back to the stream, where another process takes it at once, and the acks it queued
//! are written. And what waits is visible: the age of the oldest waiting task.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on broken setup

use std::time::Duration;

use plba_contracts::{Task, TaskQueue};
use plba_redis::{RedisQueue, RedisQueueOptions};
use plba_testkit::servers::RedisServer;

mod support;

use support::quick_options;

/// A visibility timeout far longer than the test: only a give-back can explain a prompt
/// redelivery. A long ack delay: only the stop can explain a prompt write.
fn patient(url: &str) -> RedisQueueOptions {
    RedisQueueOptions {
        visibility_timeout_ms: 600_000,
        ack_delay_ms: 1_000,
        prefetch: 16,
        ..quick_options(url)
    }
}

async fn pending(url: &str) -> u64 {
    let client = redis::Client::open(url).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let reply: (u64, redis::Value, redis::Value, redis::Value) = redis::cmd("XPENDING")
        .arg("plba:{stop}:stream")
        .arg("workers")
        .query_async(&mut conn)
        .await
        .unwrap();
    reply.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopping_consumer_gives_back_its_read_ahead_and_writes_its_acks() {
    let redis = RedisServer::start().expect("redis-server is needed");
    let url = redis.url();
    let first = RedisQueue::connect("stop", patient(&url)).await.unwrap();
    for n in 0..10 {
        first.publish(Task::new("t", format!("{n}"))).await.unwrap();
    }
    let delivery = first.consume().await.unwrap();
    let handled = delivery.task().id;
    first.ack(delivery).await.unwrap();
    assert_eq!(
        pending(&url).await,
        10,
        "one read took every task; the ack waits to be written"
    );

    first.stop_consuming().await.unwrap();
    assert_eq!(pending(&url).await, 0, "nothing left pending: {url}");

    let second = RedisQueue::connect("stop", patient(&url)).await.unwrap();
    let mut others = Vec::new();
    for _ in 0..9 {
        let delivery = tokio::time::timeout(Duration::from_secs(5), second.consume())
            .await
            .expect("a given-back task is delivered at once")
            .unwrap();
        assert_eq!(delivery.task().attempt, 1, "giving back charges no attempt");
        others.push(delivery.task().id);
        second.ack(delivery).await.unwrap();
    }
    assert!(
        !others.contains(&handled),
        "the acked task is not delivered again"
    );
    let stats = second.stats().await.unwrap();
    assert_eq!(stats.acked, 10, "{stats:?}");
    assert_eq!((stats.depth, stats.in_flight), (0, 0), "{stats:?}");
}

/// `stats` tells how long the oldest task not yet handed to any consumer has waited, and
/// nothing once every task was read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_tell_the_age_of_the_oldest_waiting_task() {
    let redis = RedisServer::start().expect("redis-server is needed");
    let queue = RedisQueue::connect("aging", patient(&redis.url()))
        .await
        .unwrap();
    assert_eq!(
        queue.stats().await.unwrap().oldest_waiting_ms,
        None,
        "empty"
    );
    for n in 0..2 {
        queue.publish(Task::new("t", format!("{n}"))).await.unwrap();
    }
    let waiting = queue.stats().await.unwrap();
    assert_eq!(waiting.depth, 2);
    assert!(
        waiting.oldest_waiting_ms.is_some_and(|ms| ms < 60_000),
        "{waiting:?}"
    );
    let first = queue.consume().await.unwrap();
    let second = queue.consume().await.unwrap();
    assert_eq!(
        queue.stats().await.unwrap().oldest_waiting_ms,
        None,
        "every task was read"
    );
    queue.ack(first).await.unwrap();
    queue.ack(second).await.unwrap();
}
