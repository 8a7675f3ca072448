//! The polling worker: `UID SEARCH UNSEEN`, one task per message not in flight.

use plba_util::Unpoisoned;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_imap::extensions::idle::IdleResponse;
use async_imap::imap_proto::Response;
use async_imap::types::UnsolicitedResponse;
use plba_contracts::{
    HealthReport, Lease, TaskQueue, TaskTracer, Worker, WorkerContext, WorkerError, WorkerStatus,
    async_trait,
};
use plba_mail::{InFlight, LeaseRenewal, MailRef, SourceLiveness};
use plba_util::StatusCell;
use tokio::time::Instant;
use tracing::Instrument;

use crate::mailbox::ImapMailbox;
use crate::options::{ImapError, ImapOptions};
use crate::session::{ImapSession, connect, reconnect_delay, timed};

/// How a source learns about new mail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImapMode {
    /// `UID SEARCH UNSEEN` every poll interval.
    Poll,
    /// IMAP IDLE (RFC 2177): woken by the server when mail arrives, re-issued before
    /// `idle_max_ms`, rescanning at least every poll interval; polling when the server lacks
    /// IDLE.
    Idle,
}

/// Watches one IMAP folder and publishes its unseen messages, each once while in flight.
#[derive(Debug)]
pub struct ImapSource {
    options: ImapOptions,
    queue: Arc<dyn TaskQueue>,
    in_flight: Arc<InFlight>,
    tracer: Arc<dyn TaskTracer>,
    status: StatusCell,
    /// When the server stopped answering, and why; `None` while connected.
    outage: Mutex<Option<(Instant, String)>>,
    uidvalidity: AtomicU32,
    polls: AtomicU64,
    idles: AtomicU64,
    connects: AtomicU64,
    mode: ImapMode,
    lease: Option<Arc<dyn Lease>>,
    liveness: Option<Arc<SourceLiveness>>,
    /// The mailbox whose connections open beside the source's first session, until then.
    ahead_once: Mutex<Option<Arc<ImapMailbox>>>,
}

impl ImapSource {
    /// A source publishing the folder's unseen messages to `queue`.
    pub fn new(
        options: ImapOptions,
        queue: Arc<dyn TaskQueue>,
        in_flight: Arc<InFlight>,
        tracer: Arc<dyn TaskTracer>,
        mode: ImapMode,
    ) -> Self {
        Self {
            options,
            queue,
            in_flight,
            tracer,
            status: StatusCell::new(WorkerStatus::Stopped),
            outage: Mutex::new(None),
            uidvalidity: AtomicU32::new(0),
            polls: AtomicU64::new(0),
            idles: AtomicU64::new(0),
            connects: AtomicU64::new(0),
            mode,
            lease: None,
            liveness: None,
            ahead_once: Mutex::new(None),
        }
    }

    /// Opens `mailbox`'s connections ([`ImapMailbox::connect_ahead`]) once the source's
    /// first login succeeded, while it selects and scans the folder, so the first mail
    /// published finds them ready instead of waiting for two more logins and `SELECT`s in
    /// turn.
    #[must_use]
    pub fn connecting_ahead(self, mailbox: Arc<ImapMailbox>) -> Self {
        *self.ahead_once.lock_or_recover() = Some(mailbox);
        self
    }

    /// Reports each successful cycle (a scan, an IDLE wait, a standby round without the
    /// lease) to `liveness`, and turns unhealthy when it says the source went stale.
    #[must_use]
    pub fn with_liveness(mut self, liveness: Arc<SourceLiveness>) -> Self {
        self.liveness = Some(liveness);
        self
    }

    fn cycle_succeeded(&self, published: usize) {
        if let Some(liveness) = &self.liveness {
            liveness.cycle_succeeded(published);
        }
    }

    /// Scans only while holding `lease`: when several processes read one folder, one of
    /// them publishes (the others keep no connection to the server), and another takes over
    /// within the lease's time to live when it dies.
    #[must_use]
    pub fn with_lease(mut self, lease: Arc<dyn Lease>) -> Self {
        self.lease = Some(lease);
        self
    }

