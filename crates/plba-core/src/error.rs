//! The one error type of plba-core.

use plba_contracts::RegistryError;

/// Why a runtime operation failed.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// A module could not be registered.
    #[error("registering module {module:?} failed")]
    Register {
        /// The module.
        module: String,
        /// Why.
        #[source]
        source: RegistryError,
    },
    /// The operation is not possible in the runtime's current state.
    #[error("cannot {action} while the runtime is {state}")]
    InvalidState {
        /// What was attempted.
        action: &'static str,
        /// The state it was attempted in.
        state: crate::state::RuntimeState,
    },
    /// Installing the signal handlers failed.
    #[error("cannot listen for {signal}")]
    Signal {
        /// Which signal.
        signal: &'static str,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}
