//! What the Maildir test binaries share: a source running over a Maildir into a memory queue.

#![allow(dead_code)] // each test binary uses its own part

use std::sync::Arc;

use plba_contracts::{CancellationToken, NoopTaskTracer, Worker, WorkerContext};
use plba_mail::InFlight;
use plba_mail_maildir::{Maildir, MaildirSource};
use plba_queue_memory::{MemoryQueue, MemoryQueueOptions};

/// A running [`MaildirSource`]; dropping it stops the source.
pub(crate) struct Running {
    pub(crate) source: Arc<MaildirSource>,
    pub(crate) queue: Arc<MemoryQueue>,
    pub(crate) in_flight: Arc<InFlight>,
    pub(crate) stop: CancellationToken,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Starts a source over `maildir` that publishes into a fresh memory queue.
pub(crate) fn run_source(maildir: &Arc<Maildir>) -> Running {
    let queue = Arc::new(MemoryQueue::new("mail", MemoryQueueOptions::default()).unwrap());
    let in_flight = Arc::new(InFlight::new());
    let source = Arc::new(MaildirSource::new(
        Arc::clone(maildir),
        queue.clone(),
        Arc::clone(&in_flight),
        NoopTaskTracer::shared(),
    ));
    let stop = CancellationToken::new();
    let ctx = WorkerContext::new(0, stop.clone(), CancellationToken::new());
    tokio::spawn({
        let source = Arc::clone(&source);
        async move { source.run(ctx).await }
    });
    Running {
        source,
        queue,
        in_flight,
        stop,
    }
}
