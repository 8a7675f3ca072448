//! The Redis schedule store runs the shared `ScheduleStore` conformance suite against a
//! real redis-server, and answers an error, not a panic, when Redis is unreachable.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on broken setup

use std::sync::Arc;
use std::time::SystemTime;

use plba_contracts::ScheduleStore;
use plba_redis::RedisScheduleStore;
use plba_testkit::schedule::run_all;
use plba_testkit::servers::{RedisServer, free_port};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_redis_store_conforms() {
    let server = RedisServer::start().expect("redis-server is needed for the Redis tests");
    // A store, with connections of its own, per check, as separate hosts would have.
    let store = || -> Arc<dyn ScheduleStore> {
        Arc::new(RedisScheduleStore::new(&server.url(), "plba").unwrap())
    };
    run_all(store, "redis").await;
}

#[tokio::test]
async fn an_unreachable_redis_is_an_error_naming_the_store() {
    let url = format!("redis://127.0.0.1:{}/", free_port());
    let store = RedisScheduleStore::new(&url, "plba").unwrap();
    let error = store.claim("nightly", SystemTime::now()).await.unwrap_err();
    let text = plba_util::error_chain(&error);
    assert!(
        text.contains("schedule store") && text.contains("Redis"),
        "{text}"
    );
    assert!(RedisScheduleStore::new("not a url", "plba").is_err());
}
