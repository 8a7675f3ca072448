//! "Any `MailBackend` must…": the conformance suite every mail backend runs.
//!
//! A backend's tests provide a [`MailboxFactory`] (a mailbox of its kind, the backend over
//! it, and the mail store's own view of it) and invoke
//! [`mail_backend_conformance!`](crate::mail_backend_conformance); every check below then
//! runs as its own test:
//!
//! ```ignore
//! struct Factory;
//! #[plba_contracts::async_trait]
//! impl plba_testkit::mail_backend::MailboxFactory for Factory {
//!     async fn create(&self, spec: plba_testkit::mail_backend::MailboxSpec) -> Box<dyn plba_testkit::mail_backend::TestMailbox> {
//!         todo!("a new, empty mailbox of the backend, configured as `spec` says")
//!     }
//! }
//! // `None` when the backend's server cannot be had (outside CI only).
//! plba_testkit::mail_backend_conformance!(Some(Factory));
//! ```

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::future::join_all;
use plba_contracts::async_trait;
use plba_mail::{MailBackend, MailError, MailRef};

use crate::wait::within;

/// Generous deadline for one backend call; only reached when broken.
const PROMPT: Duration = Duration::from_secs(30);

/// The folder the suite asks rejected messages to be moved to.
pub const REJECTED_FOLDER: &str = "Rejected";

/// How the mailbox a check needs is configured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MailboxSpec {
    /// Larger messages are refused (`MailError::TooLarge`) without being read.
    pub max_message_bytes: u64,
    /// Where rejected messages go: `None` flags them where they are.
    pub rejected_folder: Option<String>,
}

impl Default for MailboxSpec {
    fn default() -> Self {
        Self {
            max_message_bytes: 4096,
            rejected_folder: None,
        }
    }
}

/// Where a message stands, as the mail store itself shows it (not as the backend says).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Standing {
    /// Unseen where it was delivered: a scan lists it.
    New,
    /// Seen where it was delivered.
    Seen,
    /// Flagged (and seen) where it was delivered: rejected in place.
    Flagged,
    /// In the named folder, moved there.
    InFolder(String),
    /// Nowhere in the mailbox.
    Missing,
}

/// A mailbox of one backend, for one check: the backend under test, and ways to act on and
/// look at the mailbox without it, as a mail server, a mail client and the backend's
/// source would.
#[async_trait]
pub trait TestMailbox: Send + Sync {
    /// The backend under test, over this mailbox.
    fn backend(&self) -> &dyn MailBackend;

    /// Delivers `message` (a whole RFC 5322 message with a unique `Message-ID`) as new
    /// mail; answers its reference as the backend's source publishes it.
    async fn deliver(&self, message: &[u8]) -> MailRef;

    /// Removes the message as someone else would (a mail client, an operator).
    async fn remove(&self, reference: &MailRef);

    /// The messages the backend's source lists as new now, in any order.
    async fn listed(&self) -> Vec<MailRef>;

    /// Where the message stands; panics when it is in more than one place (a move that
    /// left a copy behind).
    async fn standing(&self, reference: &MailRef) -> Standing;
}

/// Makes the mailbox of a check. The suite's macro makes a new factory for every check, and
/// a check asks it for one mailbox.
#[async_trait]
pub trait MailboxFactory: Send + Sync {
    /// A new, empty mailbox configured as `spec` says.
    async fn create(&self, spec: MailboxSpec) -> Box<dyn TestMailbox>;
}

/// A message of about `body_bytes` bytes, unique by its `Message-ID` and body; `n` tells it
/// apart in failure messages.
fn message(n: u32, body_bytes: usize) -> Vec<u8> {
    static SERIAL: AtomicU64 = AtomicU64::new(0);
    let serial = SERIAL.fetch_add(1, Ordering::Relaxed);
    let id = format!(
        "<conformance-{n}-{serial}-{}@plba.test>",
        std::process::id()
    );
    let mut body = format!("message {n} ({id})\r\n");
    while body.len() < body_bytes {
        body.push_str("0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrs\r\n");
    }
    format!(
        "From: sender@plba.test\r\nTo: orders@plba.test\r\nSubject: message {n}\r\n\
         Message-ID: {id}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}"
    )
    .into_bytes()
}

