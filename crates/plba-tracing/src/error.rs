//! The one error type of plba-tracing.

/// Why telemetry could not be set up or changed.
#[derive(Debug, thiserror::Error)]
pub enum TracingError {
    /// A log or trace filter is invalid.
    #[error("invalid filter {directives:?}")]
    Filter {
        /// The directives.
        directives: String,
        /// The parser's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The OTLP exporter could not be built.
    #[error("cannot build the OTLP exporter for {endpoint}")]
    Exporter {
        /// The configured endpoint.
        endpoint: String,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A global subscriber was already installed.
    #[error("a global tracing subscriber is already installed")]
    AlreadyInstalled,
    /// The live filter could not be swapped.
    #[error("cannot change the log filter")]
    Reload(#[source] tracing_subscriber::reload::Error),
}
