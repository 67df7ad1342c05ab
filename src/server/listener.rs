//! Accepting HTTP connections with bounds: a cap on open connections, a deadline for reading a
//! request's headers, and a cap on the bytes of a request head hyper buffers (see `request_limits.rs`).
//! `axum::serve` has none of the first two, so a client that opens thousands of sockets or sends its
//! headers one byte a minute (slowloris) would hold the daemon's file descriptors and memory.
//!
//! A connection over the cap is accepted and closed at once (the client sees a reset rather than a
//! hang in the kernel's backlog). Shutdown: stop accepting, ask every connection to finish its request
//! in flight, and wait until every connection's permit is back.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use super::request_limits::MAX_REQUEST_HEAD_BYTES;

/// Default deadline for a request's headers, from the first byte of a request (or from the end of the
/// previous one on a kept-alive connection). Browsers send headers in one packet; ten seconds is
/// generous for any real client and short enough to shed slowloris clients.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Default cap on open connections. The UI keeps one event stream and at most one log stream per tab;
/// 1,000 event streams were measured to be held comfortably. Each connection is one file descriptor,
/// so the process's `ulimit -n` must be higher.
pub const DEFAULT_MAX_CONNECTIONS: usize = 2048;
/// How long to pause accepting after `accept` fails (out of file descriptors): retrying at once would
/// spin.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// The bounds of the HTTP server.
#[derive(Clone, Copy, Debug)]
pub struct ConnectionLimits {
    /// Deadline for reading one request's headers. Default [`DEFAULT_HEADER_READ_TIMEOUT`].
    pub header_read_timeout: Duration,
    /// Most connections open at once; more are closed on accept. Default
    /// [`DEFAULT_MAX_CONNECTIONS`].
    pub max_connections: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }
}

/// Serves `router` on `listener` within `limits` until `shutdown` completes; then cancels
/// `streams` (open event streams never end by themselves), lets requests in flight finish and
/// returns once every connection is closed.
pub async fn serve_bounded(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    streams: CancellationToken,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // `acquire_many` counts in u32; a million connections is far beyond any descriptor limit.
    let max = limits.max_connections.clamp(1, 1 << 20);
    let permits = Arc::new(Semaphore::new(max));
    let closing = CancellationToken::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    tracing::warn!(%err, "cannot accept an HTTP connection");
                    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                    continue;
                }
            },
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            tracing::warn!(%peer, max, "refusing an HTTP connection: too many open");
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(router.clone());
        let closing = closing.clone();
        let timeout = limits.header_read_timeout;
        let connection = async move {
            let _permit = permit;
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(timeout)
                .max_buf_size(MAX_REQUEST_HEAD_BYTES)
                .serve_connection(TokioIo::new(stream), service);
            tokio::pin!(conn);
            let result = tokio::select! {
                result = conn.as_mut() => result,
                _ = closing.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(err) = result {
                // Timeouts and clients that hang up are routine; not worth more than a debug line.
                tracing::debug!(%err, "HTTP connection ended with an error");
            }
        };
        tokio::spawn(connection.instrument(tracing::debug_span!("http connection", %peer)));
    }
    streams.cancel();
    closing.cancel();
    // Every connection holds a permit until it ends: having them all back means all are closed.
    let _all = permits.acquire_many(max as u32).await;
    Ok(())
}
