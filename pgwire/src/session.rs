//! A client session's query handlers: DataFusion's pg front end, with what
//! a PostgreSQL client expects of a running statement around it.
//!
//! `DfSessionService` plans and encodes. Around it: a CancelRequest or the
//! end of `statement_timeout` stops the statement, both while it plans and
//! while its rows stream out (see `cancel`); the rows are produced on the
//! execution runtime (see `execution`); running statements are counted for
//! a graceful shutdown (see `in_flight`).

use std::fmt::Debug;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use async_trait::async_trait;
use datafusion::prelude::SessionContext;
use datafusion_postgres::pgwire::api::portal::Portal;
use datafusion_postgres::pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use datafusion_postgres::pgwire::api::results::Response;
use datafusion_postgres::pgwire::api::store::PortalStore;
use datafusion_postgres::pgwire::api::{ClientInfo, ClientPortalStore};
use datafusion_postgres::pgwire::error::{PgWireError, PgWireResult};
use datafusion_postgres::pgwire::messages::PgWireBackendMessage;
use datafusion_postgres::pgwire::messages::data::DataRow;
use datafusion_postgres::{DfSessionService, Parser};
use futures::{FutureExt, Sink, Stream, StreamExt};

use crate::cancel::{CancelSignal, statement_cancel_signal, stopped};
use crate::copy::parse_copy_out;
use crate::execution::Executor;
use crate::in_flight::{InFlight, StatementGuard};
use crate::sqlstate::query_canceled;

/// One client session: its own DataFusion session (so `SET` stays in it),
/// sharing catalogs and object stores with every other.
pub(crate) struct ClientSession {
    inner: DfSessionService,
    /// This session's engine, for what runs outside `inner` (COPY).
    context: Arc<SessionContext>,
    in_flight: InFlight,
    executor: Executor,
}

impl ClientSession {
    pub(crate) fn new(
        inner: DfSessionService,
        context: Arc<SessionContext>,
        in_flight: InFlight,
        executor: Executor,
    ) -> Self {
        Self {
            inner,
            context,
            in_flight,
            executor,
        }
    }

    fn watch_rows(
        &self,
        response: Response,
        signal: &CancelSignal,
        statement: &Arc<StatementGuard>,
    ) -> Response {
        match response {
            Response::Query(mut query) => {
                let rows =
                    std::mem::replace(&mut query.data_rows, Box::pin(futures::stream::empty()));
                query.data_rows = Box::pin(CancellableRows {
                    rows: self.executor.drive(rows),
                    signal: Some(signal.clone()),
                    finished: false,
                    _statement: statement.clone(),
                });
                Response::Query(query)
            }
            other => other,
        }
    }
}

/// A row stream that ends with 57014 as soon as the client cancels, and
/// counts as a running statement until it is dropped.
struct CancellableRows {
    rows: Pin<Box<dyn Stream<Item = PgWireResult<DataRow>> + Send>>,
    signal: Option<CancelSignal>,
    finished: bool,
    _statement: Arc<StatementGuard>,
}

impl Stream for CancellableRows {
    type Item = PgWireResult<DataRow>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.finished {
            return Poll::Ready(None);
        }
        if let Some(signal) = this.signal.as_mut() {
            match signal.poll_unpin(cx) {
                Poll::Ready(Some(stop)) => {
                    this.finished = true;
                    return Poll::Ready(Some(Err(query_canceled(stop))));
                }
                Poll::Ready(None) => this.signal = None,
                Poll::Pending => {}
            }
        }
        this.rows.poll_next_unpin(cx)
    }
}

#[async_trait]
impl SimpleQueryHandler for ClientSession {
    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let statement = Arc::new(self.in_flight.enter());
        let signal = statement_cancel_signal(client).await;
        // The SQL parser does not know COPY … TO STDOUT: it is read first.
        if let Some(copy) = parse_copy_out(query)? {
            return tokio::select! {
                response = self.executor.enter(copy.run(&self.context)) => Ok(vec![response?]),
                stop = stopped(signal.clone()) => Err(query_canceled(stop)),
            };
        }
        let responses = tokio::select! {
            responses = self.executor.enter(<DfSessionService as SimpleQueryHandler>::do_query(&self.inner, client, query)) => responses?,
            stop = stopped(signal.clone()) => return Err(query_canceled(stop)),
        };
        Ok(responses
            .into_iter()
            .map(|r| self.watch_rows(r, &signal, &statement))
            .collect())
    }
}

#[async_trait]
impl ExtendedQueryHandler for ClientSession {
    type Statement = <DfSessionService as ExtendedQueryHandler>::Statement;
    type QueryParser = Parser;

    fn query_parser(&self) -> Arc<Self::QueryParser> {
        self.inner.query_parser()
    }

    async fn do_query<C>(
        &self,
        client: &mut C,
        portal: &Portal<Self::Statement>,
        max_rows: usize,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let statement = Arc::new(self.in_flight.enter());
        let signal = statement_cancel_signal(client).await;
        let response = tokio::select! {
            response = self.executor.enter(<DfSessionService as ExtendedQueryHandler>::do_query(&self.inner, client, portal, max_rows)) => response?,
            stop = stopped(signal.clone()) => return Err(query_canceled(stop)),
        };
        Ok(self.watch_rows(response, &signal, &statement))
    }
}
