//! A connection made on first use, for the helpers that share the queue's Redis (the
//! limiter, the schedule store): building one checks only the URL.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, RedisError};
use tokio::sync::OnceCell;

use crate::error::RedisQueueError;

/// A client and the connection it makes on first use. A failed first connection is tried
/// again by the next call.
pub(crate) struct LazyConnection {
    client: Client,
    timeout: Duration,
    connection: OnceCell<ConnectionManager>,
}

impl LazyConnection {
    /// Checks `url` (naming `what` when it does not parse); connects later, answering
    /// within `timeout`.
    pub(crate) fn new(url: &str, what: &str, timeout: Duration) -> Result<Self, RedisQueueError> {
        let client = Client::open(url).map_err(|e| RedisQueueError::url(what, e))?;
        Ok(Self {
            client,
            timeout,
            connection: OnceCell::new(),
        })
    }

    /// The connection, made now if need be. Its own reconnects are few: the callers retry
    /// on their own (with jitter), and a long reconnect loop would only hide an outage.
    pub(crate) async fn get(&self) -> Result<ConnectionManager, RedisError> {
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(self.timeout))
            .set_connection_timeout(Some(self.timeout))
            .set_number_of_retries(1);
        self.connection
            .get_or_try_init(|| ConnectionManager::new_with_config(self.client.clone(), config))
            .await
            .cloned()
    }
}