fn keys<'a>(references: impl IntoIterator<Item = &'a MailRef>) -> BTreeSet<String> {
    references.into_iter().map(|r| r.key.clone()).collect()
}

async fn standing(mailbox: &dyn TestMailbox, reference: &MailRef) -> Standing {
    within(
        PROMPT,
        "the mailbox's own view",
        mailbox.standing(reference),
    )
    .await
}

async fn listed(mailbox: &dyn TestMailbox) -> BTreeSet<String> {
    keys(&within(PROMPT, "the source's listing", mailbox.listed()).await)
}

async fn deliver(mailbox: &dyn TestMailbox, message: &[u8]) -> MailRef {
    within(PROMPT, "a delivery", mailbox.deliver(message)).await
}

/// Fetches `reference`, which must succeed with exactly `message`.
async fn fetch_ok(mailbox: &dyn TestMailbox, reference: &MailRef, message: &[u8]) {
    let mail = within(PROMPT, "a fetch", mailbox.backend().fetch(reference))
        .await
        .unwrap_or_else(|e| panic!("fetch of {}: {e:?}", reference.key));
    assert_eq!(
        &mail.reference, reference,
        "the fetched mail names its reference"
    );
    assert!(
        mail.bytes[..] == message[..],
        "message {} came back changed: {:?}",
        reference.key,
        String::from_utf8_lossy(&mail.bytes)
    );
}

/// Fetches `reference`, which must answer `Gone`.
async fn fetch_gone(mailbox: &dyn TestMailbox, reference: &MailRef, why: &str) {
    let fetched = within(PROMPT, "a fetch", mailbox.backend().fetch(reference)).await;
    assert!(
        matches!(fetched, Err(MailError::Gone { .. })),
        "{why}: fetching {} answered {:?}",
        reference.key,
        fetched.map(|mail| mail.reference)
    );
}

async fn mark_seen(mailbox: &dyn TestMailbox, reference: &MailRef) {
    within(PROMPT, "mark seen", mailbox.backend().mark_seen(reference))
        .await
        .unwrap_or_else(|e| panic!("mark_seen of {}: {e:?}", reference.key));
}

async fn mark_rejected(mailbox: &dyn TestMailbox, reference: &MailRef) {
    let rejected = mailbox
        .backend()
        .mark_rejected(reference, "not an order: no attachment");
    within(PROMPT, "mark rejected", rejected)
        .await
        .unwrap_or_else(|e| panic!("mark_rejected of {}: {e:?}", reference.key));
}

/// New mail is listed, fetched whole — bytes and reference — as often as asked, and stays
/// new: fetching has no side effect.
pub async fn fetch_hands_out_the_whole_message_and_leaves_it_new(factory: &dyn MailboxFactory) {
    let mailbox = factory.create(MailboxSpec::default()).await;
    let mailbox = &*mailbox;
    let messages = [message(1, 200), message(2, 2000)];
    let mut references = Vec::new();
    for message in &messages {
        references.push(deliver(mailbox, message).await);
    }
    assert_eq!(
        listed(mailbox).await,
        keys(&references),
        "both listed as new"
    );
    for _ in 0..2 {
        for (reference, message) in references.iter().zip(&messages) {
            fetch_ok(mailbox, reference, message).await;
        }
    }
    for reference in &references {
        assert_eq!(standing(mailbox, reference).await, Standing::New);
    }
    assert_eq!(
        listed(mailbox).await,
        keys(&references),
        "still listed after the fetches"
    );
}

