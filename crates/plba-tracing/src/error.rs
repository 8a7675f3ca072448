//! The one error type of plba-tracing.

/// Why telemetry could not be set up or changed.
#[derive(Debug, thiserror::Error)]
pub enum TracingError {
    /// A log or trace filter is invalid.
    #[error("invalid filter {directives:?}: {reason}")]
    Filter {
        /// The directives.
        directives: String,
        /// The parser's message.
        reason: String,
    },
    /// The OTLP exporter could not be built.
    #[error("cannot build the OTLP exporter for {endpoint}: {reason}")]
    Exporter {
        /// The configured endpoint.
        endpoint: String,
        /// Why.
        reason: String,
    },
    /// A global subscriber was already installed.
    #[error("a global tracing subscriber is already installed")]
    AlreadyInstalled,
    /// The live filter could not be swapped.
    #[error("cannot change the log filter: {0}")]
    Reload(String),
}
