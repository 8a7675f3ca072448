//! Where a message is: the task payload of a mail source.

use plba_contracts::Task;
use serde::{Deserialize, Serialize};

/// Identifies one message in one mailbox, for any backend.
///
/// Maildir uses `key` (the file's unique name); IMAP uses `uidvalidity` and `uid` as well.
/// Serialized as the JSON payload of the message's task.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MailRef {
    /// The mailbox (a Maildir path or an IMAP `user@host/folder`).
    pub mailbox: String,
    /// The message's key within the mailbox (Maildir unique name, or `uidvalidity:uid`).
    pub key: String,
    /// IMAP UIDVALIDITY, when the backend has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uidvalidity: Option<u32>,
    /// IMAP UID, when the backend has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<u32>,
}

/// The task name mail sources publish under.
pub const MAIL_TASK: &str = "mail.received";

impl MailRef {
    /// A reference by key only (Maildir).
    pub fn new(mailbox: impl Into<String>, key: impl Into<String>) -> Self {
        Self {
            mailbox: mailbox.into(),
            key: key.into(),
            uidvalidity: None,
            uid: None,
        }
    }

    /// The in-flight identity: mailbox and key together.
    pub fn identity(&self) -> String {
        format!("{}\u{0}{}", self.mailbox, self.key)
    }

    /// The task that carries this reference.
    pub fn to_task(&self) -> Result<Task, serde_json::Error> {
        Task::json(MAIL_TASK, self)
    }

    /// Reads the reference out of a task.
    pub fn from_task(task: &Task) -> Result<Self, serde_json::Error> {
        task.payload_json()
    }
}