/// `mark_seen` completes that message only: it is seen, no longer listed, and `Gone` to a
/// later fetch (which the completion wrapper takes as done); the others stay new.
pub async fn mark_seen_completes_that_message_only(factory: &dyn MailboxFactory) {
    let mailbox = factory.create(MailboxSpec::default()).await;
    let mailbox = &*mailbox;
    let (first, second) = (message(1, 300), message(2, 300));
    let done = deliver(mailbox, &first).await;
    let waiting = deliver(mailbox, &second).await;
    fetch_ok(mailbox, &done, &first).await;
    mark_seen(mailbox, &done).await;
    assert_eq!(standing(mailbox, &done).await, Standing::Seen);
    assert_eq!(standing(mailbox, &waiting).await, Standing::New);
    assert_eq!(listed(mailbox).await, keys([&waiting]));
    fetch_gone(
        mailbox,
        &done,
        "a message marked seen is not handed out again",
    )
    .await;
    fetch_ok(mailbox, &waiting, &second).await;
}

/// Without a rejected folder, `mark_rejected` flags the message where it is (never deletes
/// it): no longer listed, `Gone` to a later fetch; the others stay new.
pub async fn mark_rejected_flags_the_message_where_it_is(factory: &dyn MailboxFactory) {
    let mailbox = factory.create(MailboxSpec::default()).await;
    let mailbox = &*mailbox;
    let (first, second) = (message(1, 300), message(2, 300));
    let rejected = deliver(mailbox, &first).await;
    let waiting = deliver(mailbox, &second).await;
    fetch_ok(mailbox, &rejected, &first).await;
    mark_rejected(mailbox, &rejected).await;
    assert_eq!(standing(mailbox, &rejected).await, Standing::Flagged);
    assert_eq!(standing(mailbox, &waiting).await, Standing::New);
    assert_eq!(listed(mailbox).await, keys([&waiting]));
    fetch_gone(
        mailbox,
        &rejected,
        "a rejected message is not handed out again",
    )
    .await;
}

/// With a rejected folder (missing until the first rejection), `mark_rejected` moves the
/// message there, once however often it is called; it is no longer listed, and a message
/// marked seen stays where it is.
pub async fn mark_rejected_moves_the_message_to_the_rejected_folder(factory: &dyn MailboxFactory) {
    let spec = MailboxSpec {
        rejected_folder: Some(REJECTED_FOLDER.to_owned()),
        ..MailboxSpec::default()
    };
    let mailbox = factory.create(spec).await;
    let mailbox = &*mailbox;
    let (first, second) = (message(1, 300), message(2, 300));
    let rejected = deliver(mailbox, &first).await;
    let done = deliver(mailbox, &second).await;
    fetch_ok(mailbox, &rejected, &first).await;
    mark_rejected(mailbox, &rejected).await;
    assert_eq!(
        standing(mailbox, &rejected).await,
        Standing::InFolder(REJECTED_FOLDER.to_owned())
    );
    // A retried completion (after a crash) must not move it again nor fail.
    mark_rejected(mailbox, &rejected).await;
    assert_eq!(
        standing(mailbox, &rejected).await,
        Standing::InFolder(REJECTED_FOLDER.to_owned())
    );
    assert_eq!(listed(mailbox).await, keys([&done]));
    fetch_gone(
        mailbox,
        &rejected,
        "a moved message is not handed out again",
    )
    .await;
    mark_seen(mailbox, &done).await;
    assert_eq!(standing(mailbox, &done).await, Standing::Seen);
}

/// Completing a message that is already complete succeeds and undoes nothing, whichever
/// completion came first: a completion is retried after a crash.
pub async fn completing_a_completed_message_succeeds(factory: &dyn MailboxFactory) {
    let mailbox = factory.create(MailboxSpec::default()).await;
    let mailbox = &*mailbox;
    let seen = deliver(mailbox, &message(1, 300)).await;
    let rejected = deliver(mailbox, &message(2, 300)).await;
    mark_seen(mailbox, &seen).await;
    mark_seen(mailbox, &seen).await;
    assert_eq!(standing(mailbox, &seen).await, Standing::Seen);
    mark_rejected(mailbox, &rejected).await;
    mark_rejected(mailbox, &rejected).await;
    assert_eq!(standing(mailbox, &rejected).await, Standing::Flagged);
    // The other completion after one is done: it may add a flag, but fails nothing and
    // brings nothing back as new.
    mark_rejected(mailbox, &seen).await;
    mark_seen(mailbox, &rejected).await;
    assert_eq!(standing(mailbox, &rejected).await, Standing::Flagged);
    assert!(listed(mailbox).await.is_empty(), "nothing listed again");
}

