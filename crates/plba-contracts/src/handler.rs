//! Handlers: where business logic meets a task.

use std::fmt;

use async_trait::async_trait;

use crate::task::Task;

/// Whether retrying a failed task can help.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskErrorKind {
    /// The cause may go away (a database briefly down, a timeout): retry with backoff.
    Transient,
    /// The task can never succeed (malformed input, unknown customer): do not retry; the queue
    /// moves it to its dead-letter place and the source records the failure.
    Permanent,
}

/// The failure of one task, classified for the retry decision.
///
/// ```
/// use plba_contracts::{TaskError, TaskErrorKind};
///
/// let err = TaskError::transient("database unavailable");
/// assert_eq!(err.kind(), TaskErrorKind::Transient);
/// assert_eq!(err.to_string(), "transient: database unavailable");
/// ```
#[derive(Debug)]
pub struct TaskError {
    kind: TaskErrorKind,
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl TaskError {
    /// A failure worth retrying.
    pub fn transient(message: impl Into<String>) -> Self {
        Self {
            kind: TaskErrorKind::Transient,
            message: message.into(),
            source: None,
        }
    }

    /// A failure that no retry can fix.
    pub fn permanent(message: impl Into<String>) -> Self {
        Self {
            kind: TaskErrorKind::Permanent,
            message: message.into(),
            source: None,
        }
    }

    /// Attaches the underlying error.
    #[must_use]
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// Transient or permanent.
    pub fn kind(&self) -> TaskErrorKind {
        self.kind
    }

    /// Whether a retry can help.
    pub fn is_transient(&self) -> bool {
        self.kind == TaskErrorKind::Transient
    }

    /// The human-readable reason, without the kind prefix.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            TaskErrorKind::Transient => "transient",
            TaskErrorKind::Permanent => "permanent",
        };
        // The cause is the source, not part of this message: `error_chain` prints the
        // whole line once (printing it here too would repeat it).
        write!(f, "{kind}: {}", self.message)
    }
}

impl std::error::Error for TaskError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// Handles one task at a time; holds the business logic.
///
/// # Protocol
///
/// - A worker (usually `plba_workers::QueueWorker`) calls [`handle`](Self::handle) once per
///   delivery, possibly from several tasks at once: implementations are shared (`&self`) and
///   must be safe to call concurrently.
/// - `Ok(())` means the work is done and durable: the worker acks the delivery, and a mail
///   source marks the message seen. Return only after side effects are committed.
/// - `Err` with [`TaskErrorKind::Transient`]: the delivery is retried later with backoff,
///   until the queue's attempt limit moves it to the dead-letter place.
/// - `Err` with [`TaskErrorKind::Permanent`]: the task is dead-lettered at once.
/// - A panic is caught by the worker and treated as a transient failure of that task: it is
///   counted, logged and retried; it never takes the process down.
/// - Delivery is at-least-once: the same task (same [`Task::id`]) can arrive again after a
///   crash or a lost ack, so handlers must be idempotent.
/// - The future may be dropped before completion when a stop is forced; the task is then
///   delivered again later.
///
/// ```
/// use plba_contracts::{async_trait, Task, TaskError, TaskHandler};
///
/// struct Greeter;
///
/// #[async_trait]
/// impl TaskHandler for Greeter {
///     async fn handle(&self, task: &Task) -> Result<(), TaskError> {
///         let name: String = task
///             .payload_json()
///             .map_err(|e| TaskError::permanent("payload is not a JSON string").with_source(e))?;
///         if name.is_empty() {
///             return Err(TaskError::permanent("empty name"));
///         }
///         Ok(())
///     }
/// }
/// ```
#[async_trait]
pub trait TaskHandler: Send + Sync + 'static {
    /// Handles `task`; see the trait docs for what each outcome means.
    async fn handle(&self, task: &Task) -> Result<(), TaskError>;
}

#[async_trait]
impl<H: TaskHandler + ?Sized> TaskHandler for std::sync::Arc<H> {
    async fn handle(&self, task: &Task) -> Result<(), TaskError> {
        (**self).handle(task).await
    }
}