    /// The longest the source goes without a scan.
    fn rescan_interval(&self) -> Duration {
        Duration::from_millis(self.options.poll_interval_ms.max(10))
    }

    /// How long to wait at most before the lease, if any, must be renewed.
    fn renewal_slice(&self, left: Duration) -> Duration {
        match &self.lease {
            Some(lease) => left.min(lease.renew_interval()),
            None => left,
        }
    }

    /// Waits `duration` between polls, renewing the lease on the way; returns early when
    /// the lease was lost (the caller's next round stops scanning).
    async fn pause_renewing(&self, duration: Duration) {
        let deadline = Instant::now() + duration;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            let slice = self.renewal_slice(left);
            tokio::time::sleep(slice).await;
            if slice < left
                && let Some(lease) = &self.lease
                && !lease.hold().await
            {
                return;
            }
        }
    }

    /// How many scans of the folder completed (for status and tests).
    pub fn polls(&self) -> u64 {
        self.polls.load(Ordering::Relaxed)
    }

    /// How many connection attempts were made (for status and tests: reconnects back off).
    pub fn connection_attempts(&self) -> u64 {
        self.connects.load(Ordering::Relaxed)
    }

    /// How many times the source entered IDLE (for status and tests).
    pub fn idles(&self) -> u64 {
        self.idles.load(Ordering::Relaxed)
    }

    /// Waits in IDLE until the server reports something, the wait times out (then IDLE is
    /// re-issued) or a stop is requested. Returns the session, or `None` on a stop.
    async fn idle(
        &self,
        session: ImapSession,
        ctx: &WorkerContext,
    ) -> Result<Option<ImapSession>, ImapError> {
        let options = &self.options;
        let idle_max = Duration::from_millis(options.idle_max_ms.max(100));
        let rescan = self.rescan_interval();
        // A message that arrives between the scan's SEARCH and the server accepting IDLE is
        // announced before `+ idling`; async-imap files such responses with the unsolicited
        // ones, where the wait below never looks. Keep a receiver to check them.
        let notices = session.unsolicited_responses.clone();
        let mut handle = session.idle();
        timed(options, "IDLE", handle.init()).await?;
        self.idles.fetch_add(1, Ordering::Relaxed);
        // async-imap drops notices when its channel (100) is full: then an EXISTS may be
        // among the lost ones, so rescan.
        let mut announced = notices.is_full();
        while let Ok(notice) = notices.try_recv() {
            announced |= matches!(notice, UnsolicitedResponse::Exists(_));
        }
        let stopped = if announced {
            tracing::debug!(mailbox = %options.mailbox_name(), "mailbox changed while entering IDLE: rescanning");
            false
        } else {
            // Flag changes and expunges (this bot completing mail on its other connection)
            // leave nothing new to publish: keep waiting. Only new mail, a timeout or a
            // stop end the wait.
            let deadline = Instant::now() + idle_max.min(rescan);
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break false;
                }
                // Wake to renew the lease, if any, without leaving IDLE.
                let slice = self.renewal_slice(left);
                // Keep the interrupt handle bound: dropping it would end the wait at once.
                let (wait, _interrupt) = handle.wait_with_timeout(slice);
                let outcome = tokio::select! {
                    outcome = tokio::time::timeout(idle_max, wait) => outcome,
                    () = ctx.stop_token().cancelled() => break true,
                };
                match outcome {
                    Ok(Ok(IdleResponse::NewData(data))) if !announces_mail(data.parsed()) => {}
                    Ok(Ok(IdleResponse::Timeout)) if slice < left => {
                        // A lost lease ends the wait; the next round stops scanning.
                        if let Some(lease) = &self.lease
                            && !lease.hold().await
                        {
                            break false;
                        }
                    }
                    Ok(Ok(_)) | Err(_) => break false,
                    Ok(Err(error)) => {
                        return Err(ImapError::Command {
                            server: crate::session::server(options),
                            command: "IDLE",
                            what: "failed".to_owned(),
                            source: Some(Box::new(error)),
                        });
                    }
                }
            }
        };
        let session = timed(options, "DONE", handle.done()).await?;
        Ok((!stopped).then_some(session))
    }

    fn set_outage(&self, error: Option<&ImapError>) {
        let mut outage = self.outage.lock_or_recover();
        match error {
            None => *outage = None,
            Some(error) => {
                let since = outage
                    .as_ref()
                    .map_or_else(Instant::now, |(since, _)| *since);
                *outage = Some((since, plba_util::error_chain(error)));
            }
        }
    }

    /// One poll: select, check UIDVALIDITY, search unseen, publish what is new; returns how
    /// many were published.
    async fn poll(
        &self,
        session: &mut ImapSession,
        ctx: &WorkerContext,
    ) -> Result<usize, ImapError> {
        let options = &self.options;
        // Notices from before this scan are answered by it; whatever arrives from here on
        // stays queued for the IDLE that follows to see.
        while session.unsolicited_responses.try_recv().is_ok() {}
        let mailbox = timed(options, "SELECT", session.select(&options.mailbox)).await?;
        let validity = mailbox.uid_validity.unwrap_or(0);
        let previous = self.uidvalidity.swap(validity, Ordering::Relaxed);
        if previous != 0 && previous != validity {
            tracing::warn!(mailbox = %options.mailbox_name(), previous, validity, "UIDVALIDITY changed: rescanning the folder");
            self.in_flight.clear();
        }
        let listed = self.in_flight.mark();
        let mut uids: Vec<u32> = timed(options, "UID SEARCH", session.uid_search("UNSEEN"))
            .await?
            .into_iter()
            .collect();
        uids.sort_unstable();
        let name = options.mailbox_name();
        let present: std::collections::HashSet<String> = uids
            .iter()
            .map(|uid| MailRef::new(name.clone(), format!("{validity}:{uid}")).identity())
            .collect();
        // Messages seen elsewhere (completed) leave the in-flight set.
        self.in_flight.retain(|identity| present.contains(identity));
        let mut renewal = LeaseRenewal::new(self.lease.as_ref());
        let mut count = 0;
        for uid in uids {
            if !renewal.still_held().await {
                break;
            }
            let reference = MailRef {
                mailbox: name.clone(),
                key: format!("{validity}:{uid}"),
                uidvalidity: Some(validity),
                uid: Some(uid),
            };
            let identity = reference.identity();
            if !self.in_flight.begin_listed(&identity, listed) {
                continue;
            }
            let Ok(mut task) = reference.to_task() else {
                self.in_flight.end(&identity);
                continue;
            };
            let span = self.tracer.publish_span_to(&*self.queue, &mut task);
            let published = tokio::select! {
                biased;
                () = ctx.stop_token().cancelled() => None,
                published = self.queue.publish(task).instrument(span) => Some(published),
            };
            match published {
                Some(Ok(_)) => count += 1,
                Some(Err(error)) => {
                    self.in_flight.end(&identity);
                    tracing::warn!(error = %plba_util::error_chain(&error), "cannot publish a mail task; will retry on the next poll");
                    break;
                }
                None => {
                    self.in_flight.end(&identity);
                    break;
                }
            }
        }
        Ok(count)
    }
}

