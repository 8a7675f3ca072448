//! Batches of calls on one IMAP connection: the fetches waiting together, or the flag
//! changes waiting together, run as one command each, and every call gets its own answer.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use futures_util::TryStreamExt;
use plba_mail::{MailError, MailRef, RawMail};
use tokio::sync::Mutex;

use super::commands::{
    add_flags, has_flags, message_bodies, message_sizes, uid_set, within_budget,
};
use super::{FETCH_BUDGET_BYTES, ImapMailbox};
use crate::options::ImapError;
use crate::session::{ImapSession, connect, timed};

/// A session error shared by every message of the batch it broke.
#[derive(Debug)]
struct Shared(Arc<ImapError>);

impl std::fmt::Display for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for Shared {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

impl ImapMailbox {
    /// The error every message of a batch gets when its session broke.
    fn unavailable_shared(&self, error: &Arc<ImapError>) -> MailError {
        MailError::Unavailable {
            mailbox: self.name.clone(),
            what: "the IMAP server did not complete the request".to_owned(),
            source: Box::new(Shared(Arc::clone(error))),
        }
    }

    /// The completion session, connected and with the folder selected; selected again when
    /// one of `references` names another UIDVALIDITY (the folder may have changed since).
    pub(super) async fn batch_session<'a>(
        &self,
        guard: &'a mut Option<(ImapSession, Option<u32>)>,
        references: &[MailRef],
    ) -> Result<(&'a mut ImapSession, Option<u32>), ImapError> {
        let options = &self.options;
        if guard.is_none() {
            self.connects.fetch_add(1, Ordering::Relaxed);
            let mut session = connect(options).await?;
            let selected = timed(options, "SELECT", session.select(&options.mailbox)).await?;
            *guard = Some((session, selected.uid_validity));
        }
        let Some((session, validity)) = guard.as_mut() else {
            return Err(ImapError::Connection {
                server: options.host.clone(),
                what: "no session".to_owned(),
                source: None,
            });
        };
        if references
            .iter()
            .any(|r| r.uidvalidity.is_some() && r.uidvalidity != *validity)
        {
            let selected = timed(options, "SELECT", session.select(&options.mailbox)).await?;
            *validity = selected.uid_validity;
        }
        Ok((session, *validity))
    }

    /// Runs `job` on the connection in `slot` (connecting first when there is none).
    ///
    /// A connection kept from an earlier batch may have died since (a server restart, an idle
    /// timeout): fetching and adding flags change nothing twice, so a failed batch is tried
    /// once more on a fresh connection. When that fails too although the connection was
    /// made, one message may be what the server refuses: each is then tried alone, so it
    /// fails only its own call. A failure drops the connection, so the next batch starts
    /// afresh.
    async fn in_batch<J: BatchJob>(
        &self,
        slot: &Mutex<Option<(ImapSession, Option<u32>)>>,
        job: J,
    ) -> Vec<Result<J::Answer, MailError>> {
        let mut guard = slot.lock().await;
        let reused = guard.is_some();
        let mut result = self.run_batch(&mut guard, &job).await;
        if result.is_err() && reused {
            *guard = None;
            result = self.run_batch(&mut guard, &job).await;
        }
        match result {
            Ok(answers) => answers,
            Err(Failed::Work(_)) if job.references().len() > 1 => {
                *guard = None;
                let mut answers = Vec::with_capacity(job.references().len());
                for single in job.singles() {
                    match self.run_batch(&mut guard, &single).await {
                        Ok(mut answer) => answers.append(&mut answer),
                        Err(Failed::Work(error) | Failed::Connect(error)) => {
                            *guard = None;
                            answers.push(Err(self.unavailable_shared(&Arc::new(error))));
                        }
                    }
                }
                answers
            }
            Err(Failed::Work(error) | Failed::Connect(error)) => {
                *guard = None;
                let error = Arc::new(error);
                job.references()
                    .iter()
                    .map(|_| Err(self.unavailable_shared(&error)))
                    .collect()
            }
        }
    }

    async fn run_batch<J: BatchJob>(
        &self,
        guard: &mut Option<(ImapSession, Option<u32>)>,
        job: &J,
    ) -> Result<Vec<Result<J::Answer, MailError>>, Failed> {
        let (session, validity) = self
            .batch_session(guard, job.references())
            .await
            .map_err(Failed::Connect)?;
        let result = job.run(self, session, validity).await;
        while session.unsolicited_responses.try_recv().is_ok() {}
        result.map_err(Failed::Work)
    }

