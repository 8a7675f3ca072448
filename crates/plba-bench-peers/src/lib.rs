//! What the peer benchmarks take as their baseline: raw Redis Streams loops written with the
//! `redis` crate the queue itself uses, batched or not, with 3 consumers in a group `g`.
//!
//! They do the least a Streams queue can do per task (`XADD`, `XREADGROUP`, `XACK`; no
//! `XDEL`, no counters, no stored task to decode), so a queue's ratio to them is the share of
//! Redis's own speed it keeps.

use std::sync::Arc;
use std::time::{Duration, Instant};

use plba_testkit::bench::Finish;
use redis::aio::MultiplexedConnection;
use redis::{RedisResult, Value};

/// Consumers every loop runs, as the benches' worker pools.
pub const CONSUMERS: usize = 3;

/// Entries one batched read takes, as the queue's default `prefetch`.
pub const BATCH: usize = 16;

/// `XADD`s one pipeline carries; the benches' producers keep as many publishes in flight.
pub const BURST: usize = 100;

/// The 100-byte payload of every benchmark task.
pub fn payload() -> Vec<u8> {
    vec![b'x'; 100]
}

/// A client, a command connection, and `stream` with the consumer group `g`.
async fn raw_stream(
    url: &str,
    stream: &str,
) -> RedisResult<(redis::Client, MultiplexedConnection)> {
    let client = redis::Client::open(url)?;
    let mut commands = client.get_multiplexed_async_connection().await?;
    // A group left from an earlier run answers BUSYGROUP, which is fine.
    let _: RedisResult<Value> = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(stream)
        .arg("g")
        .arg("0")
        .arg("MKSTREAM")
        .query_async(&mut commands)
        .await;
    Ok((client, commands))
}

/// A connection whose reads may block for a second.
async fn reader(client: &redis::Client) -> RedisResult<MultiplexedConnection> {
    let config =
        redis::AsyncConnectionConfig::new().set_response_timeout(Some(Duration::from_secs(10)));
    client
        .get_multiplexed_async_connection_with_config(&config)
        .await
}

/// `XREADGROUP` for consumer `consumer`, `count` entries, blocking up to a second when
/// `block`.
fn read(stream: &str, consumer: &str, count: usize, block: bool) -> redis::Cmd {
    let mut read = redis::cmd("XREADGROUP");
    read.arg("GROUP")
        .arg("g")
        .arg(consumer)
        .arg("COUNT")
        .arg(count);
    if block {
        read.arg("BLOCK").arg(1000);
    }
    read.arg("STREAMS").arg(stream).arg(">");
    read
}

/// Adds `total` entries to `stream`, `BURST` per pipeline.
async fn fill(commands: &mut MultiplexedConnection, stream: &str, total: u64) -> RedisResult<()> {
    let mut left = total;
    while left > 0 {
        let n = left.min(BURST as u64);
        let mut pipe = redis::pipe();
        for _ in 0..n {
            pipe.cmd("XADD")
                .arg(stream)
                .arg("*")
                .arg("payload")
                .arg(payload())
                .ignore();
        }
        pipe.query_async::<()>(commands).await?;
        left -= n;
    }
    Ok(())
}

/// Starts `CONSUMERS` consumers, each reading `count` entries at a time and acking each
/// read's entries with one `XACK`, counting them on `finish`. With `block` they wait for
/// entries; without, each ends at its first empty read.
fn consumers(
    client: &redis::Client,
    stream: &str,
    finish: &Arc<Finish>,
    count: usize,
    block: bool,
) {
    for consumer in 0..CONSUMERS {
        let name = format!("c{consumer}");
        spawn_consumer(client, stream, name, finish, count, block);
    }
}

/// One consumer named `name` in group `g`, as [`consumers`] describes.
fn spawn_consumer(
    client: &redis::Client,
    stream: &str,
    name: String,
    finish: &Arc<Finish>,
    count: usize,
    block: bool,
) {
    let client = client.clone();
    let finish = Arc::clone(finish);
    let stream = stream.to_owned();
    tokio::spawn(async move {
        let mut conn = reader(&client).await?;
        loop {
            let reply: Value = read(&stream, &name, count, block)
                .query_async(&mut conn)
                .await?;
            let ids = entry_ids(&reply);
            if ids.is_empty() {
                if block {
                    continue;
                }
                return RedisResult::Ok(());
            }
            let _: Value = redis::cmd("XACK")
                .arg(&stream)
                .arg("g")
                .arg(&ids)
                .query_async(&mut conn)
                .await?;
            for _ in &ids {
                finish.count();
            }
        }
    });
}

