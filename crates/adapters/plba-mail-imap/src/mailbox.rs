//! The IMAP `MailBackend`: fetch without side effects, complete with flags or a move.

mod batch;
mod commands;

use std::sync::atomic::{AtomicU64, Ordering};

use futures_util::TryStreamExt;
use plba_contracts::async_trait;
use plba_mail::{MailBackend, MailError, MailRef, MemoryBudget, RawMail};
use plba_util::GroupCommit;
use tokio::sync::Mutex;

use crate::options::{ImapError, ImapOptions};
use crate::session::{ImapSession, timed};
use batch::Fetched;
use commands::store;

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
    /// Connections tried, for status and tests (each is a login).
    connects: AtomicU64,
}

/// Most messages one batched fetch or flag change names.
const MAX_BATCH: usize = 256;

/// Most message bytes one `UID FETCH` of bodies brings back (a larger message comes alone).
pub const FETCH_BUDGET_BYTES: u64 = 32 * 1024 * 1024;

impl ImapMailbox {
    /// A backend for `options.mailbox`; connects on first use, or earlier through
    /// [`connect_ahead`](Self::connect_ahead).
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
            connects: AtomicU64::new(0),
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

    /// Opens the fetch and the completion connections now, side by side, rather than one
    /// after the other when the first mail is fetched and the first is marked: each is a
    /// login and a `SELECT`, which on a large folder can take the server a tenth of a
    /// second. Best effort: a connection that cannot be opened now is opened on first use,
    /// as always.
    pub async fn connect_ahead(&self) {
        let open = async |slot: &Mutex<Option<(ImapSession, Option<u32>)>>| {
            let mut guard = slot.lock().await;
            if let Err(error) = self.batch_session(&mut guard, &[]).await {
                *guard = None;
                tracing::debug!(mailbox = %self.name, error = %plba_util::error_chain(&error), "could not connect ahead; connecting on first use");
            }
        };
        tokio::join!(open(&self.session), open(&self.flags));
    }

    /// How many of its two connections (fetch, completion) the mailbox holds open.
    pub async fn open_connections(&self) -> usize {
        usize::from(self.session.lock().await.is_some())
            + usize::from(self.flags.lock().await.is_some())
    }

    /// How many connections (each a login) the mailbox tried, for status and tests: with a
    /// wrong password, the source's own login is refused and the mailbox tries none ahead.
    pub fn connection_attempts(&self) -> u64 {
        self.connects.load(Ordering::Relaxed)
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
        let (session, validity) = match self
            .batch_session(&mut guard, std::slice::from_ref(reference))
            .await
        {
            Ok(opened) => opened,
            Err(error) => {
                *guard = None;
                return Err(self.unavailable(error));
            }
        };
        // A message from before a UIDVALIDITY change cannot be addressed any more; the source
        // publishes the folder's messages again under the new validity.
        let Some(uid) = batch::addressable(reference, validity) else {
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

/// The answer of a batch that was abandoned (its leader cancelled) before it ended.
fn abandoned(mailbox: &str) -> MailError {
    MailError::Unavailable {
        mailbox: mailbox.to_owned(),
        what: "the batch holding this request was abandoned".to_owned(),
        source: "the caller leading the batch was cancelled".into(),
    }
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
