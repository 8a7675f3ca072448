//! The users' database's tables, created when it opens.

/// The users.
pub(crate) const USERS: &str = "CREATE TABLE IF NOT EXISTS plba_users (
    name TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL,
    disabled BIGINT NOT NULL,
    created_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL)";

/// Their API tokens.
pub(crate) const TOKENS: &str = "CREATE TABLE IF NOT EXISTS plba_user_tokens (
    id TEXT PRIMARY KEY,
    user_name TEXT NOT NULL,
    name TEXT NOT NULL,
    hash TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    expires_ms BIGINT NOT NULL,
    last_used_ms BIGINT,
    revoked BIGINT NOT NULL)";

/// Browser sessions.
pub(crate) const SESSIONS: &str = "CREATE TABLE IF NOT EXISTS plba_sessions (
    id_hash TEXT PRIMARY KEY,
    principal TEXT NOT NULL,
    user_backed BIGINT NOT NULL,
    role TEXT NOT NULL,
    csrf TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    last_seen_ms BIGINT NOT NULL,
    ended BIGINT NOT NULL)";

/// Recent wrong passwords per known account, and its lock.
pub(crate) const FAILURES: &str = "CREATE TABLE IF NOT EXISTS plba_user_failures (
    name TEXT PRIMARY KEY,
    window_start_ms BIGINT NOT NULL,
    failures BIGINT NOT NULL,
    locked_until_ms BIGINT NOT NULL)";

/// Who each single-sign-on user is at their provider, and whether the provider's claim last
/// gave them no role (which disables them until it gives one again).
pub(crate) const IDENTITIES: &str = "CREATE TABLE IF NOT EXISTS plba_user_identities (
    issuer TEXT NOT NULL,
    subject TEXT NOT NULL,
    user_name TEXT NOT NULL,
    no_role BIGINT NOT NULL,
    PRIMARY KEY (issuer, subject))";

/// Single sign-ons under way: what the browser's return must match, used once.
pub(crate) const SIGN_IN_FLOWS: &str = "CREATE TABLE IF NOT EXISTS plba_sign_in_flows (
    state_hash TEXT PRIMARY KEY,
    binding_hash TEXT NOT NULL,
    verifier TEXT NOT NULL,
    nonce TEXT NOT NULL,
    return_to TEXT NOT NULL,
    created_ms BIGINT NOT NULL)";

/// Every change to users and their tokens: who made it (a user, a token, the command line),
/// from where, what, and to whom.
pub(crate) const CHANGES: &str = "CREATE TABLE IF NOT EXISTS plba_user_changes (
    at_ms BIGINT NOT NULL,
    actor TEXT NOT NULL,
    client TEXT,
    action TEXT NOT NULL,
    subject TEXT NOT NULL)";

/// Every table, in order.
pub(crate) const ALL: [&str; 7] = [
    USERS,
    TOKENS,
    SESSIONS,
    FAILURES,
    IDENTITIES,
    SIGN_IN_FLOWS,
    CHANGES,
];
