//! The completion wrapper: fetch, let the domain decide, then complete the message.

use std::sync::Arc;

use plba_contracts::{Task, TaskError, TaskHandler, async_trait};

use crate::backend::{MailBackend, MailError, MailHandler};
use crate::in_flight::InFlight;
use crate::reference::MailRef;

/// A `TaskHandler` for mail tasks: the domain's [`MailHandler`] never sees the backend, and
/// the backend completes a message only after the domain's outcome is known.
///
/// `max_attempts` is the queue's attempt limit: a transient failure on the last attempt
/// releases the message from [`InFlight`] (it stays unseen), so the source publishes it again
/// on a later scan instead of forgetting it.
pub struct MailTaskHandler<B: ?Sized, H: ?Sized> {
    backend: Arc<B>,
    handler: Arc<H>,
    in_flight: Arc<InFlight>,
    max_attempts: u32,
}

impl<B: MailBackend + ?Sized, H: MailHandler + ?Sized> MailTaskHandler<B, H> {
    /// A wrapper completing messages of `backend` after `handler` decided.
    pub fn new(
        backend: Arc<B>,
        handler: Arc<H>,
        in_flight: Arc<InFlight>,
        max_attempts: u32,
    ) -> Self {
        Self {
            backend,
            handler,
            in_flight,
            max_attempts,
        }
    }

    async fn complete(&self, reference: &MailRef, task: &Task) -> Result<(), TaskError> {
        let mail = match self.backend.fetch(reference).await {
            Ok(mail) => mail,
            Err(MailError::Gone { .. }) => {
                // Completed by an earlier delivery that crashed before its ack, or removed by
                // someone else: nothing is left to do.
                tracing::info!(mailbox = %reference.mailbox, key = %reference.key, "message already gone; nothing to do");
                return Ok(());
            }
            Err(error @ MailError::TooLarge { .. }) => {
                let reason = error.to_string();
                self.reject(reference, &reason).await?;
                return Err(TaskError::permanent(reason));
            }
            Err(error) => {
                return Err(TaskError::transient("cannot fetch the message").with_source(error));
            }
        };
        match self.handler.handle_mail(&mail).await {
            Ok(()) => self.backend.mark_seen(reference).await.map_err(|e| {
                TaskError::transient("message handled but not marked seen").with_source(e)
            }),
            Err(error) if !error.is_transient() => {
                self.reject(reference, error.message()).await?;
                Err(error)
            }
            Err(error) => {
                tracing::warn!(mailbox = %reference.mailbox, key = %reference.key, attempt = task.attempt, %error, "message left unseen for a retry");
                Err(error)
            }
        }
    }

    async fn reject(&self, reference: &MailRef, reason: &str) -> Result<(), TaskError> {
        tracing::warn!(mailbox = %reference.mailbox, key = %reference.key, reason, "message rejected");
        self.backend
            .mark_rejected(reference, reason)
            .await
            .map_err(|e| TaskError::transient("message rejected but not marked").with_source(e))
    }
}

