//! The one error type of plba-control.

/// Why the control plane could not serve or a client call failed.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// The configured address is not an address.
    #[error("invalid control plane address {address:?}")]
    Address {
        /// What was configured.
        address: String,
        /// The parser's error.
        #[source]
        source: std::net::AddrParseError,
    },
    /// The listener could not be bound.
    #[error("cannot listen on {address}")]
    Bind {
        /// Where.
        address: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The TLS certificate or key could not be used.
    #[error("the control plane's TLS {what}")]
    Tls {
        /// What was wrong (which file, what about it).
        what: String,
        /// The underlying error.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// A client request failed before an answer came back.
    #[error("request to {url} failed: {what}")]
    Request {
        /// The URL.
        url: String,
        /// What failed.
        what: String,
        /// The client's error, when there is one.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
}
