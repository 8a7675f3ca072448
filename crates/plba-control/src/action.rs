//! What a caller can ask of the control plane, whatever the transport: the actions, who may
//! perform each, and which are audited.

use plba_config::ControlRole;

/// What a caller asks the control plane to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Liveness probe.
    Live,
    /// Readiness probe.
    Ready,
    /// Aggregated health with every contributor.
    Health,
    /// Runtime, pools and queues.
    Status,
    /// Prometheus text.
    Metrics,
    /// The most recent task traces.
    Traces {
        /// At most this many.
        limit: usize,
    },
    /// One task trace, by task id or trace id.
    Trace {
        /// The id.
        id: String,
    },
    /// Stop the workers; the process and the control plane stay up.
    Stop,
    /// Start the workers again.
    Start,
    /// Reload the configuration.
    Reload,
    /// Stop gracefully and let the process exit.
    Shutdown,
    /// The console pages the application's modules contribute.
    Views,
    /// Rows of one page.
    ViewList {
        /// The view's name.
        view: String,
        /// Free-text search (empty: all).
        search: String,
        /// At most this many rows.
        limit: usize,
    },
    /// One item of a page in detail.
    ViewItem {
        /// The view's name.
        view: String,
        /// The item's id, as its row carries it.
        id: String,
    },
    /// The effective configuration, secrets redacted, with its generation and where each
    /// value comes from.
    Config,
    /// Who changed what in the configuration database, newest first.
    ConfigHistory {
        /// Only this key's changes.
        key: Option<String>,
        /// At most this many.
        limit: usize,
    },
    /// Set (or remove) a value in the configuration database.
    SetConfigValue {
        /// The dotted key path.
        key: String,
        /// Its value as YAML, or `None` to remove it.
        value: Option<String>,
        /// Why, for the history.
        comment: Option<String>,
    },
    /// The recent audited actions: who, what, when, and the answer.
    Audit,
    /// Sign a browser in with a bearer token: a session (a cookie, over HTTP) replaces the
    /// token.
    SignIn,
    /// The browser's session: who, which role, its CSRF token.
    SessionInfo,
    /// How a browser may sign in: a password, single sign-on (and its button's words).
    SignInMethods,
    /// End the browser's session.
    SignOut,
    /// End every session of the browser's user (or token), on every instance sharing the
    /// users' database.
    SignOutEverywhere,
    /// Change the log filter now (`log.level`, kept until the process ends).
    SetLogLevel {
        /// A level or a filter (`debug`, `info,plba_core=debug`).
        level: String,
    },
    /// The newest dead letters of a queue.
    DeadLetters {
        /// The queue's name.
        queue: String,
        /// At most this many.
        limit: usize,
    },
    /// Put dead letters back in their queue, attempts reset.
    ReplayDeadLetters {
        /// The queue's name.
        queue: String,
        /// One task's dead letters (by task id), or all of them.
        task: Option<String>,
    },
    /// The users of `platform.control.users`, with their roles and state.
    Users,
    /// Disable (or enable again) a user: a disabled user's sessions and tokens stop at once.
    SetUserDisabled {
        /// The user's name.
        name: String,
        /// Disable (`true`) or enable (`false`).
        disabled: bool,
    },
    /// Give a user another role.
    SetUserRole {
        /// The user's name.
        name: String,
        /// The new role.
        role: ControlRole,
    },
    /// The caller's own API tokens (a user's).
    MyTokens,
    /// Make the caller an API token (a user signed in in a browser): shown once.
    CreateMyToken {
        /// The token's name.
        name: String,
        /// How many days it lasts (1 to 730).
        days: u32,
    },
    /// Revoke one of the caller's API tokens.
    RevokeMyToken {
        /// The token's id.
        id: String,
    },
    /// Change the caller's password (a user signed in in a browser), which signs them out
    /// everywhere.
    ChangeMyPassword {
        /// The current password, checked first.
        current: plba_contracts::Secret<String>,
        /// The new one.
        new: plba_contracts::Secret<String>,
    },
    /// Delete dead letters for good.
    PurgeDeadLetters {
        /// The queue's name.
        queue: String,
        /// One task's dead letters (by task id), or all of them.
        task: Option<String>,
    },
}

