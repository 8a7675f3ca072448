//! The completion wrapper: fetch, let the domain decide, then complete the message.

use plba_util::Unpoisoned;
use plba_util::printable;
use std::sync::{Arc, Mutex};

use plba_contracts::{
    MetricFamily, MetricKind, MetricValue, MetricsSource, Task, TaskError, TaskHandler, async_trait,
};

use crate::backend::{MailBackend, MailError, MailHandler, MailOutcome};
use crate::in_flight::InFlight;
use crate::reference::MailRef;

/// The trace id in a task's W3C `traceparent` (`00-<trace id>-<span id>-<flags>`), if any.
fn trace_id_of(task: &Task) -> Option<String> {
    let traceparent = task.metadata.get("traceparent")?;
    let trace = traceparent.split('-').nth(1)?;
    (trace.len() == 32 && trace.bytes().all(|b| b.is_ascii_hexdigit())).then(|| trace.to_owned())
}

/// The outcome label of a message over the size limit and of one already completed.
const REJECTED: &str = "rejected";
const GONE: &str = "already_done";

/// A `TaskHandler` for mail tasks: the domain's [`MailHandler`] never sees the backend, and
/// the backend completes a message only after the domain's outcome is known.
///
/// `max_attempts` is the queue's attempt limit: a transient failure on the last attempt
/// releases the message from [`InFlight`] (it stays unseen), so the source publishes it again
/// on a later scan instead of forgetting it.
///
/// It counts outcomes by label; register it (or an `Arc` of it) as a
/// [`MetricsSource`] to export them as `plba_mail_outcomes_total{outcome}`.
#[derive(Debug)]
pub struct MailTaskHandler<B: ?Sized, H: ?Sized> {
    backend: Arc<B>,
    handler: Arc<H>,
    in_flight: Arc<InFlight>,
    max_attempts: u32,
    outcomes: Arc<OutcomeCounts>,
}

/// Messages handled, by outcome label.
#[derive(Debug, Default)]
pub struct OutcomeCounts(Mutex<Vec<(&'static str, u64)>>);

impl OutcomeCounts {
    fn add(&self, label: &'static str) {
        let mut counts = self.0.lock_or_recover();
        match counts.iter_mut().find(|(l, _)| *l == label) {
            Some((_, n)) => *n += 1,
            None => counts.push((label, 1)),
        }
    }

    /// How many messages ended with outcome `label`.
    pub fn get(&self, label: &str) -> u64 {
        let counts = self.0.lock_or_recover();
        counts
            .iter()
            .find(|(l, _)| *l == label)
            .map_or(0, |(_, n)| *n)
    }
}

impl MetricsSource for OutcomeCounts {
    fn collect(&self) -> Vec<MetricFamily> {
        let counts = self.0.lock_or_recover();
        let mut family = MetricFamily::new(
            "plba_mail_outcomes_total",
            "Mails handled, by outcome (an order, a duplicate, a rejection, …)",
            MetricKind::Counter,
        );
        for (label, n) in counts.iter() {
            family = family.with_sample(&[("outcome", label)], MetricValue::Counter(*n));
        }
        vec![family]
    }
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
            outcomes: Arc::default(),
        }
    }

    /// The outcome counters, to register as a metrics source.
    pub fn outcomes(&self) -> Arc<OutcomeCounts> {
        Arc::clone(&self.outcomes)
    }

    async fn complete(&self, reference: &MailRef, task: &Task) -> Result<(), TaskError> {
        let mail = match self.backend.fetch(reference).await {
            Ok(mail) => mail,
            Err(MailError::Gone { .. }) => {
                // Completed by an earlier delivery that crashed before its ack, or removed by
                // someone else: nothing is left to do.
                self.outcomes.add(GONE);
                tracing::info!(mailbox = %reference.mailbox, key = %reference.key, outcome = GONE, "message already gone; nothing to do");
                return Ok(());
            }
            Err(error @ MailError::TooLarge { .. }) => {
                let reason = error.to_string();
                self.handler.record_unread(reference, &reason).await?;
                return self.reject(reference, &reason).await;
            }
            Err(error) => {
                return Err(TaskError::transient("cannot fetch the message").with_source(error));
            }
        };
        let mut mail = mail;
        mail.trace_id = trace_id_of(task);
        let decided = self.handler.handle_mail(&mail).await;
        // The body is done with: give its memory back before waiting on the mailbox.
        drop(mail);
        match decided {
            Ok(MailOutcome::Done { label, summary }) => {
                self.backend.mark_seen(reference).await.map_err(|e| {
                    TaskError::transient("message handled but not marked seen").with_source(e)
                })?;
                self.outcomes.add(label);
                // The summary quotes the mail (its Message-ID): escaped for a text log.
                tracing::info!(mailbox = %reference.mailbox, key = %printable(&reference.key), outcome = label, "{}", printable(&summary));
                Ok(())
            }
            Ok(MailOutcome::Rejected { reason }) => self.reject(reference, &reason).await,
            Err(error) if !error.is_transient() => {
                // Nothing was recorded: the dead-letter place tells an operator to look.
                tracing::warn!(mailbox = %reference.mailbox, key = %reference.key, error = %plba_util::error_chain(&error), "message failed for good");
                self.backend
                    .mark_rejected(reference, error.message())
                    .await
                    .map_err(|e| {
                        TaskError::transient("message failed but not marked").with_source(e)
                    })?;
                Err(error)
            }
            Err(error) => {
                tracing::warn!(mailbox = %reference.mailbox, key = %reference.key, attempt = task.attempt, error = %plba_util::error_chain(&error), "message left unseen for a retry");
                Err(error)
            }
        }
    }

    /// A handled rejection: marked in the mailbox, counted, logged once, acked.
    async fn reject(&self, reference: &MailRef, reason: &str) -> Result<(), TaskError> {
        self.backend
            .mark_rejected(reference, reason)
            .await
            .map_err(|e| TaskError::transient("message rejected but not marked").with_source(e))?;
        self.outcomes.add(REJECTED);
        tracing::info!(mailbox = %reference.mailbox, key = %printable(&reference.key), outcome = REJECTED, reason = %printable(reason), "message rejected");
        Ok(())
    }
}