#[async_trait]
impl<B: MailBackend + ?Sized, H: MailHandler + ?Sized> TaskHandler for MailTaskHandler<B, H> {
    async fn handle(&self, task: &Task) -> Result<(), TaskError> {
        let reference = MailRef::from_task(task).map_err(|e| {
            TaskError::permanent("the task does not reference a message").with_source(e)
        })?;
        let outcome = self.complete(&reference, task).await;
        let finished = match &outcome {
            Ok(()) => true,
            Err(error) => !error.is_transient() || task.attempt >= self.max_attempts,
        };
        if finished {
            self.in_flight.end(&reference.identity());
        }
        outcome
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use bytes::Bytes;

    use super::*;
    use crate::backend::RawMail;

    #[derive(Default)]
    struct Recorder {
        calls: Mutex<Vec<String>>,
        gone: bool,
    }

    #[async_trait]
    impl MailBackend for Recorder {
        async fn fetch(&self, reference: &MailRef) -> Result<RawMail, MailError> {
            if self.gone {
                return Err(MailError::Gone {
                    mailbox: reference.mailbox.clone(),
                    key: reference.key.clone(),
                });
            }
            Ok(RawMail {
                reference: reference.clone(),
                bytes: Bytes::from_static(b"Subject: x\r\n\r\nbody"),
                received_at: None,
            })
        }
        async fn mark_seen(&self, reference: &MailRef) -> Result<(), MailError> {
            self.calls
                .lock()
                .unwrap()
                .push(format!("seen {}", reference.key));
            Ok(())
        }
        async fn mark_rejected(&self, reference: &MailRef, reason: &str) -> Result<(), MailError> {
            self.calls
                .lock()
                .unwrap()
                .push(format!("rejected {} {reason}", reference.key));
            Ok(())
        }
    }

    struct Outcome(fn() -> Result<(), TaskError>);

    #[async_trait]
    impl MailHandler for Outcome {
        async fn handle_mail(&self, _mail: &RawMail) -> Result<(), TaskError> {
            (self.0)()
        }
    }

    async fn run(
        backend: Recorder,
        outcome: fn() -> Result<(), TaskError>,
        attempt: u32,
    ) -> (Result<(), TaskError>, Vec<String>, bool) {
        let backend = Arc::new(backend);
        let in_flight = Arc::new(InFlight::new());
        let reference = MailRef::new("box", "k1");
        assert!(in_flight.begin(&reference.identity()));
        let wrapper = MailTaskHandler::new(
            Arc::clone(&backend),
            Arc::new(Outcome(outcome)),
            Arc::clone(&in_flight),
            3,
        );
        let mut task = reference.to_task().unwrap();
        task.attempt = attempt;
        let result = wrapper.handle(&task).await;
        let calls = backend.calls.lock().unwrap().clone();
        (result, calls, in_flight.contains(&reference.identity()))
    }

    #[tokio::test]
    async fn success_marks_seen_and_leaves_flight() {
        let (result, calls, still) = run(Recorder::default(), || Ok(()), 1).await;
        assert!(result.is_ok());
        assert_eq!(calls, ["seen k1"]);
        assert!(!still);
    }

    #[tokio::test]
    async fn permanent_failure_marks_rejected_with_the_reason() {
        let (result, calls, still) = run(
            Recorder::default(),
            || Err(TaskError::permanent("unknown sender")),
            1,
        )
        .await;
        assert!(!result.unwrap_err().is_transient());
        assert_eq!(calls, ["rejected k1 unknown sender"]);
        assert!(!still);
    }

    #[tokio::test]
    async fn transient_failure_leaves_the_message_alone_until_the_last_attempt() {
        let (result, calls, still) = run(
            Recorder::default(),
            || Err(TaskError::transient("db down")),
            1,
        )
        .await;
        assert!(result.unwrap_err().is_transient());
        assert!(calls.is_empty(), "nothing completed");
        assert!(still, "still in flight: the queue will retry");
        let (_, calls, still) = run(
            Recorder::default(),
            || Err(TaskError::transient("db down")),
            3,
        )
        .await;
        assert!(calls.is_empty());
        assert!(
            !still,
            "released after the last attempt so a later scan can publish it again"
        );
    }

    #[tokio::test]
    async fn a_gone_message_is_done() {
        let backend = Recorder {
            gone: true,
            ..Recorder::default()
        };
        let (result, calls, still) = run(backend, || panic!("the domain is not called"), 1).await;
        assert!(result.is_ok());
        assert!(calls.is_empty());
        assert!(!still);
    }

    #[tokio::test]
    async fn a_task_that_is_not_a_mail_reference_is_permanent() {
        let wrapper = MailTaskHandler::new(
            Arc::new(Recorder::default()),
            Arc::new(Outcome(|| Ok(()))),
            Arc::new(InFlight::new()),
            3,
        );
        let err = wrapper
            .handle(&Task::new("mail.received", "not json"))
            .await
            .unwrap_err();
        assert!(!err.is_transient());
    }
}
