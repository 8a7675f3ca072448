//! The IMAP `MailBackend`: fetch without side effects, complete with flags or a move.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::SystemTime;

use futures_util::TryStreamExt;
use plba_contracts::{GroupCommit, async_trait};
use plba_mail::{MailBackend, MailError, MailRef, MemoryBudget, RawMail};
use tokio::sync::Mutex;

use crate::options::{ImapError, ImapOptions};
use crate::session::{ImapSession, connect, timed};

/// One IMAP folder as a mail backend. Fetches run on one connection of their own and
/// completions on another, so marking messages seen (a rename per message on a Maildir
/// server) never holds up the next fetch; a broken connection is dropped and opened again on
/// the next call.
///
/// Concurrent calls are batched: the fetches waiting together share one `UID FETCH` of their
/// sizes and one of their bodies (split so a round trip carries at most
/// [`FETCH_BUDGET_BYTES`] of mail), and the messages marked seen together share one
/// `UID STORE`. Each call still gets its own answer.
#[derive(Debug)]
pub struct ImapMailbox {
    options: ImapOptions,
    name: String,
    session: Mutex<Option<(ImapSession, Option<u32>)>>,
    /// The connection that marks messages seen.
    flags: Mutex<Option<(ImapSession, Option<u32>)>>,
    fetches: GroupCommit<MailRef, Result<Fetched, MailError>>,
    seen: GroupCommit<MailRef, Result<(), MailError>>,
    /// Rejections marked with flags (no rejected folder configured).
    flagged: GroupCommit<MailRef, Result<(), MailError>>,
    budget: MemoryBudget,
}

/// Most messages one batched fetch or flag change names.
const MAX_BATCH: usize = 100;

