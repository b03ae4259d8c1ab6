//! The HTTP listener: hyper's HTTP/1.1 connections under bounds that a
//! slow or hostile client cannot stretch.
//!
//! `axum::serve` sets none: no time limit on a request's headers (240
//! half-sent requests held every file descriptor until they closed, and
//! both front ends stopped accepting without a word), no cap on
//! connections. Here each connection has a header timeout, a header count
//! and size bound, and a place among `max_connections`; a client beyond
//! them gets a 503 and a log line, and running out of file descriptors is
//! logged and answered the same way, never a silent hang.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

/// What bounds the HTTP front end.
#[derive(Debug, Clone, Copy)]
pub struct HttpLimits {
    /// Connections served at once.
    pub max_connections: usize,
    /// Time a client has to send a request's headers, and the longest a
    /// kept-alive connection waits idle for the next request.
    pub header_timeout: Duration,
    /// Headers in one request.
    pub max_headers: usize,
    /// Bytes of one request's head (request line and headers).
    pub max_head_bytes: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            max_connections: 256,
            header_timeout: Duration::from_secs(10),
            max_headers: 100,
            max_head_bytes: 64 << 10,
        }
    }
}

/// How long running responses may go on once shutdown starts.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

const BUSY_BODY: &str =
    "{\"sqlstate\":\"53300\",\"message\":\"too many HTTP connections, retry later\"}\n";

pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: HttpLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    // A descriptor held back to answer a client when every other is in use.
    let mut spare = std::fs::File::open("/dev/null").ok();
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                if error.raw_os_error() == Some(24) || error.raw_os_error() == Some(23) {
                    tracing::warn!("HTTP: out of file descriptors, refusing a client: {error}");
                    refuse_with_spare(&listener, &mut spare).await;
                } else {
                    tracing::warn!("HTTP accept failed: {error}");
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::warn!(%peer, "HTTP connection refused: max_connections ({}) reached", limits.max_connections);
            tokio::spawn(refuse(stream));
            continue;
        };
        let service = TowerToHyperService::new(app.clone());
        let connection = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_timeout)
            .max_headers(limits.max_headers)
            .max_buf_size(limits.max_head_bytes.max(8192))
            .serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%peer, "HTTP connection ended: {error}");
            }
            drop(slot);
        });
    }
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("HTTP: grace period over, closing the connections still open");
    }
    Ok(())
}

/// Answers one client 503 and closes.
async fn refuse(mut stream: TcpStream) {
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        let response = format!(
            "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
             connection: close\r\nretry-after: 1\r\ncontent-length: {}\r\n\r\n{BUSY_BODY}",
            BUSY_BODY.len()
        );
        let _ = stream.write_all(response.as_bytes()).await;
        let _ = stream.shutdown().await;
    })
    .await;
}

/// With every descriptor in use, frees the spare one to accept the waiting
/// client, answers it 503, and takes the spare back.
async fn refuse_with_spare(listener: &TcpListener, spare: &mut Option<std::fs::File>) {
    if spare.take().is_none() {
        return;
    }
    if let Ok(Ok((stream, peer))) =
        tokio::time::timeout(Duration::from_millis(10), listener.accept()).await
    {
        tracing::warn!(%peer, "HTTP connection refused: out of file descriptors");
        refuse(stream).await;
    }
    *spare = std::fs::File::open("/dev/null").ok();
}
