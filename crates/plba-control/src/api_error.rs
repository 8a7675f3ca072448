//! Why the control plane refused or failed a request: one type, with each kind's status
//! code and stable error code decided here and nowhere else.

/// An answer that is not the action's result. Every kind has one HTTP status and one stable
/// `code` (what clients match on); the message says what and why for a person.
///
/// On the wire it is `{"error": {"code": "...", "message": "..."}}`. It is that wire form,
/// not a chain of causes: a failure below the control plane (a reload that did not
/// validate, a queue that did not answer) arrives already flattened into its message with
/// `plba_util::error_chain`, since the client sees one line either way.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// The request is malformed: a parameter missing or not of its type.
    #[error("{0}")]
    BadRequest(String),
    /// No credentials, or credentials that match nobody.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// The client's address has used up its failed sign-ins
    /// (`platform.control.auth_failures_per_minute`); it may try again after the wait.
    #[error("too many failed sign-ins from this address; try again in {retry_after_secs} s")]
    TooManyFailures {
        /// Seconds until one more try is allowed (the `Retry-After` header).
        retry_after_secs: u64,
    },
    /// The token has signed in more often than a person does
    /// (10 a minute); it may sign in again after the wait.
    #[error("too many sign-ins with this token; try again in {retry_after_secs} s")]
    TooManySignIns {
        /// Seconds until one more sign-in is allowed (the `Retry-After` header).
        retry_after_secs: u64,
    },
    /// The caller has made more tokens than a person does (10 a minute); they may make one
    /// again after the wait.
    #[error("too many tokens made in a minute; try again in {retry_after_secs} s")]
    TooManyTokens {
        /// Seconds until one more is allowed (the `Retry-After` header).
        retry_after_secs: u64,
    },
    /// A body is not of the type the route takes.
    #[error("send the body as application/json")]
    UnsupportedMediaType,
    /// The caller is known, but their role may not perform the action.
    #[error("`{action}` needs the {needs} role; this caller is {has}")]
    Forbidden {
        /// The action's name.
        action: &'static str,
        /// The least role that may.
        needs: &'static str,
        /// The caller's role.
        has: &'static str,
    },
    /// A change from a browser session without its CSRF token.
    #[error("a change from a browser session needs its CSRF token (X-CSRF-Token)")]
    Csrf,
    /// Making an API token or changing a password needs a browser session, not a token.
    #[error(
        "making API tokens and changing the password need a browser session (sign in with your password), not an API token"
    )]
    NeedsSession,
    /// A change sent by a page of another site: its `Origin` is not this server.
    #[error("a change must come from this server's own pages, not from {origin}")]
    ForeignOrigin {
        /// The `Origin` the request named (at most 200 characters of it).
        origin: String,
    },
    /// No token is configured, so nobody may change anything.
    #[error(
        "control actions are disabled: no control token is configured (platform.control.tokens)"
    )]
    ActionsDisabled,
    /// No such endpoint, queue, view, trace or dead letter.
    #[error("{0}")]
    NotFound(String),
    /// The path exists, but not with this method.
    #[error("{path} accepts {allowed} only")]
    MethodNotAllowed {
        /// The path asked for.
        path: String,
        /// The methods it accepts, as the `Allow` header lists them.
        allowed: &'static str,
    },
    /// The request's body did not arrive within the body timeout.
    #[error("the request body took too long")]
    RequestTimeout,
    /// The runtime is not in a state that allows the action.
    #[error("{0}")]
    Conflict(String),
    /// The action needs a configuration and this runtime was built without one.
    #[error("this runtime was not built from a configuration file")]
    NoConfiguration,
    /// The queue refused the operation for good (retrying will not help).
    #[error("{0}")]
    QueueRefused(String),
    /// The request's body is over the configured limit.
    #[error("the body is over {limit} bytes")]
    PayloadTooLarge {
        /// `platform.control.max_body_bytes`.
        limit: usize,
    },
    /// A reload or a configuration change did not validate; the old configuration stays.
    #[error("{0}")]
    InvalidConfiguration(String),
    /// The runtime failed to start its workers.
    #[error("{0}")]
    StartFailed(String),
    /// Something that should not happen; the message says what.
    #[error("{0}")]
    Internal(String),
    /// Every connection slot is busy.
    #[error("the control plane is at its connection cap; retry shortly")]
    Overloaded,
    /// The queue cannot be reached now; retrying may help.
    #[error("{0}")]
    QueueUnavailable(String),
    /// A console page's data cannot be read now.
    #[error("{0}")]
    ViewUnavailable(String),
    /// The configuration database cannot be reached now (or none is configured).
    #[error("{0}")]
    ConfigStoreUnavailable(String),
}

