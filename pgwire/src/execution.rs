//! Keeping query work off the threads that serve connections.
//!
//! DataFusion computes inside the polls of its streams and in tasks it
//! spawns on the current runtime. Left on the connection runtime, two heavy
//! queries on a two-core machine occupy every worker: no new connection is
//! accepted and no CancelRequest is read until they finish. So statements
//! are planned with the execution runtime entered (DataFusion's spawns land
//! there) and their rows are produced by a task on that runtime, handed to
//! the connection in chunks.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use datafusion_postgres::pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use datafusion_postgres::pgwire::messages::data::DataRow;
use futures::{Stream, StreamExt};
use tokio::runtime::Handle;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::sqlstate::codes;

type RowStream = Pin<Box<dyn Stream<Item = PgWireResult<DataRow>> + Send>>;

/// Rows handed over at once: enough to make the channel cost vanish, few
/// enough to keep memory per statement small.
const CHUNK_ROWS: usize = 1024;
/// Chunks buffered ahead of a slow client.
const CHUNKS_AHEAD: usize = 4;

/// Where statements run: a separate runtime, or (without one) the caller's.
#[derive(Debug, Clone, Default)]
pub(crate) struct Executor {
    runtime: Option<Handle>,
}

impl Executor {
    pub(crate) fn new(runtime: Option<Handle>) -> Self {
        Self { runtime }
    }

    /// Polls `future` with the execution runtime entered, so that whatever
    /// it spawns runs there.
    pub(crate) fn enter<F: Future>(&self, future: F) -> OnRuntime<F> {
        OnRuntime {
            runtime: self.runtime.clone(),
            future: Box::pin(future),
        }
    }

    /// Produces `rows` on the execution runtime.
    pub(crate) fn drive(&self, rows: RowStream) -> RowStream {
        let Some(runtime) = &self.runtime else {
            return rows;
        };
        let (sender, receiver) = mpsc::channel(CHUNKS_AHEAD);
        let producer = runtime.spawn(async move {
            let mut chunks = rows.ready_chunks(CHUNK_ROWS);
            while let Some(chunk) = chunks.next().await {
                if sender.send(chunk).await.is_err() {
                    break;
                }
            }
        });
        Box::pin(RemoteRows {
            receiver,
            chunk: Vec::new().into_iter(),
            producer: AbortOnDrop(producer),
            finished: false,
        })
    }
}

pub(crate) struct OnRuntime<F> {
    runtime: Option<Handle>,
    future: Pin<Box<F>>,
}

impl<F: Future> Future for OnRuntime<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let _entered = self.runtime.as_ref().map(Handle::enter);
        self.future.as_mut().poll(cx)
    }
}

/// Stops the producing task (and so the query) when the rows are dropped:
/// at the end, on cancel, or when the client goes away.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

struct RemoteRows {
    receiver: mpsc::Receiver<Vec<PgWireResult<DataRow>>>,
    chunk: std::vec::IntoIter<PgWireResult<DataRow>>,
    producer: AbortOnDrop,
    finished: bool,
}

fn engine_failure(failure: &tokio::task::JoinError) -> PgWireError {
    tracing::error!("a statement's execution failed unexpectedly: {failure}");
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "ERROR".to_owned(),
        codes::INTERNAL_ERROR.to_owned(),
        format!("the statement failed unexpectedly inside the engine ({failure}); this is a bug"),
    )))
}

impl Stream for RemoteRows {
    type Item = PgWireResult<DataRow>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            if let Some(row) = self.chunk.next() {
                return Poll::Ready(Some(row));
            }
            match self.receiver.poll_recv(cx) {
                Poll::Ready(Some(chunk)) => self.chunk = chunk.into_iter(),
                // The producer is done: its outcome tells a complete result
                // from one cut short by a panic, which must not look complete.
                Poll::Ready(None) => {
                    if self.finished {
                        return Poll::Ready(None);
                    }
                    return match Pin::new(&mut self.producer.0).poll(cx) {
                        Poll::Pending => Poll::Pending,
                        Poll::Ready(outcome) => {
                            self.finished = true;
                            match outcome {
                                Ok(()) => Poll::Ready(None),
                                Err(failure) => Poll::Ready(Some(Err(engine_failure(&failure)))),
                            }
                        }
                    };
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}