    /// One batch of fetches: sizes in one round trip, bodies in as few as the budget allows.
    pub(super) async fn fetch_batch(
        &self,
        references: Vec<MailRef>,
    ) -> Vec<Result<Fetched, MailError>> {
        self.in_batch(&self.session, FetchJob(&references)).await
    }

    /// One batch of messages given `flags` (e.g. `(\Seen)`), in one `UID STORE`.
    pub(super) async fn flag_batch(
        &self,
        references: Vec<MailRef>,
        flags: &'static str,
    ) -> Vec<Result<(), MailError>> {
        self.in_batch(&self.flags, FlagJob(&references, flags))
            .await
    }

    async fn fetch_on(
        &self,
        session: &mut ImapSession,
        validity: Option<u32>,
        references: &[MailRef],
    ) -> Result<Vec<Result<Fetched, MailError>>, ImapError> {
        let options = &self.options;
        let limit = options.max_message_bytes;
        let uid_of = |r: &MailRef| addressable(r, validity);
        let mut wanted: Vec<u32> = references.iter().filter_map(uid_of).collect();
        wanted.sort_unstable();
        wanted.dedup();
        let mut sizes = message_sizes(session, options, &wanted).await?;
        let missing: Vec<u32> = wanted
            .iter()
            .copied()
            .filter(|u| !sizes.contains_key(u))
            .collect();
        if !missing.is_empty() {
            // This connection learns of messages that arrived after its last command only
            // when it syncs: a message the source just found would look gone. NOOP syncs;
            // only a message still missing after it is really gone.
            timed(options, "NOOP", session.noop()).await?;
            sizes.extend(message_sizes(session, options, &missing).await?);
        }
        let small: Vec<u32> = wanted
            .iter()
            .copied()
            .filter(|u| sizes.get(u).is_some_and(|&size| u64::from(size) <= limit))
            .collect();
        let mut bodies = HashMap::new();
        // Messages left for a later batch for want of memory now.
        let mut deferred = std::collections::HashSet::new();
        let per_trip = FETCH_BUDGET_BYTES.min(self.budget.total());
        for chunk in within_budget(&small, &sizes, per_trip) {
            let mut reserved = HashMap::with_capacity(chunk.len());
            for &uid in &chunk {
                if !deferred.is_empty() {
                    deferred.insert(uid);
                    continue;
                }
                let size = u64::from(sizes.get(&uid).copied().unwrap_or(0));
                // Waiting for memory is safe only while this batch holds none: the bodies it
                // already fetched could be what the wait needs. After that it takes what is
                // free now, and leaves the rest for a later batch.
                let reservation = if bodies.is_empty() && reserved.is_empty() {
                    Some(self.budget.reserve(size).await)
                } else {
                    self.budget.try_reserve(size)
                };
                match reservation {
                    Some(reservation) => {
                        reserved.insert(uid, reservation);
                    }
                    None => {
                        deferred.insert(uid);
                    }
                }
            }
            let uids: Vec<u32> = chunk
                .into_iter()
                .filter(|u| reserved.contains_key(u))
                .collect();
            if uids.is_empty() {
                continue;
            }
            for (uid, (body, received)) in message_bodies(session, options, &uids).await? {
                if let Some(reservation) = reserved.remove(&uid) {
                    bodies.insert(uid, (reservation.hold(body), received));
                }
            }
        }
        Ok(references
            .iter()
            .map(|reference| {
                let Some(uid) = uid_of(reference) else {
                    return Err(self.gone(reference));
                };
                match (sizes.get(&uid), bodies.get(&uid)) {
                    (Some(&size), _) if u64::from(size) > limit => Err(MailError::TooLarge {
                        key: reference.key.clone(),
                        size: u64::from(size),
                        limit,
                    }),
                    (Some(_), Some((bytes, received_at))) => Ok(Fetched::Mail(RawMail {
                        reference: reference.clone(),
                        bytes: bytes.clone(),
                        received_at: *received_at,
                        trace_id: None,
                    })),
                    (Some(_), None) if deferred.contains(&uid) => Ok(Fetched::Later),
                    _ => Err(self.gone(reference)),
                }
            })
            .collect())
    }

