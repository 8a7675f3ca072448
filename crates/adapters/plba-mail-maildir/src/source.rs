//! The worker that publishes one task per message in `new/`.

use plba_util::{Unpoisoned, error_chain};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use inotify::{EventMask, Inotify, WatchMask};
use plba_contracts::{
    HealthReport, Lease, TaskQueue, TaskTracer, Worker, WorkerContext, WorkerError, WorkerStatus,
    async_trait,
};
use plba_mail::{InFlight, LeaseRenewal, MailRef, SourceLiveness};
use plba_util::StatusCell;
use tokio::time::Instant;
use tracing::Instrument;

use crate::maildir::Maildir;

/// Publishes every message in a Maildir's `new/` once, while it is not in flight.
///
/// Woken by inotify when a file is moved or written into `new/`, and by a periodic rescan in
/// any case (notifications can be lost, and files may arrive while the worker is down).
/// Without inotify (an unsupported file system) it runs on rescans alone.
///
/// A Maildir deleted under it is created again when `create` is on; a Maildir deleted,
/// moved away or replaced is watched again as soon as it exists (tried every second), and
/// scanned then, so nothing that arrived meanwhile waits for a rescan.
#[derive(Debug)]
pub struct MaildirSource {
    maildir: Arc<Maildir>,
    queue: Arc<dyn TaskQueue>,
    in_flight: Arc<InFlight>,
    tracer: Arc<dyn TaskTracer>,
    status: StatusCell,
    last_error: Mutex<Option<String>>,
    scans: AtomicU64,
    lease: Option<Arc<dyn Lease>>,
    liveness: Option<Arc<SourceLiveness>>,
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
            liveness: None,
        }
    }

    /// Reports each successful scan to `liveness`, and turns unhealthy when it says the
    /// source went stale.
    #[must_use]
    pub fn with_liveness(mut self, liveness: Arc<SourceLiveness>) -> Self {
        self.liveness = Some(liveness);
        self
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
        *self.last_error.lock_or_recover() = error;
    }

    /// Publishes what is new; returns how many messages were published. Stops early (and
    /// forgets the message it was publishing) when a stop is requested.
    async fn publish_new(&self, ctx: &WorkerContext) -> Result<usize, String> {
        let listed = self.in_flight.mark();
        let keys = self.maildir.scan_new().await.map_err(|e| error_chain(&e))?;
        // Messages completed elsewhere (another process, or a redelivery) leave the set.
        let present: std::collections::HashSet<String> = keys
            .iter()
            .map(|key| MailRef::new(self.maildir.name(), key.clone()).identity())
            .collect();
        self.in_flight.retain(|identity| present.contains(identity));
        let mut published = 0;
        let mut renewal = LeaseRenewal::new(self.lease.as_ref());
        for key in keys {
            if !renewal.still_held().await {
                break;
            }
            let reference = MailRef::new(self.maildir.name(), key);
            let identity = reference.identity();
            if !self.in_flight.begin_listed(&identity, listed) {
                continue;
            }
            let mut task = reference.to_task().map_err(|e| error_chain(&e))?;
            let span = self.tracer.publish_span_to(&*self.queue, &mut task);
            let publishing = self.queue.publish(task).instrument(span);
            let outcome = tokio::select! {
                biased;
                () = ctx.stop_token().cancelled() => None,
                outcome = publishing => Some(outcome),
            };
            match outcome {
                Some(Ok(_)) => published += 1,
                Some(Err(error)) => {
                    self.in_flight.end(&identity);
                    return Err(format!(
                        "cannot publish {}: {}",
                        reference.key,
                        plba_util::error_chain(&error)
                    ));
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

/// An inotify watch on a Maildir: `new/` for arrivals, and every directory of it for its
/// own deletion or move, after which the watch no longer covers the mailbox (or the
/// Maildir needs its directories made again).
struct Watch {
    events: inotify::EventStream<[u8; 4096]>,
    /// Device and inode of the watched `new/`. Another one at the path means the Maildir
    /// was replaced (moved away and made again), which the watch, following the old
    /// directory, does not report.
    new_dir: (u64, u64),
}

/// The device and inode of `path`.
fn dir_id(path: &Path) -> std::io::Result<(u64, u64)> {
    let metadata = std::fs::metadata(path)?;
    Ok((metadata.dev(), metadata.ino()))
}

fn watch(maildir: &Maildir) -> std::io::Result<Watch> {
    let new = maildir.root().join("new");
    // Taken before the watch: if new/ is replaced in between, the next check sees another
    // inode and watches again, rather than trusting a watch on the old one.
    let new_dir = dir_id(&new)?;
    let inotify = Inotify::init()?;
    let gone = WatchMask::DELETE_SELF | WatchMask::MOVE_SELF;
    inotify
        .watches()
        .add(&new, WatchMask::MOVED_TO | WatchMask::CLOSE_WRITE | gone)?;
    inotify.watches().add(maildir.root(), gone)?;
    for sub in ["tmp", "cur"] {
        // Best effort: only a deletion is watched there, and a Maildir without them can
        // still be scanned (`create` off); the next repair makes them, if allowed.
        let _ = inotify.watches().add(maildir.root().join(sub), gone);
    }
    Ok(Watch {
        events: inotify.into_event_stream([0u8; 4096])?,
        new_dir,
    })
}

/// While the watch is lost, how often the source tries to watch again (and scans as soon
/// as it can), whatever the rescan interval.
const REWATCH_EVERY: Duration = Duration::from_secs(1);

impl MaildirSource {
    /// Puts the Maildir back in shape before a scan: recreates its directories when they
    /// vanished and `create` is on, and watches it again when the watch was lost or follows
    /// a replaced directory. Returns whether a scan is due (a fresh watch misses what
    /// arrived before it).
    async fn repair(&self, watch: &mut Option<Watch>, watch_error: &mut Option<String>) -> bool {
        let mut scan = false;
        // Again after creating something: a deletion still under way (`rm -rf` racing this)
        // may have taken a directory checked a moment before.
        for _ in 0..3 {
            match self.maildir.recreate().await {
                Ok(false) => break,
                Ok(true) => {
                    if !scan {
                        tracing::warn!(
                            maildir = self.maildir.name(),
                            "the Maildir's directories were missing; created them again"
                        );
                    }
                    scan = true;
                }
                Err(error) => {
                    tracing::debug!(maildir = self.maildir.name(), error = %error_chain(&error), "cannot recreate the Maildir yet");
                    break;
                }
            }
        }
        let current = dir_id(&self.maildir.root().join("new")).ok();
        if let Some(watched) = watch.as_ref().map(|w| w.new_dir)
            && current != Some(watched)
        {
            // Missing (the scan reports that) or another directory: the watch is stale.
            if current.is_some() {
                tracing::warn!(
                    maildir = self.maildir.name(),
                    "the Maildir was replaced; watching the new one"
                );
            }
            *watch = None;
        }
        if watch.is_none() && current.is_some() {
            match self::watch(&self.maildir) {
                Ok(fresh) => {
                    if watch_error.take().is_some() {
                        tracing::info!(maildir = self.maildir.name(), "watching new/ again");
                    }
                    *watch = Some(fresh);
                    scan = true;
                }
                Err(error) => {
                    let error = error_chain(&error);
                    // Once per distinct failure: retried every second meanwhile.
                    if watch_error.as_deref() != Some(error.as_str()) {
                        tracing::warn!(maildir = self.maildir.name(), %error, "cannot watch new/; relying on rescans, will try again");
                    }
                    *watch_error = Some(error);
                }
            }
        }
        scan
    }

    /// One scan: renews the lease if any, publishes when holding it, and records the
    /// outcome (a failure is logged when it differs from the last one, not on every rescan).
    async fn scan(&self, ctx: &WorkerContext) {
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
            self.publish_new(ctx).await
        } else {
            Ok(0)
        };
        match scanned {
            Ok(published) => {
                if let Some(liveness) = &self.liveness {
                    liveness.cycle_succeeded(published);
                }
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
                let repeated = self.last_error.lock_or_recover().as_deref() == Some(error.as_str());
                if repeated {
                    tracing::debug!(maildir = self.maildir.name(), %error, "scan failed again; will rescan");
                } else {
                    tracing::warn!(maildir = self.maildir.name(), %error, "scan failed; will rescan");
                }
                self.record(Some(error));
            }
        }
        self.scans.fetch_add(1, Ordering::Relaxed);
        self.status.set(WorkerStatus::Idle);
    }
}

#[async_trait]
impl Worker for MaildirSource {
    async fn run(&self, ctx: WorkerContext) -> Result<(), WorkerError> {
        self.status.set(WorkerStatus::Starting);
        let rescan = match &self.lease {
            Some(lease) => self
                .maildir
                .options()
                .rescan_interval()
                .min(lease.renew_interval()),
            None => self.maildir.options().rescan_interval(),
        };
        let mut watch: Option<Watch> = None;
        let mut watch_error: Option<String> = None;
        let mut scan_due = true;
        let mut next_rescan = Instant::now();
        loop {
            if self.repair(&mut watch, &mut watch_error).await {
                scan_due = true;
            }
            if scan_due || Instant::now() >= next_rescan {
                self.scan(&ctx).await;
                scan_due = false;
                next_rescan = Instant::now() + rescan;
            }
            // Without a watch, wake up often enough to get one back soon.
            let wake_at = match watch {
                Some(_) => next_rescan,
                None => next_rescan.min(Instant::now() + REWATCH_EVERY),
            };
            let notified = async {
                match watch.as_mut() {
                    Some(w) => w.events.next().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                () = ctx.stop_token().cancelled() => break,
                event = notified => {
                    scan_due = true;
                    let lost = match event {
                        Some(Ok(event)) => event.mask.intersects(
                            EventMask::IGNORED | EventMask::DELETE_SELF | EventMask::MOVE_SELF,
                        ),
                        Some(Err(error)) => {
                            tracing::warn!(maildir = self.maildir.name(), %error, "inotify failed; watching again");
                            true
                        }
                        None => {
                            tracing::warn!(maildir = self.maildir.name(), "inotify stream ended; watching again");
                            true
                        }
                    };
                    if lost {
                        // Deleted or moved away: the next repair recreates it (with
                        // `create`) or waits for it to come back, and watches it again.
                        watch = None;
                    }
                }
                () = tokio::time::sleep_until(wake_at) => {}
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

    fn health(&self) -> HealthReport {
        if let Some(stale) = self.liveness.as_ref().and_then(|l| l.stale()) {
            let last_error = self.last_error.lock_or_recover().clone();
            return HealthReport::unhealthy(match last_error {
                Some(error) => format!("{stale}; last scan failed: {error}"),
                None => stale,
            });
        }
        match &*self.last_error.lock_or_recover() {
            None => HealthReport::Ok,
            Some(error) => HealthReport::degraded(format!("last scan failed: {error}")),
        }
    }
}