/// Whether an IDLE notice may mean new mail: `EXISTS`, `RECENT`, or anything this source
/// does not recognise (better one rescan too many than a mail left waiting for the poll).
fn announces_mail(response: &Response<'_>) -> bool {
    !matches!(
        response,
        Response::Fetch(..) | Response::Expunge(_) | Response::Vanished { .. }
    )
}

#[async_trait]
impl Worker for ImapSource {
    async fn run(&self, ctx: WorkerContext) -> Result<(), WorkerError> {
        self.status.set(WorkerStatus::Starting);
        let interval = self.rescan_interval();
        let mut session: Option<ImapSession> = None;
        let mut failures: u32 = 0;
        let mut idle_supported: Option<bool> = None;
        loop {
            if let Some(lease) = &self.lease
                && !lease.hold().await
            {
                // Another process scans: keep no connection, ask again at the next renewal.
                if let Some(mut active) = session.take() {
                    let _ = timed(&self.options, "LOGOUT", active.logout()).await;
                }
                // Standing by is this process's part while another scans: alive.
                self.cycle_succeeded(0);
                self.set_outage(None);
                self.status.set(WorkerStatus::Idle);
                tokio::select! {
                    () = ctx.stop_token().cancelled() => break,
                    () = tokio::time::sleep(lease.renew_interval()) => continue,
                }
            }
            if session.is_none() {
                self.connects.fetch_add(1, Ordering::Relaxed);
                // A stop must not wait for a slow server (a login may be delayed on purpose).
                let connected = tokio::select! {
                    () = ctx.stop_token().cancelled() => break,
                    connected = connect(&self.options) => connected,
                };
                match connected {
                    Ok(connected) => {
                        // Once the server took this login (a wrong password is refused
                        // once, not three times), the mailbox logs in beside the scan.
                        if let Some(mailbox) = self.ahead_once.lock_or_recover().take() {
                            // Not awaited: the scan does not wait for those connections.
                            let stop = ctx.stop_token().clone();
                            tokio::spawn(
                                async move {
                                    tokio::select! {
                                        () = stop.cancelled() => {}
                                        () = mailbox.connect_ahead() => {}
                                    }
                                }
                                .in_current_span(),
                            );
                        }
                        session = Some(connected);
                        idle_supported = None;
                        failures = 0;
                        self.set_outage(None);
                    }
                    Err(error) => {
                        failures = failures.saturating_add(1);
                        let delay = reconnect_delay(&self.options, failures);
                        tracing::warn!(error = %plba_util::error_chain(&error), retry_in = ?delay, "IMAP connection failed");
                        self.set_outage(Some(&error));
                        self.status.set(WorkerStatus::Starting);
                        tokio::select! {
                            () = ctx.stop_token().cancelled() => break,
                            () = tokio::time::sleep(delay) => continue,
                        }
                    }
                }
            }
            if let Some(active) = session.as_mut() {
                self.status.set(WorkerStatus::Busy);
                let polled = tokio::select! {
                    () = ctx.stop_token().cancelled() => break,
                    polled = self.poll(active, &ctx) => polled,
                };
                match polled {
                    Ok(published) => {
                        self.polls.fetch_add(1, Ordering::Relaxed);
                        self.cycle_succeeded(published);
                    }
                    Err(error) => {
                        tracing::warn!(error = %plba_util::error_chain(&error), "IMAP poll failed; reconnecting");
                        self.set_outage(Some(&error));
                        session = None;
                        continue;
                    }
                }
            }
            self.status.set(WorkerStatus::Idle);
            if self.mode == ImapMode::Idle
                && let Some(mut active) = session.take()
            {
                if idle_supported.is_none() {
                    let capabilities =
                        timed(&self.options, "CAPABILITY", active.capabilities()).await;
                    idle_supported = Some(capabilities.is_ok_and(|c| c.has_str("IDLE")));
                    if idle_supported == Some(false) {
                        tracing::warn!(mailbox = %self.options.mailbox_name(), "the server lacks IDLE; polling instead");
                    }
                }
                if idle_supported == Some(true) {
                    match self.idle(active, &ctx).await {
                        Ok(Some(back)) => {
                            self.cycle_succeeded(0);
                            session = Some(back);
                            continue;
                        }
                        Ok(None) => break,
                        Err(error) => {
                            tracing::warn!(error = %plba_util::error_chain(&error), "IMAP IDLE failed; reconnecting");
                            self.set_outage(Some(&error));
                            idle_supported = None;
                            continue;
                        }
                    }
                }
                session = Some(active);
            }
            tokio::select! {
                () = ctx.stop_token().cancelled() => break,
                () = self.pause_renewing(interval) => {}
            }
        }
        if let Some(mut active) = session {
            let _ = timed(&self.options, "LOGOUT", active.logout()).await;
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
            return HealthReport::unhealthy(stale);
        }
        let outage = self.outage.lock_or_recover();
        match &*outage {
            None => HealthReport::Ok,
            Some((since, reason))
                if since.elapsed() >= Duration::from_millis(self.options.unhealthy_after_ms) =>
            {
                HealthReport::unhealthy(format!(
                    "IMAP unreachable for {:?}: {reason}",
                    since.elapsed()
                ))
            }
            Some((_, reason)) => HealthReport::degraded(format!("reconnecting: {reason}")),
        }
    }
}
