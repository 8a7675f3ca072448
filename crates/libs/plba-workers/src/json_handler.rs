//! A task handler from an async function of a typed payload: the JSON decoding, and what a
//! payload that does not decode means, written once.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;

use plba_contracts::{Task, TaskError, TaskHandler, async_trait};
use serde::de::DeserializeOwned;

/// A [`TaskHandler`] that decodes each task's payload as JSON into `T` and calls `f` with
/// it. A payload that does not decode is a permanent error (retrying cannot change it): the
/// task goes to the dead letters with the decoder's reason.
///
/// ```
/// use std::sync::Arc;
/// use plba_contracts::TaskError;
/// use plba_workers::{JsonHandler, QueueWorkerPool};
///
/// #[derive(serde::Deserialize)]
/// struct Reminder { invoice: u64, email: String }
///
/// let handler = JsonHandler::new(|reminder: Reminder| async move {
///     if reminder.email.is_empty() {
///         return Err(TaskError::permanent("no address"));
///     }
///     let _ = reminder.invoice;
///     Ok(())
/// });
/// # let queue = Arc::new(plba_queue_memory::MemoryQueue::named("reminders"));
/// let pool = QueueWorkerPool::new("senders", queue, Arc::new(handler)).concurrency(3);
/// ```
///
/// The function is called once per task and its future must own what it uses: to share
/// state, clone an `Arc` into each call (`move |r| { let sent = sent.clone(); async move {
/// … } }`).
pub struct JsonHandler<T, F> {
    f: F,
    payload: PhantomData<fn() -> T>,
}

impl<T, F, Fut> JsonHandler<T, F>
where
    T: DeserializeOwned + Send + 'static,
    F: Fn(T) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), TaskError>> + Send,
{
    /// Handles each task with `f` of its decoded payload.
    pub fn new(f: F) -> Self {
        Self {
            f,
            payload: PhantomData,
        }
    }
}

impl<T, F> fmt::Debug for JsonHandler<T, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JsonHandler")
            .field("payload", &std::any::type_name::<T>())
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl<T, F, Fut> TaskHandler for JsonHandler<T, F>
where
    T: DeserializeOwned + Send + 'static,
    F: Fn(T) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), TaskError>> + Send,
{
    async fn handle(&self, task: &Task) -> Result<(), TaskError> {
        let not_json = || {
            TaskError::permanent(format!(
                "the payload of task {:?} is not the JSON it should be",
                task.name
            ))
        };
        let mut decoder = serde_json::Deserializer::from_slice(&task.payload);
        let payload = serde_path_to_error::deserialize::<_, T>(&mut decoder)
            .map_err(|error| not_json().with_source(error))?;
        // Anything after the value (a second document, garbage) is as wrong as a bad value.
        decoder
            .end()
            .map_err(|error| not_json().with_source(error))?;
        (self.f)(payload).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    use plba_contracts::{Task, TaskErrorKind, TaskHandler};

    use super::JsonHandler;

    #[derive(serde::Deserialize)]
    struct Order {
        quantity: u64,
    }

    #[tokio::test]
    async fn a_payload_is_decoded_and_a_bad_one_is_a_permanent_error() {
        let total = Arc::new(AtomicU64::new(0));
        let seen = Arc::clone(&total);
        let handler = JsonHandler::new(move |order: Order| {
            let seen = Arc::clone(&seen);
            async move {
                seen.fetch_add(order.quantity, Ordering::Relaxed);
                Ok(())
            }
        });
        handler
            .handle(&Task::new("order", r#"{"quantity":3}"#))
            .await
            .unwrap();
        assert_eq!(total.load(Ordering::Relaxed), 3);
        let error = handler
            .handle(&Task::new("order", r#"{"quantity":"three"}"#))
            .await
            .unwrap_err();
        assert_eq!(error.kind(), TaskErrorKind::Permanent);
        let chain = plba_util::error_chain(&error);
        assert!(
            chain.contains("not the JSON it should be") && chain.contains("quantity"),
            "{chain}"
        );
    }
}
