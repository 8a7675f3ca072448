//! The IMAP `MailBackend`: fetch without side effects, complete with flags or a move.

use std::time::SystemTime;

use bytes::Bytes;
use futures_util::TryStreamExt;
use plba_contracts::async_trait;
use plba_mail::{MailBackend, MailError, MailRef, RawMail};
use tokio::sync::Mutex;

use crate::options::{ImapError, ImapOptions};
use crate::session::{ImapSession, connect, timed};

/// One IMAP folder as a mail backend. Completions run on a connection of their own, one at
/// a time; a broken connection is dropped and opened again on the next call.
#[derive(Debug)]
pub struct ImapMailbox {
    options: ImapOptions,
    name: String,
    session: Mutex<Option<(ImapSession, Option<u32>)>>,
}

impl ImapMailbox {
    /// A backend for `options.mailbox`; connects on first use.
    pub fn new(options: ImapOptions) -> Self {
        Self {
            name: options.mailbox_name(),
            options,
            session: Mutex::new(None),
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

    /// Runs `work` on the completion session (connecting and selecting the folder first),
    /// and drops the session when anything fails, so the next call starts afresh.
    async fn with_session<T>(
        &self,
        reference: &MailRef,
        work: impl AsyncFnOnce(&mut ImapSession, u32) -> Result<T, ImapError>,
    ) -> Result<T, MailError> {
        let mut guard = self.session.lock().await;
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

/// `RFC822.SIZE` of message `uid`, `None` when this session sees no such message.
async fn message_size(
    session: &mut ImapSession,
    options: &ImapOptions,
    uid: u32,
) -> Result<Option<u32>, ImapError> {
    let sizes = timed(
        options,
        "UID FETCH",
        session.uid_fetch(uid.to_string(), "RFC822.SIZE"),
    )
    .await?;
    let sizes: Vec<_> = timed(options, "UID FETCH", sizes.try_collect::<Vec<_>>()).await?;
    Ok(sizes.iter().find_map(|f| f.size))
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
        let limit = self.options.max_message_bytes;
        let options = &self.options;
        let fetched = self
            .with_session(reference, async |session, uid| {
                let mut size = message_size(session, options, uid).await?;
                if size.is_none() {
                    // This connection learns of messages that arrived after its last command
                    // only when it syncs: a message the source just found would look gone.
                    // NOOP syncs; only a message still missing after it is really gone.
                    timed(options, "NOOP", session.noop()).await?;
                    size = message_size(session, options, uid).await?;
                }
                let Some(size) = size else {
                    return Ok(None);
                };
                if u64::from(size) > limit {
                    return Ok(Some(Err(u64::from(size))));
                }
                let bodies = timed(
                    options,
                    "UID FETCH",
                    session.uid_fetch(uid.to_string(), "(BODY.PEEK[] INTERNALDATE)"),
                )
                .await?;
                let bodies: Vec<_> =
                    timed(options, "UID FETCH", bodies.try_collect::<Vec<_>>()).await?;
                Ok(bodies.iter().find_map(|f| {
                    let body = f.body()?;
                    let received = f.internal_date().map(|d| SystemTime::from(d.to_utc()));
                    Some(Ok((Bytes::copy_from_slice(body), received)))
                }))
            })
            .await?;
        match fetched {
            None => Err(self.gone(reference)),
            Some(Err(size)) => Err(MailError::TooLarge {
                key: reference.key.clone(),
                size,
                limit,
            }),
            Some(Ok((bytes, received_at))) => Ok(RawMail {
                reference: reference.clone(),
                bytes,
                received_at,
            }),
        }
    }

    async fn mark_seen(&self, reference: &MailRef) -> Result<(), MailError> {
        let options = &self.options;
        self.with_session(reference, async |session, uid| {
            store(session, options, uid, "+FLAGS.SILENT (\\Seen)").await
        })
        .await
    }

    async fn mark_rejected(&self, reference: &MailRef, _reason: &str) -> Result<(), MailError> {
        let options = &self.options;
        match &self.options.rejected_folder {
            None => {
                self.with_session(reference, async |session, uid| {
                    store(session, options, uid, "+FLAGS.SILENT (\\Seen \\Flagged)").await
                })
                .await
            }
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