#[async_trait]
impl<B: MailBackend + ?Sized, H: MailHandler + ?Sized> TaskHandler for MailTaskHandler<B, H> {
    async fn handle(&self, task: &Task) -> Result<(), TaskError> {
        let reference = MailRef::from_task(task).map_err(|e| {
            TaskError::permanent("the task does not reference a message").with_source(e)
        })?;
        // On the last attempt the message leaves the in-flight set however the attempt
        // ends — also when it is cancelled (a time limit, a forced stop), which nothing
        // after the await below would see — so a later scan picks it up again.
        let last = task.attempt >= self.max_attempts;
        let _leaves = last.then(|| EndsInFlight {
            in_flight: &self.in_flight,
            identity: reference.identity(),
        });
        let outcome = self.complete(&reference, task).await;
        let finished = match &outcome {
            Ok(()) => true,
            Err(error) => !error.is_transient(),
        };
        if finished && !last {
            self.in_flight.end(&reference.identity());
        }
        outcome
    }
}

/// Ends a message's stay in the in-flight set when dropped.
struct EndsInFlight<'a> {
    in_flight: &'a InFlight,
    identity: String,
}

impl Drop for EndsInFlight<'_> {
    fn drop(&mut self) {
        self.in_flight.end(&self.identity);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Duration;

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
                trace_id: None,
            })
        }
        async fn mark_seen(&self, reference: &MailRef) -> Result<(), MailError> {
            self.calls
                .lock_or_recover()
                .push(format!("seen {}", reference.key));
            Ok(())
        }
        async fn mark_rejected(&self, reference: &MailRef, reason: &str) -> Result<(), MailError> {
            self.calls
                .lock_or_recover()
                .push(format!("rejected {} {reason}", reference.key));
            Ok(())
        }
    }

    struct Outcome(fn() -> Result<MailOutcome, TaskError>);

    #[async_trait]
    impl MailHandler for Outcome {
        async fn handle_mail(&self, _mail: &RawMail) -> Result<MailOutcome, TaskError> {
            (self.0)()
        }
    }

    fn order() -> Result<MailOutcome, TaskError> {
        Ok(MailOutcome::done("order", "order stored"))
    }

    async fn run(
        backend: Recorder,
        outcome: fn() -> Result<MailOutcome, TaskError>,
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
        let calls = backend.calls.lock_or_recover().clone();
        (result, calls, in_flight.contains(&reference.identity()))
    }

    /// A mail handler that never finishes (a store that hangs).
    struct Hangs;

    #[async_trait]
    impl MailHandler for Hangs {
        async fn handle_mail(&self, _mail: &RawMail) -> Result<MailOutcome, TaskError> {
            std::future::pending().await
        }
    }

    #[tokio::test]
    async fn a_last_attempt_cut_short_still_leaves_flight() {
        for (attempt, leaves) in [(1, false), (3, true)] {
            let in_flight = Arc::new(InFlight::new());
            let reference = MailRef::new("box", "k1");
            assert!(in_flight.begin(&reference.identity()));
            let wrapper = MailTaskHandler::new(
                Arc::new(Recorder::default()),
                Arc::new(Hangs),
                Arc::clone(&in_flight),
                3,
            );
            let mut task = reference.to_task().unwrap();
            task.attempt = attempt;
            // The pool's time limit drops the handler's future, as here.
            let cut = tokio::time::timeout(Duration::from_millis(20), wrapper.handle(&task)).await;
            assert!(cut.is_err());
            assert_eq!(
                in_flight.contains(&reference.identity()),
                !leaves,
                "attempt {attempt} of 3"
            );
        }
    }

    #[tokio::test]
    async fn success_marks_seen_and_leaves_flight() {
        let (result, calls, still) = run(Recorder::default(), order, 1).await;
        assert!(result.is_ok());
        assert_eq!(calls, ["seen k1"]);
        assert!(!still);
    }

    #[tokio::test]
    async fn a_recorded_rejection_is_marked_and_acked() {
        let (result, calls, still) = run(
            Recorder::default(),
            || Ok(MailOutcome::rejected("unknown sender")),
            1,
        )
        .await;
        assert!(result.is_ok(), "a rejection is a handled outcome");
        assert_eq!(calls, ["rejected k1 unknown sender"]);
        assert!(!still);
    }

    #[tokio::test]
    async fn outcomes_are_counted_by_label() {
        let wrapper = MailTaskHandler::new(
            Arc::new(Recorder::default()),
            Arc::new(Outcome(order)),
            Arc::new(InFlight::new()),
            3,
        );
        for key in ["a", "b"] {
            wrapper
                .handle(&MailRef::new("box", key).to_task().unwrap())
                .await
                .unwrap();
        }
        assert_eq!(wrapper.outcomes().get("order"), 2);
        let families = wrapper.outcomes().collect();
        assert_eq!(families[0].name, "plba_mail_outcomes_total");
        assert_eq!(families[0].samples[0].value, MetricValue::Counter(2));
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
            Arc::new(Outcome(order)),
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