/// A message over `max_message_bytes` is refused as `TooLarge` with its size and the limit,
/// without being marked; it can still be rejected (what the completion wrapper does with
/// it), and the messages beside it are fetched as usual.
pub async fn a_message_over_the_size_limit_is_refused_and_can_be_rejected(
    factory: &dyn MailboxFactory,
) {
    let spec = MailboxSpec::default();
    let limit = spec.max_message_bytes;
    let mailbox = factory.create(spec).await;
    let mailbox = &*mailbox;
    let large = message(1, 5000);
    let small = message(2, 300);
    let too_large = deliver(mailbox, &large).await;
    let fine = deliver(mailbox, &small).await;
    let fetched = within(PROMPT, "a fetch", mailbox.backend().fetch(&too_large)).await;
    match fetched {
        Err(MailError::TooLarge {
            size, limit: told, ..
        }) => {
            assert_eq!(size, large.len() as u64, "the message's size");
            assert_eq!(told, limit, "the configured limit");
        }
        other => panic!(
            "a {}-byte message under a {limit}-byte limit: {:?}",
            large.len(),
            other.map(|mail| mail.bytes.len())
        ),
    }
    assert_eq!(standing(mailbox, &too_large).await, Standing::New);
    fetch_ok(mailbox, &fine, &small).await;
    mark_rejected(mailbox, &too_large).await;
    assert_eq!(standing(mailbox, &too_large).await, Standing::Flagged);
    assert_eq!(listed(mailbox).await, keys([&fine]));
}

/// A message someone else removed is `Gone` to a fetch, and completing it succeeds without
/// bringing it back: there is nothing left to mark.
pub async fn a_removed_message_is_gone_and_completing_it_succeeds(factory: &dyn MailboxFactory) {
    let mailbox = factory.create(MailboxSpec::default()).await;
    let mailbox = &*mailbox;
    let (first, second) = (message(1, 300), message(2, 300));
    let removed = deliver(mailbox, &first).await;
    let kept = deliver(mailbox, &second).await;
    fetch_ok(mailbox, &removed, &first).await;
    within(PROMPT, "a removal", mailbox.remove(&removed)).await;
    fetch_gone(mailbox, &removed, "a removed message").await;
    mark_seen(mailbox, &removed).await;
    mark_rejected(mailbox, &removed).await;
    assert_eq!(standing(mailbox, &removed).await, Standing::Missing);
    assert_eq!(listed(mailbox).await, keys([&kept]));
    fetch_ok(mailbox, &kept, &second).await;
}

