//! Dead letters: the tasks a queue gave up on, listed, replayed or purged by an operator.

use std::sync::Arc;

use plba_contracts::{DeadLetter, DeadLetterSelection, QueueError, TaskQueue};
use serde_json::{Value, json};

use super::ControlPlaneService;
use crate::api_error::ApiError;
use crate::reply::Reply;

impl ControlPlaneService {
    /// `GET /queues/{queue}/dead-letters`: the newest, at most `limit`.
    pub(super) async fn dead_letters(&self, queue: &str, limit: usize) -> Result<Reply, ApiError> {
        let queue = self.queue(queue)?;
        let letters = queue
            .dead_letters(limit)
            .await
            .map_err(|error| queue_error(&error))?;
        Ok(Reply::ok(json!({
            "queue": queue.name(),
            "dead_letters": letters.iter().map(dead_letter_json).collect::<Vec<_>>(),
        })))
    }

    /// `POST /queues/{queue}/dead-letters/replay` (`replay`) or `…/purge`: one task's dead
    /// letters, or all of them.
    pub(super) async fn settle_dead(
        &self,
        queue: &str,
        task: Option<&str>,
        replay: bool,
    ) -> Result<Reply, ApiError> {
        let queue = self.queue(queue)?;
        let which = match task {
            None => DeadLetterSelection::All,
            Some(id) => DeadLetterSelection::Task(id.parse().map_err(
                |error: plba_contracts::ParseTaskIdError| {
                    ApiError::BadRequest(format!("{id:?} is not a task id: {error}"))
                },
            )?),
        };
        let report = if replay {
            queue.replay_dead(&which).await
        } else {
            queue.purge_dead(&which).await
        }
        .map_err(|error| queue_error(&error))?;
        if let Some(task) = task
            && report.done == 0
        {
            return Err(ApiError::NotFound(format!(
                "no dead letter of task {task} in queue {:?}",
                queue.name()
            )));
        }
        Ok(Reply::ok(
            json!({ "queue": queue.name(), if replay { "replayed" } else { "purged" }: report.done, "kept": report.kept, "duplicates": report.duplicates }),
        ))
    }

    /// The queue an operator names, or the 404 that says which exist.
    fn queue(&self, name: &str) -> Result<Arc<dyn TaskQueue>, ApiError> {
        self.runtime.queue(name).ok_or_else(|| {
            let known: Vec<String> = self.runtime.queue_names();
            ApiError::NotFound(format!("no queue {name:?} (queues: {})", known.join(", ")))
        })
    }
}

/// A dead letter as the API shows it: the task (payload as text when it is UTF-8), why it
/// was given up and when.
fn dead_letter_json(letter: &DeadLetter) -> Value {
    let task = &letter.task;
    let payload = std::str::from_utf8(&task.payload).ok();
    json!({
        "task_id": task.id.to_string(),
        "name": task.name,
        "attempts": task.attempt,
        "reason": letter.reason,
        "dead_at": letter
            .dead_at
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64()),
        "payload": payload,
        "payload_bytes": task.payload.len(),
        "metadata": task.metadata,
    })
}

/// A queue's failure as an answer: unavailable when retrying may help, refused otherwise.
fn queue_error(error: &QueueError) -> ApiError {
    let chain = plba_util::error_chain(error);
    if error.is_transient() {
        ApiError::QueueUnavailable(chain)
    } else {
        ApiError::QueueRefused(chain)
    }
}
