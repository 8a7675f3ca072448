//! The webhook source of PLBA: business systems (shops, accounting, payment providers)
//! announce work by HTTP POST, and each request becomes a task.
//!
//! Built so far: how a request proves where it comes from ([`signature`]), in the style of
//! Stripe's and GitHub's signature headers: an HMAC-SHA256 of the timestamp and the raw
//! body with a shared secret, checked in constant time, with a tolerance on the timestamp
//! so a captured request cannot be replayed later; or, simpler, a bearer token. The
//! listener that turns requests into tasks comes next.

pub mod signature;

pub use signature::{SignatureError, sign, verify_bearer, verify_signature};
