//! Dead letters in Redis: corrupt entries are listed with their reason and raw text, replay
//! skips and keeps them, and the dead-letter stream is bounded so a poison flood cannot fill
//! Redis.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on broken setup

use std::time::Duration;

use plba_contracts::{Task, TaskQueue};
use plba_redis::{CORRUPT_ENTRY, DEAD_LETTER_ID, RedisQueue, RedisQueueOptions, ReplayReport};
use plba_testkit::servers::RedisServer;
use plba_testkit::wait::within;

mod support;

use support::quick_options;

const DEADLINE: Duration = Duration::from_secs(30);

/// Writes `fields` straight into the queue's stream, as a broken or foreign producer would.
async fn inject(url: &str, queue: &str, fields: &[(&str, &[u8])]) {
    let client = redis::Client::open(url).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let mut cmd = redis::cmd("XADD");
    cmd.arg(format!("plba:{{{queue}}}:stream")).arg("*");
    for (name, value) in fields {
        cmd.arg(*name).arg(*value);
    }
    cmd.query_async::<String>(&mut conn).await.unwrap();
}

/// Consumes the one good task behind the corrupt entries (which `consume` moves aside on
/// its way) and acks it.
async fn consume_good(queue: &RedisQueue, payload: &[u8]) {
    let delivery = within(DEADLINE, "the good task", queue.consume())
        .await
        .unwrap();
    assert_eq!(delivery.task().payload.as_ref(), payload);
    queue.ack(delivery).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_entry_is_listed_with_its_reason_and_raw_text() {
    let redis = RedisServer::start().expect("redis-server is needed");
    let queue = RedisQueue::connect("corrupt", quick_options(&redis.url()))
        .await
        .unwrap();
    inject(&redis.url(), "corrupt", &[("task", b"{not a task")]).await;
    queue.publish(Task::new("job", "good")).await.unwrap();
    consume_good(&queue, b"good").await;

    let stats = queue.stats().await.unwrap();
    let letters = queue.dead_letters(10).await.unwrap();
    assert_eq!(stats.dead, 1, "{stats:?}");
    assert_eq!(letters.len(), 1, "counted as dead, so listed: {letters:?}");
    let letter = &letters[0];
    assert!(
        letter.reason.starts_with("corrupt entry: "),
        "{}",
        letter.reason
    );
    assert_eq!(letter.task.payload.as_ref(), b"{not a task", "the raw text");
    assert_eq!(letter.task.name, CORRUPT_ENTRY);
    assert!(letter.task.metadata.get(DEAD_LETTER_ID).is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_moves_tasks_and_keeps_corrupt_entries() {
    let redis = RedisServer::start().expect("redis-server is needed");
    let queue = RedisQueue::connect("replayed", quick_options(&redis.url()))
        .await
        .unwrap();
    inject(
        &redis.url(),
        "replayed",
        &[("task", b"\xff\xfe binary junk")],
    )
    .await;
    queue.publish(Task::new("job", "doomed")).await.unwrap();
    let doomed = within(DEADLINE, "the doomed task", queue.consume())
        .await
        .unwrap();
    assert_eq!(doomed.task().payload.as_ref(), b"doomed");
    queue.dead_letter(doomed, "handler gave up").await.unwrap();
    assert_eq!(queue.stats().await.unwrap().dead, 2);

    let replayed = queue.replay_dead_letters().await.unwrap();
    assert_eq!(
        replayed,
        ReplayReport {
            replayed: 1,
            kept_corrupt: 1
        }
    );
    let again = within(DEADLINE, "the replayed task", queue.consume())
        .await
        .unwrap();
    assert_eq!(again.task().payload.as_ref(), b"doomed");
    assert_eq!(again.task().attempt, 1, "a fresh attempt count");
    queue.ack(again).await.unwrap();

    let letters = queue.dead_letters(10).await.unwrap();
    assert_eq!(letters.len(), 1, "the corrupt entry stays: {letters:?}");
    assert_eq!(letters[0].task.payload.as_ref(), b"\xff\xfe binary junk");
    assert_eq!(queue.stats().await.unwrap().dead, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_flood_cannot_fill_redis() {
    const FLOOD: usize = 600;
    const CAPACITY: u64 = 10;
    let redis = RedisServer::start().expect("redis-server is needed");
    let options = RedisQueueOptions {
        dead_letter_capacity: usize::try_from(CAPACITY).unwrap(),
        ..quick_options(&redis.url())
    };
    let queue = RedisQueue::connect("flooded", options).await.unwrap();
    for i in 0..FLOOD {
        inject(
            &redis.url(),
            "flooded",
            &[("task", format!("poison {i}").as_bytes())],
        )
        .await;
    }
    queue.publish(Task::new("job", "good")).await.unwrap();
    consume_good(&queue, b"good").await;
    let dead = queue.stats().await.unwrap().dead;
    // `MAXLEN ~` trims whole stream nodes (100 entries each by default), so the bound is
    // approximate but far below the flood.
    assert!(
        (CAPACITY..=CAPACITY + 100).contains(&dead),
        "{dead} dead letters kept"
    );
    let newest = queue.dead_letters(1).await.unwrap();
    assert_eq!(
        newest[0].task.payload.as_ref(),
        format!("poison {}", FLOOD - 1).as_bytes(),
        "the oldest are dropped, the newest kept"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nacked_and_dead_lettered_tasks_are_bounded_too() {
    const CAPACITY: usize = 5;
    const TASKS: usize = 250;
    let redis = RedisServer::start().expect("redis-server is needed");
    let options = RedisQueueOptions {
        dead_letter_capacity: CAPACITY,
        max_attempts: 1,
        ..quick_options(&redis.url())
    };
    let queue = RedisQueue::connect("bounded", options).await.unwrap();
    for i in 0..TASKS {
        queue
            .publish(Task::new("job", i.to_string()))
            .await
            .unwrap();
        let delivery = within(DEADLINE, "a task", queue.consume()).await.unwrap();
        // Every other one through each path: attempts exhausted, and at once.
        if i % 2 == 0 {
            queue.nack(delivery, None, "boom").await.unwrap();
        } else {
            queue.dead_letter(delivery, "permanent").await.unwrap();
        }
    }
    let dead = queue.stats().await.unwrap().dead;
    assert!(dead <= (CAPACITY + 100) as u64, "{dead} dead letters kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_capacity_of_zero_is_refused_at_connect() {
    let redis = RedisServer::start().expect("redis-server is needed");
    let options = RedisQueueOptions {
        dead_letter_capacity: 0,
        ..quick_options(&redis.url())
    };
    let error = RedisQueue::connect("zero", options).await.unwrap_err();
    let chain = plba_util::error_chain(&error);
    assert!(chain.contains("dead_letter_capacity"), "{chain}");
}
