//! Process signals: SIGTERM and SIGINT ask for a graceful stop; a second one forces it.

use crate::error::CoreError;

/// Listens for SIGTERM and SIGINT (Ctrl-C). Install it before starting work so no signal
/// is missed between start and the first wait.
#[derive(Debug)]
pub struct StopSignals {
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
}

impl StopSignals {
    /// Installs the handlers. From now on these signals no longer kill the process.
    pub fn install() -> Result<Self, CoreError> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let terminate =
                signal(SignalKind::terminate()).map_err(|source| CoreError::Signal {
                    signal: "SIGTERM",
                    source,
                })?;
            let interrupt =
                signal(SignalKind::interrupt()).map_err(|source| CoreError::Signal {
                    signal: "SIGINT",
                    source,
                })?;
            Ok(Self {
                terminate,
                interrupt,
            })
        }
        #[cfg(not(unix))]
        {
            Ok(Self {})
        }
    }

    /// Waits for the next stop signal and returns its name.
    pub async fn recv(&mut self) -> &'static str {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.terminate.recv() => "SIGTERM",
                _ = self.interrupt.recv() => "SIGINT",
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            "Ctrl-C"
        }
    }
}
