//! The worker that publishes one task per message in `new/`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use futures_util::StreamExt;
use inotify::{Inotify, WatchMask};
use plba_contracts::{
    Lease, StatusCell, TaskQueue, TaskTracer, Worker, WorkerContext, WorkerError, WorkerHealth,
    WorkerStatus, async_trait,
};
use plba_mail::{InFlight, MailRef};
use tracing::Instrument;

use crate::maildir::Maildir;

/// Publishes every message in a Maildir's `new/` once, while it is not in flight.
///
/// Woken by inotify when a file is moved or written into `new/`, and by a periodic rescan in
/// any case (notifications can be lost, and files may arrive while the worker is down).
/// Without inotify (an unsupported file system) it runs on rescans alone.
pub struct MaildirSource {
    maildir: Arc<Maildir>,
    queue: Arc<dyn TaskQueue>,
    in_flight: Arc<InFlight>,
    tracer: Arc<dyn TaskTracer>,
    status: StatusCell,
    last_error: Mutex<Option<String>>,
    scans: AtomicU64,
    lease: Option<Arc<dyn Lease>>,
}

impl MaildirSource {
    /// A source publishing `maildir`'s messages to `queue`.
    pub fn new(
        maildir: Arc<Maildir>,
        queue: Arc<dyn TaskQueue>,
        in_flight: Arc<InFlight>,
        tracer: Arc<dyn TaskTracer>,
    ) -> Self {
        Self {
            maildir,
            queue,
            in_flight,
            tracer,
            status: StatusCell::new(WorkerStatus::Stopped),
            last_error: Mutex::new(None),
            scans: AtomicU64::new(0),
            lease: None,
        }
    }

    /// Polls only while holding `lease`: when several processes read one mailbox, one of
    /// them publishes, and another takes over when it dies.
    #[must_use]
    pub fn with_lease(mut self, lease: Arc<dyn Lease>) -> Self {
        self.lease = Some(lease);
        self
    }

    /// How many scans of `new/` have completed (for status and tests).
    pub fn scans(&self) -> u64 {
        self.scans.load(Ordering::Relaxed)
    }

    fn record(&self, error: Option<String>) {
        *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = error;
    }

    /// Publishes what is new; returns how many messages were published. Stops early (and
    /// forgets the message it was publishing) when a stop is requested.
    async fn publish_new(&self, ctx: &WorkerContext) -> Result<usize, String> {
        let keys = self.maildir.scan_new().await.map_err(|e| e.to_string())?;
        // Messages completed elsewhere (another process, or a redelivery) leave the set.
        let present: std::collections::HashSet<String> = keys
            .iter()
            .map(|key| MailRef::new(self.maildir.name(), key.clone()).identity())
            .collect();
        self.in_flight.retain(|identity| present.contains(identity));
        let mut published = 0;
        for key in keys {
            let reference = MailRef::new(self.maildir.name(), key);
            let identity = reference.identity();
            if !self.in_flight.begin(&identity) {
                continue;
            }
            let mut task = reference.to_task().map_err(|e| e.to_string())?;
            let span = self.tracer.publish_span(self.queue.name(), &mut task);
            let publishing = self.queue.publish(task).instrument(span);
            let outcome = tokio::select! {
                biased;
                () = ctx.stop_token().cancelled() => None,
                outcome = publishing => Some(outcome),
            };
            match outcome {
                Some(Ok(())) => published += 1,
                Some(Err(error)) => {
                    self.in_flight.end(&identity);
                    return Err(format!("cannot publish {}: {error}", reference.key));
                }
                None => {
                    self.in_flight.end(&identity);
                    break;
                }
            }
        }
        Ok(published)
    }
}

fn watch_new(maildir: &Maildir) -> std::io::Result<inotify::EventStream<[u8; 4096]>> {
    let inotify = Inotify::init()?;
    inotify.watches().add(
        maildir.root().join("new"),
        WatchMask::MOVED_TO | WatchMask::CLOSE_WRITE,
    )?;
    inotify.into_event_stream([0u8; 4096])
}

#[async_trait]
impl Worker for MaildirSource {
    async fn run(&self, ctx: WorkerContext) -> Result<(), WorkerError> {
        self.status.set(WorkerStatus::Starting);
        let mut events = match watch_new(&self.maildir) {
            Ok(events) => Some(events),
            Err(error) => {
                tracing::warn!(maildir = self.maildir.name(), %error, "no inotify; relying on rescans");
                None
            }
        };
        let rescan = match &self.lease {
            Some(lease) => self
                .maildir
                .options()
                .rescan_interval()
                .min(lease.renew_interval()),
            None => self.maildir.options().rescan_interval(),
        };
        loop {
            let holding = match &self.lease {
                Some(lease) => lease.hold().await,
                None => true,
            };
            self.status.set(if holding {
                WorkerStatus::Busy
            } else {
                WorkerStatus::Idle
            });
            let scanned = if holding {
                self.publish_new(&ctx).await
            } else {
                Ok(0)
            };
            match scanned {
                Ok(published) => {
                    if published > 0 {
                        tracing::debug!(
                            maildir = self.maildir.name(),
                            published,
                            "messages published"
                        );
                    }
                    self.record(None);
                }
                Err(error) => {
                    tracing::warn!(maildir = self.maildir.name(), %error, "scan failed; will rescan");
                    self.record(Some(error));
                }
            }
            self.scans.fetch_add(1, Ordering::Relaxed);
            self.status.set(WorkerStatus::Idle);
            let notified = async {
                match events.as_mut() {
                    Some(stream) => stream.next().await.is_some(),
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                () = ctx.stop_token().cancelled() => break,
                alive = notified => {
                    if !alive {
                        tracing::warn!(maildir = self.maildir.name(), "inotify stream ended; relying on rescans");
                        events = None;
                    }
                }
                () = tokio::time::sleep(rescan) => {}
            }
        }
        if let Some(lease) = &self.lease {
            lease.release().await;
        }
        self.status.set(WorkerStatus::Stopped);
        Ok(())
    }

    fn status(&self) -> WorkerStatus {
        self.status.get()
    }

    fn health(&self) -> WorkerHealth {
        match &*self.last_error.lock().unwrap_or_else(|e| e.into_inner()) {
            None => WorkerHealth::Ok,
            Some(error) => WorkerHealth::degraded(format!("last scan failed: {error}")),
        }
    }
}
