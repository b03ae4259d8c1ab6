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
use datafusion_table_providers::sql::db_connection_pool::dbconnection::DbConnection;
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

/// Holds the connection a statement runs on. Dropped after the rows ran
/// out, it lets the connection go back to the pool; dropped before, it
/// cancels the statement first and waits until the connection is idle, so
/// that the cancel can never reach the next statement run on it.
pub(crate) struct CancelOnDrop<T: 'static, P: 'static> {
    source: String,
    cancel: Option<SourceCancel>,
    connection: Option<Box<dyn DbConnection<T, P>>>,
}

impl<T: 'static, P: 'static> CancelOnDrop<T, P> {
    pub(crate) fn new(
        source: &str,
        cancel: Option<SourceCancel>,
        connection: Box<dyn DbConnection<T, P>>,
    ) -> Self {
        Self {
            source: source.to_owned(),
            cancel,
            connection: Some(connection),
        }
    }

    /// The connection, for running the statement (the rows it returns do
    /// not borrow it).
    pub(crate) fn connection(&self) -> &dyn DbConnection<T, P> {
        match &self.connection {
            Some(connection) => connection.as_ref(),
            // Only `Drop` takes it.
            None => unreachable!("the connection is held until the guard is dropped"),
        }
    }

    /// The statement finished (or never started): nothing to cancel.
    pub(crate) fn finished(&mut self) {
        self.cancel = None;
    }
}

impl<T: 'static, P: 'static> Drop for CancelOnDrop<T, P> {
    fn drop(&mut self) {
        let Some(cancel) = self.cancel.take() else {
            return;
        };
        let Some(connection) = self.connection.take() else {
            return;
        };
        // Drop may run outside a runtime (at shutdown): then the connection
        // closes with the process, and the statement with it.
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
            settle(connection).await;
        });
    }
}

/// Waits until the connection has finished with the cancelled statement
/// (one trivial statement queues behind what is left of it), then lets it
/// go back to the pool.
async fn settle<T: 'static, P: 'static>(connection: Box<dyn DbConnection<T, P>>) {
    // Typed references only: the connection itself is not `Sync`.
    let postgres: Option<&PostgresConnection> = connection.as_any().downcast_ref();
    if let Some(postgres) = postgres {
        let _ = postgres.conn.simple_query("SELECT 1").await;
        return;
    }
    let mysql: Option<Arc<futures::lock::Mutex<mysql_async::Conn>>> = connection
        .as_any()
        .downcast_ref::<MySQLConnection>()
        .map(|m| Arc::clone(&m.conn));
    if let Some(mysql) = mysql {
        let mut conn = mysql.lock().await;
        let _ = mysql_async::prelude::Queryable::query_drop(&mut *conn, "DO 0").await;
    }
}

/// A source's rows, with the statement cancelled if they are dropped
/// before the end.
pub(crate) struct CancellingStream<S, T: 'static, P: 'static> {
    pub(crate) inner: S,
    pub(crate) guard: CancelOnDrop<T, P>,
}

impl<S, T: 'static, P: 'static> Stream for CancellingStream<S, T, P>
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