/// One `XADD` per task from one producer; consumers reading and acking one entry at a time.
pub async fn unbatched(url: &str, stream: &str, total: u64) -> RedisResult<Duration> {
    let (client, mut commands) = raw_stream(url, stream).await?;
    let finish = Finish::new(total);
    consumers(&client, stream, &finish, 1, true);
    let started = Instant::now();
    for _ in 0..total {
        let _: Value = redis::cmd("XADD")
            .arg(stream)
            .arg("*")
            .arg("payload")
            .arg(payload())
            .query_async(&mut commands)
            .await?;
    }
    finish.wait().await;
    Ok(started.elapsed())
}

/// One producer pipelining `XADD`s; consumers reading `BATCH` at a time, one `XACK` per
/// read; all running together.
pub async fn batched(url: &str, stream: &str, total: u64) -> RedisResult<Duration> {
    let (client, mut commands) = raw_stream(url, stream).await?;
    let finish = Finish::new(total);
    consumers(&client, stream, &finish, BATCH, true);
    let started = Instant::now();
    fill(&mut commands, stream, total).await?;
    finish.wait().await;
    Ok(started.elapsed())
}

/// Fills the stream first (untimed), then times the batched consumers draining it.
pub async fn drain(url: &str, stream: &str, total: u64) -> RedisResult<Duration> {
    let (client, mut commands) = raw_stream(url, stream).await?;
    fill(&mut commands, stream, total).await?;
    let finish = Finish::new(total);
    let started = Instant::now();
    consumers(&client, stream, &finish, BATCH, false);
    finish.wait().await;
    Ok(started.elapsed())
}

/// Fills `stream` (group `g`) with `total` entries, pipelined: the backlog the processes of
/// the shared-stream table drain.
pub async fn fill_shared(url: &str, stream: &str, total: u64) -> RedisResult<()> {
    let (_, mut commands) = raw_stream(url, stream).await?;
    fill(&mut commands, stream, total).await
}

/// Starts this process's `CONSUMERS` batched consumers on `stream`, named after the process
/// so that several processes share group `g`; they read (blocking) until the process ends.
pub async fn consume_shared(url: &str, stream: &str) -> RedisResult<()> {
    let (client, _) = raw_stream(url, stream).await?;
    let uncounted = Finish::new(u64::MAX);
    for consumer in 0..CONSUMERS {
        let name = format!("p{}-c{consumer}", std::process::id());
        spawn_consumer(&client, stream, name, &uncounted, BATCH, true);
    }
    Ok(())
}

/// Whether group `g` has read every one of `total` entries of `stream` and holds none
/// unacked (`XINFO GROUPS`).
pub async fn all_consumed(
    commands: &mut MultiplexedConnection,
    stream: &str,
    total: u64,
) -> RedisResult<bool> {
    let groups: Vec<std::collections::HashMap<String, Value>> = redis::cmd("XINFO")
        .arg("GROUPS")
        .arg(stream)
        .query_async(commands)
        .await?;
    let number =
        |group: &std::collections::HashMap<String, Value>, field: &str| match group.get(field) {
            Some(Value::Int(n)) => u64::try_from(*n).ok(),
            _ => None,
        };
    Ok(groups.iter().any(|group| {
        number(group, "entries-read").is_some_and(|read| read >= total)
            && number(group, "pending") == Some(0)
    }))
}

/// The CPU time Redis itself has used so far, user and system (`INFO cpu`): beside a
/// rate it says whether Redis, single-threaded, is the limit.
pub async fn redis_cpu(commands: &mut MultiplexedConnection) -> RedisResult<Duration> {
    let info: String = redis::cmd("INFO").arg("cpu").query_async(commands).await?;
    let seconds: f64 = info
        .lines()
        .filter_map(|line| {
            let (key, value) = line.trim().split_once(':')?;
            matches!(key, "used_cpu_sys" | "used_cpu_user")
                .then(|| value.parse::<f64>().ok())
                .flatten()
        })
        .sum();
    Ok(Duration::from_secs_f64(seconds.max(0.0)))
}

/// The ids of every entry in an `XREADGROUP` reply (RESP2).
fn entry_ids(reply: &Value) -> Vec<String> {
    let Value::Array(streams) = reply else {
        return Vec::new();
    };
    let Some(Value::Array(pair)) = streams.first() else {
        return Vec::new();
    };
    let Some(Value::Array(entries)) = pair.get(1) else {
        return Vec::new();
    };
    entries
        .iter()
        .filter_map(|entry| match entry {
            Value::Array(fields) => match fields.first() {
                Some(Value::BulkString(id)) => Some(String::from_utf8_lossy(id).into_owned()),
                _ => None,
            },
            _ => None,
        })
        .collect()
}
