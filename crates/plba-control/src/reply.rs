//! An action's answer, whatever the transport: a status, a body, and what happened to the
//! caller's browser session, if anything.

use serde_json::Value;

/// An answer body.
#[derive(Clone, Debug, PartialEq)]
pub enum ReplyBody {
    /// JSON.
    Json(Value),
    /// Text with its content type (metrics).
    Text {
        /// The `Content-Type`.
        content_type: &'static str,
        /// The text.
        text: String,
    },
}

/// A session opened or ended by the action: the transport carries it to the browser (over
/// HTTP, as an HttpOnly cookie), never in the body, so no script of the page can read it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionChange {
    /// A session was opened.
    Opened {
        /// The session's id: the browser presents it instead of a token.
        id: String,
        /// How long it lasts.
        lifetime_seconds: u64,
    },
    /// The session was ended: the browser should forget it.
    Ended,
}

/// A successful answer: an HTTP-style status code (probes answer 503 with a body of their
/// own, which is not an error), a body, and a session change.
#[derive(Clone, Debug, PartialEq)]
pub struct Reply {
    /// 200, 202, or 503 for a probe that fails.
    pub status: u16,
    /// The body.
    pub body: ReplyBody,
    /// A session opened or ended.
    pub session: Option<SessionChange>,
}

impl Reply {
    /// A JSON answer with `status`.
    pub(crate) fn json(status: u16, value: Value) -> Self {
        Self {
            status,
            body: ReplyBody::Json(value),
            session: None,
        }
    }

    /// A 200 JSON answer.
    pub(crate) fn ok(value: Value) -> Self {
        Self::json(200, value)
    }

    /// The same answer, carrying `change` to the transport.
    pub(crate) fn with_session(mut self, change: SessionChange) -> Self {
        self.session = Some(change);
        self
    }
}