impl Action {
    /// The action's name in the audit log.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Live => "live",
            Self::Ready => "ready",
            Self::Health => "health",
            Self::Status => "status",
            Self::Metrics => "metrics",
            Self::Traces { .. } => "traces",
            Self::Trace { .. } => "trace",
            Self::Stop => "stop",
            Self::Start => "start",
            Self::Reload => "reload",
            Self::Shutdown => "shutdown",
            Self::Views | Self::ViewList { .. } | Self::ViewItem { .. } => "views",
            Self::Config => "config",
            Self::ConfigHistory { .. } => "config-history",
            Self::SetConfigValue { value: Some(_), .. } => "set-config",
            Self::SetConfigValue { value: None, .. } => "unset-config",
            Self::Audit => "audit",
            Self::SignIn => "sign-in",
            Self::SessionInfo => "session",
            Self::SignInMethods => "sign-in-methods",
            Self::SignOut => "sign-out",
            Self::SignOutEverywhere => "sign-out-everywhere",
            Self::SetLogLevel { .. } => "log-level",
            Self::DeadLetters { .. } => "dead-letters",
            Self::ReplayDeadLetters { .. } => "replay-dead-letters",
            Self::PurgeDeadLetters { .. } => "purge-dead-letters",
            Self::Users => "users",
            Self::SetUserDisabled { disabled: true, .. } => "disable-user",
            Self::SetUserDisabled {
                disabled: false, ..
            } => "enable-user",
            Self::SetUserRole { .. } => "set-user-role",
            Self::MyTokens => "my-tokens",
            Self::CreateMyToken { .. } => "create-token",
            Self::RevokeMyToken { .. } => "revoke-token",
            Self::ChangeMyPassword { .. } => "change-password",
        }
    }

    /// Whether the action changes something (and so needs an operator's or an admin's token,
    /// and is audited).
    pub fn is_mutating(&self) -> bool {
        matches!(
            self,
            Self::Stop
                | Self::Start
                | Self::Reload
                | Self::Shutdown
                | Self::SetLogLevel { .. }
                | Self::SetConfigValue { .. }
                | Self::ReplayDeadLetters { .. }
                | Self::PurgeDeadLetters { .. }
                | Self::SetUserDisabled { .. }
                | Self::SetUserRole { .. }
                | Self::CreateMyToken { .. }
                | Self::RevokeMyToken { .. }
                | Self::ChangeMyPassword { .. }
        )
    }

    /// Whether the action changes a user or a token: recorded in the users' database, where
    /// every instance's audit (and the command line's changes) meet.
    pub fn is_user_change(&self) -> bool {
        matches!(
            self,
            Self::SetUserDisabled { .. }
                | Self::SetUserRole { .. }
                | Self::CreateMyToken { .. }
                | Self::RevokeMyToken { .. }
                | Self::ChangeMyPassword { .. }
        )
    }

    /// Whether the audit log records the action: changes, and signing in or out.
    pub fn is_audited(&self) -> bool {
        self.is_mutating() || matches!(self, Self::SignIn | Self::SignOut | Self::SignOutEverywhere)
    }

    /// Whether the action is a probe, which the connection cap keeps a reserve for.
    pub fn is_probe(&self) -> bool {
        matches!(self, Self::Live | Self::Ready)
    }

    pub(crate) fn required_role(&self, protect_reads: bool) -> Option<ControlRole> {
        match self {
            Self::Live | Self::Ready | Self::SignInMethods => None,
            // The configuration and who did what are never open to anonymous callers.
            Self::SignIn
            | Self::SessionInfo
            | Self::SignOut
            | Self::SignOutEverywhere
            | Self::Config
            | Self::ConfigHistory { .. }
            | Self::Audit
            | Self::Views
            | Self::ViewList { .. }
            | Self::ViewItem { .. } => Some(ControlRole::Viewer),
            // Who may do what: an admin's business, reading included.
            Self::Users => Some(ControlRole::Admin),
            // Anyone's own tokens and password: their own business.
            Self::MyTokens
            | Self::CreateMyToken { .. }
            | Self::RevokeMyToken { .. }
            | Self::ChangeMyPassword { .. } => Some(ControlRole::Viewer),
            // Running the work: an operator's job.
            Self::Stop
            | Self::Start
            | Self::ReplayDeadLetters { .. }
            | Self::PurgeDeadLetters { .. } => Some(ControlRole::Operator),
            // The process and its configuration: an admin's.
            _ if self.is_mutating() => Some(ControlRole::Admin),
            _ if protect_reads => Some(ControlRole::Viewer),
            _ => None,
        }
    }
}