    async fn flag_on(
        &self,
        session: &mut ImapSession,
        validity: Option<u32>,
        references: &[MailRef],
        flags: &'static str,
    ) -> Result<Vec<Result<(), MailError>>, ImapError> {
        let options = &self.options;
        let uid_of = |r: &MailRef| addressable(r, validity);
        let mut uids: Vec<u32> = references.iter().filter_map(uid_of).collect();
        uids.sort_unstable();
        uids.dedup();
        let marked = add_flags(session, options, &uids, flags).await?;
        let mut unknown: Vec<u32> = uids.into_iter().filter(|u| !marked.contains(u)).collect();
        let mut unconfirmed = std::collections::HashSet::new();
        if !unknown.is_empty() {
            // This connection learns of new messages only when it syncs, and a STORE on
            // a UID it does not know changes nothing: sync and mark those again.
            timed(options, "NOOP", session.noop()).await?;
            let marked = add_flags(session, options, &unknown, flags).await?;
            unknown.retain(|u| !marked.contains(u));
        }
        if !unknown.is_empty() {
            // Still no answer (a server may stay silent about a message that already had
            // the flags): look. A message that is gone has nothing left to mark; one that
            // is there without the flags is not done.
            let fetches = timed(
                options,
                "UID FETCH",
                session.uid_fetch(uid_set(&unknown), "FLAGS"),
            )
            .await?;
            let fetches: Vec<_> =
                timed(options, "UID FETCH", fetches.try_collect::<Vec<_>>()).await?;
            for fetch in &fetches {
                if let Some(uid) = fetch.uid
                    && !has_flags(fetch, flags)
                {
                    unconfirmed.insert(uid);
                }
            }
        }
        Ok(references
            .iter()
            .map(|r| match uid_of(r) {
                None => Err(self.gone(r)),
                Some(uid) if unconfirmed.contains(&uid) => Err(MailError::Unavailable {
                    mailbox: self.name.clone(),
                    what: format!("the server did not set {flags} on message {}", r.key),
                    source: "the flags were missing when read back".into(),
                }),
                Some(_) => Ok(()),
            })
            .collect())
    }
}

/// What a fetch batch gives one call.
#[derive(Debug)]
pub(super) enum Fetched {
    Mail(RawMail),
    /// Not fetched in this batch for want of memory: to be asked again.
    Later,
}

/// Why a batch failed: before it could start (no connection) or while it ran.
enum Failed {
    Connect(ImapError),
    Work(ImapError),
}

/// A batch of calls run together on one connection, one answer per call.
trait BatchJob: Sized {
    type Answer;

    /// The calls' messages.
    fn references(&self) -> &[MailRef];

    /// The same calls as batches of one.
    fn singles(&self) -> Vec<Self>;

    /// Runs the batch; an error fails every call (and drops the connection).
    async fn run(
        &self,
        mailbox: &ImapMailbox,
        session: &mut ImapSession,
        validity: Option<u32>,
    ) -> Result<Vec<Result<Self::Answer, MailError>>, ImapError>;
}

struct FetchJob<'a>(&'a [MailRef]);

impl BatchJob for FetchJob<'_> {
    type Answer = Fetched;

    fn references(&self) -> &[MailRef] {
        self.0
    }

    fn singles(&self) -> Vec<Self> {
        self.0.chunks(1).map(FetchJob).collect()
    }

    async fn run(
        &self,
        mailbox: &ImapMailbox,
        session: &mut ImapSession,
        validity: Option<u32>,
    ) -> Result<Vec<Result<Fetched, MailError>>, ImapError> {
        mailbox.fetch_on(session, validity, self.0).await
    }
}

struct FlagJob<'a>(&'a [MailRef], &'static str);

impl BatchJob for FlagJob<'_> {
    type Answer = ();

    fn references(&self) -> &[MailRef] {
        self.0
    }

    fn singles(&self) -> Vec<Self> {
        self.0.chunks(1).map(|one| FlagJob(one, self.1)).collect()
    }

    async fn run(
        &self,
        mailbox: &ImapMailbox,
        session: &mut ImapSession,
        validity: Option<u32>,
    ) -> Result<Vec<Result<(), MailError>>, ImapError> {
        mailbox.flag_on(session, validity, self.0, self.1).await
    }
}

/// The UID of `reference` on a connection whose folder has `validity`, or `None` when the
/// message cannot be addressed there (no UID, or from before a UIDVALIDITY change).
pub(super) fn addressable(reference: &MailRef, validity: Option<u32>) -> Option<u32> {
    reference
        .uid
        .filter(|_| reference.uidvalidity.is_none() || reference.uidvalidity == validity)
}
