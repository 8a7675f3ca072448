//! The listener: accepts connections up to the cap and serves each with hyper, the header
//! timeout bounding both a request's head and a kept-alive connection's wait for the next.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use plba_contracts::CancellationToken;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use crate::metrics::Refusal;
use crate::request::Handler;

/// The largest request head hyper buffers (hyper's own floor is 8 KiB).
const MAX_HEAD_BYTES: usize = 64 * 1024;

/// The listener's limits on connections.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    pub(crate) max_connections: usize,
    pub(crate) header_timeout: Duration,
    pub(crate) retry_after_secs: u64,
}

/// Accepts and serves connections until `cancel` fires; then requests in progress finish.
pub(crate) async fn accept_loop(
    listener: TcpListener,
    handler: Arc<Handler>,
    limits: Limits,
    cancel: CancellationToken,
) {
    let header_timeout = limits.header_timeout;
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    loop {
        let accepted = tokio::select! {
            () = cancel.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(error) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(%error, "webhook listener accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            handler.metrics.refused(None, Refusal::Overloaded);
            refuse(&stream, limits.retry_after_secs);
            continue;
        };
        let handler = Arc::clone(&handler);
        let cancel = cancel.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let service = hyper::service::service_fn(move |request| {
                let handler = Arc::clone(&handler);
                async move { Ok::<_, Infallible>(handler.handle(request).await) }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout)
                .max_buf_size(MAX_HEAD_BYTES)
                .serve_connection(TokioIo::new(stream), service);
            let mut connection = std::pin::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => {}
                () = cancel.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
        });
    }
}

/// Turns away a connection over the cap with a 503 if the socket takes it without waiting,
/// then closes it, so a refused connection holds no descriptor.
fn refuse(stream: &TcpStream, retry_after_secs: u64) {
    const BODY: &str = r#"{"error":{"code":"overloaded","message":"the webhook listener is at its connection cap; retry shortly"}}"#;
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: {retry_after_secs}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{BODY}",
        BODY.len()
    );
    let _ = stream.try_write(answer.as_bytes());
}

/// Binds `addr` now, so a taken port stops the application at start, not at the first
/// request.
pub(crate) fn bind(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let listener = std::net::TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}
