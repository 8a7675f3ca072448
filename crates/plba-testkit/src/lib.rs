//! Test kit for PLBA: conformance suites every implementation of a contract runs, and the
//! helpers tests share.
//!
//! - [`queue`]: "any `TaskQueue` must…", as reusable async test functions, plus the
//!   [`task_queue_conformance!`] macro that turns them into `#[tokio::test]`s for a backend.
//! - [`limit`]: the `Limiter` conformance suite.
//! - [`schedule`]: the `ScheduleStore` conformance suite and a job that records its runs.
//! - [`mail_backend`]: the `MailBackend` conformance suite, plus the
//!   [`mail_backend_conformance!`] macro every mail backend's tests invoke.
//! - [`handlers`]: task handlers that record what they saw.
//! - [`wait`]: poll-with-deadline helpers, so tests synchronise on conditions, not sleeps.
//! - real servers, private to a test, on loopback at a free port: [`servers`] (Redis,
//!   Dovecot), [`postgres`] (a cluster of its own, run by an unprivileged user),
//!   [`browser`] (headless Chromium over WebDriver), [`otlp`] (an OTLP/HTTP receiver, and a
//!   server that never answers), [`smtp`] (aiosmtpd, delivering to a Maildir), [`disk`]
//!   (a small tmpfs for disk-full tests), [`oidc`] (an OpenID Connect provider,
//!   `oidc-provider` on Node.js). Under `CI=true` a server that cannot be had
//!   fails the test; elsewhere the test is skipped with a message.
//! - [`process`] (a built program run as a user runs it), [`mail`] and [`xlsx`] (test mails
//!   and workbooks), [`module`], [`logs`], [`tls`] and [`bench`](mod@bench).
//!
//! A suite is run whole (its macro, or its `run_all`), never check by check, and a test of
//! the kit fails when a suite's file defines a check its runner does not run.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::missing_panics_doc)]

pub mod bench;
pub mod browser;
#[cfg(test)]
mod coverage;
pub mod disk;
pub mod handlers;
pub mod limit;
pub mod logs;
pub mod mail;
pub mod mail_backend;
pub mod module;
pub mod oidc;
pub mod otlp;
pub mod postgres;
pub mod process;
pub mod queue;
pub mod schedule;
pub mod servers;
pub mod smtp;
pub mod tls;
pub mod wait;
pub mod xlsx;
