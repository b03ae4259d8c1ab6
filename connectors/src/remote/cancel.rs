//! Stopping a source's own statement when the query that sent it stops
//! (cancelled, timed out, or its client gone). Dropping the row stream only
//! stops reading: without this, the database would run the statement to
//! its end, holding a connection and its resources.

use std::any::Any;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::Result;
use datafusion_table_providers::mysql::conn::MySQLConnection;
use datafusion_table_providers::postgres::conn::PostgresConnection;
use datafusion_table_providers::sql::db_connection_pool::DbConnectionPool;
use futures::Stream;

/// How to stop the statement running on one connection.
pub(crate) enum SourceCancel {
    /// PostgreSQL's cancel request, sent on a connection of its own.
    Postgres(tokio_postgres::CancelToken),
    /// `KILL QUERY <id>`, run on another connection from the pool.
    Mysql {
        connection_id: u32,
        kill: Arc<dyn Fn(u32) -> futures::future::BoxFuture<'static, ()> + Send + Sync>,
    },
}

/// The cancel handle of a pooled connection, if its kind has one.
pub(crate) fn postgres_cancel(connection: &dyn Any) -> Option<SourceCancel> {
    connection
        .downcast_ref::<PostgresConnection>()
        .map(|c| SourceCancel::Postgres(c.conn.cancel_token()))
}

/// MySQL: the connection's id, and how to kill a statement by id through
/// `pool`. Right after `connect` nobody else holds the connection's lock.
pub(crate) fn mysql_cancel<T: 'static, P: 'static>(
    connection: &dyn Any,
    pool: Arc<dyn DbConnectionPool<T, P> + Send + Sync>,
) -> Option<SourceCancel> {
    let connection = connection.downcast_ref::<MySQLConnection>()?;
    let connection_id = connection.conn.try_lock()?.id();
    let kill = Arc::new(move |id: u32| {
        let pool = Arc::clone(&pool);
        Box::pin(async move {
            let Ok(other) = pool.connect().await else {
                return;
            };
            let Some(other) = other.as_any().downcast_ref::<MySQLConnection>() else {
                return;
            };
            let mut conn = other.conn.lock().await;
            if let Err(error) =
                mysql_async::prelude::Queryable::query_drop(&mut *conn, format!("KILL QUERY {id}"))
                    .await
            {
                tracing::debug!("KILL QUERY {id} failed: {error}");
            }
        }) as futures::future::BoxFuture<'static, ()>
    });
    Some(SourceCancel::Mysql {
        connection_id,
        kill,
    })
}

/// Cancels the statement when dropped before its rows ran out.
pub(crate) struct CancelOnDrop {
    source: String,
    cancel: Option<SourceCancel>,
}

impl CancelOnDrop {
    pub(crate) fn new(source: &str, cancel: Option<SourceCancel>) -> Self {
        Self {
            source: source.to_owned(),
            cancel,
        }
    }

    /// The statement finished: nothing to cancel.
    fn finished(&mut self) {
        self.cancel = None;
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        let Some(cancel) = self.cancel.take() else {
            return;
        };
        // Drop may run outside a runtime (at shutdown): then there is no
        // one to send the cancel, and the connection's end stops it.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let source = std::mem::take(&mut self.source);
        runtime.spawn(async move {
            tracing::debug!(%source, "cancelling the statement at the source");
            match cancel {
                // Sent without TLS: a cancel request carries only the
                // backend's id and secret key. A server that accepts TLS
                // connections only refuses it, and the statement runs on.
                SourceCancel::Postgres(token) => {
                    if let Err(error) = token.cancel_query(tokio_postgres::NoTls).await {
                        tracing::debug!(%source, "cancel request failed: {error}");
                    }
                }
                SourceCancel::Mysql {
                    connection_id,
                    kill,
                } => kill(connection_id).await,
            }
        });
    }
}

/// A source's rows, with the statement cancelled if they are dropped
/// before the end.
pub(crate) struct CancellingStream<S> {
    pub(crate) inner: S,
    pub(crate) guard: CancelOnDrop,
}

impl<S> Stream for CancellingStream<S>
where
    S: Stream<Item = Result<RecordBatch>> + Unpin,
{
    type Item = Result<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let polled = Pin::new(&mut self.inner).poll_next(cx);
        if let Poll::Ready(None) = polled {
            self.guard.finished();
        }
        polled
    }
}
