//! The IMAP backend runs the shared `MailBackend` conformance suite against a real Dovecot
//! (one per check, so each starts with an empty INBOX), looking at the mailbox through
//! `doveadm` to see where each message stands.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on broken setup

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use plba_contracts::{Secret, async_trait};
use plba_mail::{MailBackend, MailRef};
use plba_mail_imap::{ImapMailbox, ImapOptions, Security};
use plba_testkit::mail_backend::{MailboxFactory, MailboxSpec, Standing, TestMailbox};
use plba_testkit::servers::{Dovecot, IMAP_USER};
use plba_util::Unpoisoned;

/// The folder the backend reads.
const FOLDER: &str = "INBOX";

struct DovecotFactory {
    dovecot: Arc<Dovecot>,
}

impl DovecotFactory {
    /// `None` outside CI when Dovecot cannot be had (under `CI=true` that fails instead).
    fn start() -> Option<Self> {
        Dovecot::start().map(|dovecot| Self {
            dovecot: Arc::new(dovecot),
        })
    }
}

#[async_trait]
impl MailboxFactory for DovecotFactory {
    async fn create(&self, spec: MailboxSpec) -> Box<dyn TestMailbox> {
        let options = ImapOptions {
            host: "127.0.0.1".into(),
            port: self.dovecot.port(),
            security: Security::Plain,
            ca_file: None,
            user: IMAP_USER.0.into(),
            password: Secret::new(IMAP_USER.1.into()),
            mailbox: FOLDER.into(),
            poll_interval_ms: 50,
            idle_max_ms: 60_000,
            max_message_bytes: spec.max_message_bytes,
            memory_budget_bytes: 1024 * 1024,
            rejected_folder: spec.rejected_folder,
            command_timeout_ms: 10_000,
            reconnect_initial_ms: 50,
            reconnect_max_ms: 500,
            unhealthy_after_ms: 60_000,
        };
        Box::new(DovecotMailbox {
            backend: ImapMailbox::new(options),
            dovecot: Arc::clone(&self.dovecot),
            message_ids: Mutex::new(HashMap::new()),
        })
    }
}

struct DovecotMailbox {
    backend: ImapMailbox,
    dovecot: Arc<Dovecot>,
    /// The Message-ID of each message delivered, by key: a moved message has a new UID.
    message_ids: Mutex<HashMap<String, String>>,
}

impl DovecotMailbox {
    /// `doveadm` with flow output, off the async threads' way (it runs a process).
    fn doveadm(&self, args: &[&str]) -> String {
        let mut full = vec!["-f", "flow"];
        full.extend_from_slice(args);
        tokio::task::block_in_place(|| self.dovecot.doveadm(&full))
    }

    fn uidvalidity(&self) -> u32 {
        let status = self.doveadm(&[
            "mailbox",
            "status",
            "-u",
            IMAP_USER.0,
            "uidvalidity",
            FOLDER,
        ]);
        field(&status, "uidvalidity").unwrap().parse().unwrap()
    }

    /// The references of the messages of the folder that match `query` (doveadm search
    /// words), as the source makes them.
    fn references(&self, query: &[&str]) -> Vec<MailRef> {
        let validity = self.uidvalidity();
        let mut args = vec!["fetch", "-u", IMAP_USER.0, "uid", "mailbox", FOLDER];
        args.extend_from_slice(query);
        self.doveadm(&args)
            .lines()
            .filter_map(|line| field(line, "uid"))
            .map(|uid| {
                let uid: u32 = uid.parse().unwrap();
                MailRef {
                    mailbox: self.backend.name().to_owned(),
                    key: format!("{validity}:{uid}"),
                    uidvalidity: Some(validity),
                    uid: Some(uid),
                }
            })
            .collect()
    }

    fn message_id(&self, reference: &MailRef) -> String {
        self.message_ids
            .lock_or_recover()
            .get(&reference.key)
            .cloned()
            .unwrap_or_else(|| panic!("{} was not delivered by this mailbox", reference.key))
    }
}

/// The value of `name=` in a line of doveadm's flow output (`flags=` runs to the line's end).
fn field<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let start = line
        .split_whitespace()
        .find(|word| word.starts_with(&format!("{name}=")))?;
    let value = start.split_once('=')?.1;
    Some(if name == "flags" {
        line.split_once(" flags=")
            .map_or(value, |(_, rest)| rest.trim_end())
    } else {
        value
    })
}

#[async_trait]
impl TestMailbox for DovecotMailbox {
    fn backend(&self) -> &dyn MailBackend {
        &self.backend
    }

    async fn deliver(&self, message: &[u8]) -> MailRef {
        let text = String::from_utf8_lossy(message);
        let id = text
            .lines()
            .find_map(|line| line.strip_prefix("Message-ID: "))
            .expect("the suite's messages have a Message-ID")
            .trim()
            .to_owned();
        tokio::task::block_in_place(|| self.dovecot.append(FOLDER, message));
        let found = self.references(&["header", "Message-ID", &id]);
        assert_eq!(found.len(), 1, "{id} appended once: {found:?}");
        let reference = found.into_iter().next().unwrap();
        self.message_ids
            .lock_or_recover()
            .insert(reference.key.clone(), id);
        reference
    }

    async fn remove(&self, reference: &MailRef) {
        let uid = reference.uid.unwrap().to_string();
        self.doveadm(&["expunge", "-u", IMAP_USER.0, "mailbox", FOLDER, "uid", &uid]);
    }

    async fn listed(&self) -> Vec<MailRef> {
        // What the source publishes: the folder's UID SEARCH UNSEEN.
        self.references(&["unseen"])
    }

    async fn standing(&self, reference: &MailRef) -> Standing {
        let id = self.message_id(reference);
        // Every folder of the user: a moved message is found wherever it went.
        let found = self.doveadm(&[
            "fetch",
            "-u",
            IMAP_USER.0,
            "mailbox flags",
            "header",
            "Message-ID",
            &id,
        ]);
        let places: Vec<&str> = found.lines().filter(|line| !line.is_empty()).collect();
        assert!(places.len() <= 1, "message in several places: {places:?}");
        let Some(place) = places.first() else {
            return Standing::Missing;
        };
        let mailbox = field(place, "mailbox").unwrap();
        if mailbox != FOLDER {
            return Standing::InFolder(mailbox.to_owned());
        }
        let flags = field(place, "flags").unwrap_or("");
        if flags.contains("\\Flagged") {
            Standing::Flagged
        } else if flags.contains("\\Seen") {
            Standing::Seen
        } else {
            Standing::New
        }
    }
}

plba_testkit::mail_backend_conformance!(DovecotFactory::start());
