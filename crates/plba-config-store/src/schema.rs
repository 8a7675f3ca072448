//! The configuration database's tables, created when it opens.

/// Each application's latest revision.
pub(crate) const REVISIONS: &str = "CREATE TABLE IF NOT EXISTS plba_config_revisions (
    application TEXT PRIMARY KEY,
    revision BIGINT NOT NULL)";

/// The values at the latest revision.
pub(crate) const VALUES: &str = "CREATE TABLE IF NOT EXISTS plba_config_values (
    application TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    revision BIGINT NOT NULL,
    PRIMARY KEY (application, key))";

/// Every change, never changed or removed.
pub(crate) const HISTORY: &str = "CREATE TABLE IF NOT EXISTS plba_config_history (
    application TEXT NOT NULL,
    revision BIGINT NOT NULL,
    key TEXT NOT NULL,
    old_value TEXT,
    new_value TEXT,
    actor TEXT NOT NULL,
    at_ms BIGINT NOT NULL,
    comment TEXT,
    PRIMARY KEY (application, revision, key))";

/// Every table, in order.
pub(crate) const ALL: [&str; 3] = [REVISIONS, VALUES, HISTORY];

/// The tables' names, to see whether they exist when they cannot be made.
pub(crate) const TABLES: [&str; 3] = [
    "plba_config_revisions",
    "plba_config_values",
    "plba_config_history",
];
