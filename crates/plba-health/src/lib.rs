//! Health for PLBA: a registry of contributors, their aggregation, and the liveness and
//! readiness views an orchestrator probes.
//!
//! Health is not status: health says whether a part is operational, status says what it is
//! doing. The aggregation rule:
//!
//! | contributors                                   | application |
//! |------------------------------------------------|-------------|
//! | any critical one unhealthy                     | unhealthy   |
//! | else any degraded, or a non-critical unhealthy | degraded    |
//! | else                                           | ok          |
//!
//! [`HealthRegistry`] checks every contributor concurrently, each under its own timeout: a
//! check that times out or panics is reported unhealthy and never holds up the others.
//! [`liveness`]: the runtime loop answers. [`readiness`]: started, not stopping and not
//! unhealthy — degraded is still ready.

mod aggregate;
mod probe;
mod registry;

pub use aggregate::aggregate;
pub use probe::{ProbeResult, liveness, readiness};
pub use registry::{ContributorHealth, HealthError, HealthRegistry, HealthSnapshot};