/// Most message bytes one `UID FETCH` of bodies brings back (a larger message comes alone).
pub const FETCH_BUDGET_BYTES: u64 = 32 * 1024 * 1024;

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
    /// A backend for `options.mailbox`; connects on first use.
    pub fn new(options: ImapOptions) -> Self {
        Self {
            name: options.mailbox_name(),
            budget: MemoryBudget::new(options.memory_budget_bytes),
            options,
            session: Mutex::new(None),
            flags: Mutex::new(None),
            fetches: GroupCommit::new(MAX_BATCH),
            seen: GroupCommit::new(MAX_BATCH),
            flagged: GroupCommit::new(MAX_BATCH),
        }
    }

    /// The mailbox name used in message references.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The options.
    pub fn options(&self) -> &ImapOptions {
        &self.options
    }

    fn unavailable(&self, error: ImapError) -> MailError {
        MailError::Unavailable {
            mailbox: self.name.clone(),
            what: "the IMAP server did not complete the request".to_owned(),
            source: Box::new(error),
        }
    }

    fn gone(&self, reference: &MailRef) -> MailError {
        MailError::Gone {
            mailbox: self.name.clone(),
            key: reference.key.clone(),
        }
    }

    /// Runs `work` on the flag connection (connecting and selecting the folder first), and
    /// drops the connection when anything fails, so the next call starts afresh. Never on
    /// the fetch connection: a fetch may wait there for memory that the caller holds.
    async fn with_session<T>(
        &self,
        reference: &MailRef,
        work: impl AsyncFnOnce(&mut ImapSession, u32) -> Result<T, ImapError>,
    ) -> Result<T, MailError> {
        let mut guard = self.flags.lock().await;
        if guard.is_none() {
            let mut session = connect(&self.options)
                .await
                .map_err(|e| self.unavailable(e))?;
            let selected = timed(
                &self.options,
                "SELECT",
                session.select(&self.options.mailbox),
            )
            .await
            .map_err(|e| self.unavailable(e))?;
            *guard = Some((session, selected.uid_validity));
        }
        let Some((session, uidvalidity)) = guard.as_mut() else {
            return Err(self.unavailable(ImapError::Connection {
                server: self.options.host.clone(),
                what: "no session".to_owned(),
                source: None,
            }));
        };
        // The folder may have changed UIDVALIDITY since it was selected: select again before
        // deciding. A message from before the change cannot be addressed any more; the source
        // publishes the folder's messages again under the new validity.
        if reference.uidvalidity.is_some() && reference.uidvalidity != *uidvalidity {
            match timed(
                &self.options,
                "SELECT",
                session.select(&self.options.mailbox),
            )
            .await
            {
                Ok(selected) => *uidvalidity = selected.uid_validity,
                Err(error) => {
                    *guard = None;
                    return Err(self.unavailable(error));
                }
            }
            if reference.uidvalidity != *uidvalidity {
                return Err(self.gone(reference));
            }
        }
        let Some(uid) = reference.uid else {
            return Err(self.gone(reference));
        };
        let result = work(session, uid).await;
        while session.unsolicited_responses.try_recv().is_ok() {}
        if result.is_err() {
            *guard = None;
        }
        result.map_err(|e| self.unavailable(e))
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
    async fn batch_session<'a>(
        &self,
        guard: &'a mut Option<(ImapSession, Option<u32>)>,
        references: &[MailRef],
    ) -> Result<(&'a mut ImapSession, Option<u32>), ImapError> {
        let options = &self.options;
        if guard.is_none() {
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
    async fn fetch_batch(&self, references: Vec<MailRef>) -> Vec<Result<Fetched, MailError>> {
        self.in_batch(&self.session, FetchJob(&references)).await
    }

    /// One batch of messages given `flags` (e.g. `(\Seen)`), in one `UID STORE`.
    async fn flag_batch(
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
        let uid_of = |r: &MailRef| {
            r.uid
                .filter(|_| r.uidvalidity.is_none() || r.uidvalidity == validity)
        };
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
        let uid_of = |r: &MailRef| {
            r.uid
                .filter(|_| r.uidvalidity.is_none() || r.uidvalidity == validity)
        };
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
enum Fetched {
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

/// Whether a `FETCH FLAGS` answer holds every flag of `wanted` (`(\Seen \Flagged)`).
fn has_flags(fetch: &async_imap::types::Fetch, wanted: &str) -> bool {
    use async_imap::types::Flag;
    let present: Vec<Flag<'_>> = fetch.flags().collect();
    wanted
        .trim_matches(['(', ')'])
        .split_whitespace()
        .all(|name| {
            let flag = match name {
                "\\Seen" => Flag::Seen,
                "\\Flagged" => Flag::Flagged,
                "\\Deleted" => Flag::Deleted,
                "\\Answered" => Flag::Answered,
                "\\Draft" => Flag::Draft,
                other => Flag::Custom(other.to_owned().into()),
            };
            present.contains(&flag)
        })
}

/// Adds `flags` to `uids`; returns the UIDs the server answered for (those it knows).
async fn add_flags(
    session: &mut ImapSession,
    options: &ImapOptions,
    uids: &[u32],
    flags: &str,
) -> Result<std::collections::HashSet<u32>, ImapError> {
    if uids.is_empty() {
        return Ok(std::collections::HashSet::new());
    }
    // Not `.SILENT`: the server answers each message it knows with its flags.
    let stream = timed(
        options,
        "UID STORE",
        session.uid_store(uid_set(uids), format!("+FLAGS {flags}")),
    )
    .await?;
    let answers: Vec<_> = timed(options, "UID STORE", stream.try_collect::<Vec<_>>()).await?;
    Ok(answers.iter().filter_map(|f| f.uid).collect())
}

/// The answer of a batch that was abandoned (its leader cancelled) before it ended.
fn abandoned(mailbox: &str) -> MailError {
    MailError::Unavailable {
        mailbox: mailbox.to_owned(),
        what: "the batch holding this request was abandoned".to_owned(),
        source: "the caller leading the batch was cancelled".into(),
    }
}

/// A UID set for a command: `4,7,9`.
fn uid_set(uids: &[u32]) -> String {
    let mut set = String::with_capacity(uids.len() * 6);
    for (n, uid) in uids.iter().enumerate() {
        if n > 0 {
            set.push(',');
        }
        set.push_str(&uid.to_string());
    }
    set
}

/// `RFC822.SIZE` of each of `uids` this session sees (a missing UID is absent).
async fn message_sizes(
    session: &mut ImapSession,
    options: &ImapOptions,
    uids: &[u32],
) -> Result<HashMap<u32, u32>, ImapError> {
    if uids.is_empty() {
        return Ok(HashMap::new());
    }
    let fetches = timed(
        options,
        "UID FETCH",
        session.uid_fetch(uid_set(uids), "RFC822.SIZE"),
    )
    .await?;
    let fetches: Vec<_> = timed(options, "UID FETCH", fetches.try_collect::<Vec<_>>()).await?;
    Ok(fetches
        .iter()
        .filter_map(|f| Some((f.uid?, f.size?)))
        .collect())
}

/// The whole message and INTERNALDATE of each of `uids`, without setting `\Seen`.
async fn message_bodies(
    session: &mut ImapSession,
    options: &ImapOptions,
    uids: &[u32],
) -> Result<HashMap<u32, (Vec<u8>, Option<SystemTime>)>, ImapError> {
    let fetches = timed(
        options,
        "UID FETCH",
        session.uid_fetch(uid_set(uids), "(BODY.PEEK[] INTERNALDATE)"),
    )
    .await?;
    let fetches: Vec<_> = timed(options, "UID FETCH", fetches.try_collect::<Vec<_>>()).await?;
    Ok(fetches
        .iter()
        .filter_map(|f| {
            let body = f.body()?;
            let received = f.internal_date().map(|d| SystemTime::from(d.to_utc()));
            Some((f.uid?, (body.to_vec(), received)))
        })
        .collect())
}

/// `uids` split into runs whose sizes add up to at most `budget` (a larger message alone).
fn within_budget(uids: &[u32], sizes: &HashMap<u32, u32>, budget: u64) -> Vec<Vec<u32>> {
    let mut chunks: Vec<Vec<u32>> = Vec::new();
    let mut current = Vec::new();
    let mut bytes = 0u64;
    for &uid in uids {
        let size = u64::from(sizes.get(&uid).copied().unwrap_or(0));
        if !current.is_empty() && bytes + size > budget {
            chunks.push(std::mem::take(&mut current));
            bytes = 0;
        }
        current.push(uid);
        bytes += size;
    }
    if !current.is_empty() {
        chunks.push(current);
    }
    chunks
}

async fn store(
    session: &mut ImapSession,
    options: &ImapOptions,
    uid: u32,
    flags: &str,
) -> Result<(), ImapError> {
    let stream = timed(
        options,
        "UID STORE",
        session.uid_store(uid.to_string(), flags),
    )
    .await?;
    timed(options, "UID STORE", stream.try_collect::<Vec<_>>()).await?;
    Ok(())
}

#[async_trait]
impl MailBackend for ImapMailbox {
    async fn fetch(&self, reference: &MailRef) -> Result<RawMail, MailError> {
        loop {
            match self
                .fetches
                .submit(reference.clone(), |batch| self.fetch_batch(batch))
                .await
            {
                Some(Ok(Fetched::Mail(mail))) => return Ok(mail),
                // Memory was short in that batch; the next one waits for it first.
                Some(Ok(Fetched::Later)) => {}
                Some(Err(error)) => return Err(error),
                None => return Err(abandoned(&self.name)),
            }
        }
    }

    async fn mark_seen(&self, reference: &MailRef) -> Result<(), MailError> {
        self.seen
            .submit(reference.clone(), |batch| {
                self.flag_batch(batch, "(\\Seen)")
            })
            .await
            .unwrap_or_else(|| Err(abandoned(&self.name)))
    }

    async fn mark_rejected(&self, reference: &MailRef, _reason: &str) -> Result<(), MailError> {
        let options = &self.options;
        match &self.options.rejected_folder {
            None => self
                .flagged
                .submit(reference.clone(), |batch| {
                    self.flag_batch(batch, "(\\Seen \\Flagged)")
                })
                .await
                .unwrap_or_else(|| Err(abandoned(&self.name))),
            Some(folder) => {
                self.with_session(reference, async |session, uid| {
                    // Creating an existing folder fails harmlessly.
                    let _ = timed(options, "CREATE", session.create(folder)).await;
                    store(session, options, uid, "+FLAGS.SILENT (\\Seen)").await?;
                    match timed(options, "UID MOVE", session.uid_mv(uid.to_string(), folder)).await
                    {
                        Ok(()) => Ok(()),
                        Err(_) => {
                            // Servers without MOVE: copy, mark deleted, expunge that one UID.
                            timed(
                                options,
                                "UID COPY",
                                session.uid_copy(uid.to_string(), folder),
                            )
                            .await?;
                            store(session, options, uid, "+FLAGS.SILENT (\\Deleted)").await?;
                            let expunged =
                                timed(options, "UID EXPUNGE", session.uid_expunge(uid.to_string()))
                                    .await?;
                            timed(options, "UID EXPUNGE", expunged.try_collect::<Vec<_>>()).await?;
                            Ok(())
                        }
                    }
                })
                .await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_uid_set_lists_every_uid() {
        assert_eq!(uid_set(&[4]), "4");
        assert_eq!(uid_set(&[4, 7, 9]), "4,7,9");
    }

    #[test]
    fn bodies_are_fetched_within_the_budget_and_a_large_message_alone() {
        let sizes: HashMap<u32, u32> = [(1, 40), (2, 40), (3, 40), (4, 500), (5, 10)].into();
        assert_eq!(
            within_budget(&[1, 2, 3, 4, 5], &sizes, 100),
            vec![vec![1, 2], vec![3], vec![4], vec![5]]
        );
        assert_eq!(within_budget(&[], &sizes, 100), Vec::<Vec<u32>>::new());
    }
}
