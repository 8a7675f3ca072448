//! PostgreSQL's announcements of changes (`LISTEN plba_config`): each wakes the follower,
//! which reads the store. A lost connection wakes it too (so a database that went away is
//! reported at once) and is made again, waking it once more, since announcements sent
//! meanwhile are lost; the poll covers the time in between. The first attempt to connect
//! again that fails wakes it once more: a database shutting down drops this connection
//! before the others, so the read the loss woke may still have been answered.

use std::sync::Arc;

use plba_contracts::CancellationToken;
use tokio::sync::Notify;

/// Listens on the store at `url` until `cancel` fires, waking `announced` on every change;
/// does nothing for SQLite, which announces nothing.
pub(crate) fn spawn(url: &str, announced: Arc<Notify>, cancel: CancellationToken) {
    let postgres = url.starts_with("postgres://") || url.starts_with("postgresql://");
    if !postgres {
        return;
    }
    #[cfg(feature = "postgres")]
    tokio::spawn(listen(url.to_owned(), announced, cancel));
    #[cfg(not(feature = "postgres"))]
    let _ = (announced, cancel);
}

#[cfg(feature = "postgres")]
async fn listen(url: String, announced: Arc<Notify>, cancel: CancellationToken) {
    use std::time::Duration;

    use sqlx::postgres::PgListener;

    /// How long to wait before connecting again after a failure.
    const RETRY: Duration = Duration::from_secs(1);

    // A connection was lost and no attempt to make it again has failed yet.
    let mut lost = false;
    loop {
        let connected = async {
            let mut listener = PgListener::connect(&url).await?;
            // A lost connection is said at once (the follower then reads, and says the
            // database is away); connecting again is this loop's, under its deadline.
            listener.eager_reconnect(false);
            listener.listen(crate::store::NOTIFY_CHANNEL).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        let listener = tokio::select! {
            () = cancel.cancelled() => return,
            connected = tokio::time::timeout(Duration::from_secs(10), connected) => connected,
        };
        match listener {
            Ok(Ok(mut listener)) => {
                // Connected again: what was announced meanwhile is lost, so read now.
                announced.notify_one();
                loop {
                    let next = tokio::select! {
                        () = cancel.cancelled() => return,
                        next = listener.try_recv() => next,
                    };
                    match next {
                        Ok(Some(_)) => announced.notify_one(),
                        // The connection was lost: read now (the database may be away, which
                        // the instance then says at once), and connect again from the top.
                        Ok(None) | Err(_) => {
                            announced.notify_one();
                            lost = true;
                            break;
                        }
                    }
                }
            }
            Ok(Err(error)) => {
                tracing::debug!(error = %plba_util::error_chain(&error), "cannot listen for configuration changes yet");
                if std::mem::take(&mut lost) {
                    announced.notify_one();
                }
            }
            Err(_) => {
                tracing::debug!("listening for configuration changes timed out");
                if std::mem::take(&mut lost) {
                    announced.notify_one();
                }
            }
        }
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(RETRY) => {}
        }
    }
}
