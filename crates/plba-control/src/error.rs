//! The one error type of plba-control.

/// Why the control plane could not serve or a client call failed.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// The configured address is not an address.
    #[error("invalid control plane address {address:?}: {reason}")]
    Address {
        /// What was configured.
        address: String,
        /// The parser's message.
        reason: String,
    },
    /// The listener could not be bound.
    #[error("cannot listen on {address}: {source}")]
    Bind {
        /// Where.
        address: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A client request failed before an answer came back.
    #[error("request to {url} failed: {reason}")]
    Request {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
}