impl ApiError {
    /// The HTTP status code of this kind of error.
    pub fn status(&self) -> u16 {
        match self {
            Self::BadRequest(_) => 400,
            Self::Unauthorized(_) => 401,
            Self::TooManyFailures { .. }
            | Self::TooManySignIns { .. }
            | Self::TooManyTokens { .. } => 429,
            Self::UnsupportedMediaType => 415,
            Self::Forbidden { .. }
            | Self::Csrf
            | Self::NeedsSession
            | Self::ForeignOrigin { .. }
            | Self::ActionsDisabled => 403,
            Self::NotFound(_) => 404,
            Self::MethodNotAllowed { .. } => 405,
            Self::RequestTimeout => 408,
            Self::Conflict(_) | Self::NoConfiguration | Self::QueueRefused(_) => 409,
            Self::PayloadTooLarge { .. } => 413,
            Self::InvalidConfiguration(_) => 422,
            Self::StartFailed(_) | Self::Internal(_) => 500,
            Self::Overloaded
            | Self::QueueUnavailable(_)
            | Self::ViewUnavailable(_)
            | Self::ConfigStoreUnavailable(_) => 503,
        }
    }

    /// The stable code clients match on.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "bad_request",
            Self::Unauthorized(_) => "unauthorized",
            Self::TooManyFailures { .. } => "too_many_failures",
            Self::TooManySignIns { .. } => "too_many_sign_ins",
            Self::TooManyTokens { .. } => "too_many_tokens",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::Forbidden { .. } => "forbidden",
            Self::Csrf => "csrf",
            Self::NeedsSession => "needs_session",
            Self::ForeignOrigin { .. } => "foreign_origin",
            Self::ActionsDisabled => "actions_disabled",
            Self::NotFound(_) => "not_found",
            Self::MethodNotAllowed { .. } => "method_not_allowed",
            Self::RequestTimeout => "request_timeout",
            Self::Conflict(_) => "conflict",
            Self::NoConfiguration => "no_configuration",
            Self::QueueRefused(_) => "queue_refused",
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::InvalidConfiguration(_) => "invalid_configuration",
            Self::StartFailed(_) => "start_failed",
            Self::Internal(_) => "internal",
            Self::Overloaded => "overloaded",
            Self::QueueUnavailable(_) => "queue_unavailable",
            Self::ConfigStoreUnavailable(_) => "config_store_unavailable",
            Self::ViewUnavailable(_) => "view_unavailable",
        }
    }

    /// The wire shape: `{"error": {"code": …, "message": …}}`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({ "error": { "code": self.code(), "message": self.to_string() } })
    }
}

/// The users' database failing is the server's fault, never the caller's: a 500 that says
/// what failed.
impl From<plba_auth::AuthError> for ApiError {
    fn from(error: plba_auth::AuthError) -> Self {
        match error {
            plba_auth::AuthError::Busy => Self::Overloaded,
            other => Self::Internal(plba_util::error_chain(&other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_has_its_status_and_code() {
        let refused = ApiError::MethodNotAllowed {
            path: "/status".to_owned(),
            allowed: "GET, HEAD",
        };
        assert_eq!(
            (refused.status(), refused.code()),
            (405, "method_not_allowed")
        );
        assert_eq!(
            refused.to_json(),
            serde_json::json!({ "error": { "code": "method_not_allowed", "message": "/status accepts GET, HEAD only" } })
        );
        assert_eq!(ApiError::PayloadTooLarge { limit: 5 }.status(), 413);
        assert_eq!(ApiError::Overloaded.code(), "overloaded");
    }
}