/// Calls made together (the pool's handlers fetch and complete at once) each get their own
/// answer: their own message, `Gone` for one removed, and each completion applied.
pub async fn concurrent_calls_each_get_their_own_answer(factory: &dyn MailboxFactory) {
    let mailbox = factory.create(MailboxSpec::default()).await;
    let mailbox = &*mailbox;
    let messages: Vec<Vec<u8>> = (0..8).map(|n| message(n, 200 + 150 * n as usize)).collect();
    let mut references = Vec::new();
    for message in &messages {
        references.push(deliver(mailbox, message).await);
    }
    let removed = deliver(mailbox, &message(99, 300)).await;
    within(PROMPT, "a removal", mailbox.remove(&removed)).await;
    let backend = mailbox.backend();
    let asked = references.iter().chain([&removed]);
    let answers = within(
        PROMPT,
        "fetches together",
        join_all(asked.map(|reference| backend.fetch(reference))),
    )
    .await;
    for (n, answer) in answers.iter().enumerate() {
        match (messages.get(n), answer) {
            (Some(message), Ok(mail)) => {
                assert_eq!(
                    mail.reference, references[n],
                    "fetch {n} got another's answer"
                );
                assert!(
                    mail.bytes[..] == message[..],
                    "fetch {n} got another's bytes"
                );
            }
            (None, Err(MailError::Gone { .. })) => {}
            (_, other) => panic!(
                "fetch {n}: {:?}",
                other.as_ref().map(|mail| &mail.reference)
            ),
        }
    }
    let (to_see, to_reject) = references.split_at(4);
    let seen = join_all(to_see.iter().map(|reference| backend.mark_seen(reference)));
    let rejected = join_all(
        to_reject
            .iter()
            .map(|reference| backend.mark_rejected(reference, "rejected together")),
    );
    let (seen, rejected) = within(
        PROMPT,
        "completions together",
        futures_util::future::join(seen, rejected),
    )
    .await;
    assert!(
        seen.iter().chain(&rejected).all(Result::is_ok),
        "{seen:?} {rejected:?}"
    );
    for reference in to_see {
        assert_eq!(standing(mailbox, reference).await, Standing::Seen);
    }
    for reference in to_reject {
        assert_eq!(standing(mailbox, reference).await, Standing::Flagged);
    }
    assert!(listed(mailbox).await.is_empty(), "every message completed");
}

/// Mail delivered after the backend's first calls (its connections open, its folder
/// selected) is fetched and completed like the first: a backend does not answer from a
/// stale view of the mailbox.
pub async fn mail_delivered_while_the_backend_is_in_use_is_found(factory: &dyn MailboxFactory) {
    let mailbox = factory.create(MailboxSpec::default()).await;
    let mailbox = &*mailbox;
    let first = message(1, 300);
    let early = deliver(mailbox, &first).await;
    fetch_ok(mailbox, &early, &first).await;
    mark_seen(mailbox, &early).await;
    let (second, third) = (message(2, 300), message(3, 300));
    let later = deliver(mailbox, &second).await;
    let latest = deliver(mailbox, &third).await;
    fetch_ok(mailbox, &later, &second).await;
    mark_seen(mailbox, &later).await;
    mark_rejected(mailbox, &latest).await;
    assert_eq!(standing(mailbox, &later).await, Standing::Seen);
    assert_eq!(standing(mailbox, &latest).await, Standing::Flagged);
    assert!(listed(mailbox).await.is_empty());
}

/// Expands to one `#[tokio::test]` per check of the mail backend suite. `$factory` is an
/// expression of type `Option<impl MailboxFactory>`, evaluated once per check: `None` when
/// the backend's server cannot be had, which the test kit's servers allow only outside CI
/// (the check then passes without running; under `CI=true` the server start fails it).
/// The calling crate needs `tokio` (with `macros` and `rt-multi-thread`) as a
/// dev-dependency.
#[macro_export]
macro_rules! mail_backend_conformance {
    ($factory:expr) => {
        $crate::mail_backend_conformance!(@tests $factory;
            fetch_hands_out_the_whole_message_and_leaves_it_new,
            mark_seen_completes_that_message_only,
            mark_rejected_flags_the_message_where_it_is,
            mark_rejected_moves_the_message_to_the_rejected_folder,
            completing_a_completed_message_succeeds,
            a_message_over_the_size_limit_is_refused_and_can_be_rejected,
            a_removed_message_is_gone_and_completing_it_succeeds,
            concurrent_calls_each_get_their_own_answer,
            mail_delivered_while_the_backend_is_in_use_is_found,
        );
    };
    (@tests $factory:expr; $($check:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                let Some(factory) = $factory else {
                    return;
                };
                $crate::mail_backend::$check(&factory).await;
            }
        )*
    };
}
