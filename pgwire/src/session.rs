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
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use async_trait::async_trait;
use datafusion::prelude::SessionContext;
use datafusion_postgres::hooks::QueryHook;
use datafusion_postgres::pgwire::api::DEFAULT_NAME;
use datafusion_postgres::pgwire::api::Type;
use datafusion_postgres::pgwire::api::portal::{Format, Portal};
use datafusion_postgres::pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use datafusion_postgres::pgwire::api::results::FieldInfo;
use datafusion_postgres::pgwire::api::results::Response;
use datafusion_postgres::pgwire::api::stmt::QueryParser;
use datafusion_postgres::pgwire::api::stmt::StoredStatement;
use datafusion_postgres::pgwire::api::store::PortalStore;
use datafusion_postgres::pgwire::api::{ClientInfo, ClientPortalStore};
use datafusion_postgres::pgwire::error::ErrorInfo;
use datafusion_postgres::pgwire::error::{PgWireError, PgWireResult};
use datafusion_postgres::pgwire::messages::PgWireBackendMessage;
use datafusion_postgres::pgwire::messages::data::DataRow;
use datafusion_postgres::pgwire::messages::extendedquery::{
    Close, CloseComplete, Execute, Parse, ParseComplete, TARGET_TYPE_BYTE_PORTAL,
    TARGET_TYPE_BYTE_STATEMENT,
};
use datafusion_postgres::{DfSessionService, Parser};
use futures::{FutureExt, Sink, SinkExt, Stream, StreamExt};

use crate::cancel::{CancelSignal, statement_cancel_signal, stopped};
use crate::complexity::{TooComplex, check_statement_depth};
use crate::copy::parse_copy_out;
use crate::execute::execute_streaming;
use crate::execution::Executor;
use crate::in_flight::{InFlight, StatementGuard};
use crate::parameters::positional;
use crate::prepared::PreparedNames;
use crate::sqlstate::query_canceled;

/// One client session: its own DataFusion session (so `SET` stays in it),
/// sharing catalogs and object stores with every other.
pub(crate) struct ClientSession {
    /// Made at the session's first statement: each one builds its own SQL
    /// compatibility parser, ~540 KiB (see docs/upstream.md), which a
    /// connection that only sits in a pool never needs.
    inner: OnceLock<DfSessionService>,
    hooks: Vec<Arc<dyn QueryHook>>,
    /// This session's engine, for what runs outside `inner` (COPY).
    context: Arc<SessionContext>,
    in_flight: InFlight,
    executor: Executor,
    /// The deepest statement planned (see `complexity`).
    max_statement_depth: usize,
    /// The named statements this session keeps (see `prepared`).
    prepared: PreparedNames,
}

impl ClientSession {
    pub(crate) fn new(
        hooks: Vec<Arc<dyn QueryHook>>,
        context: Arc<SessionContext>,
        in_flight: InFlight,
        executor: Executor,
        max_statement_depth: usize,
        max_prepared_statements: usize,
    ) -> Self {
        Self {
            inner: OnceLock::new(),
            hooks,
            context,
            in_flight,
            executor,
            max_statement_depth,
            prepared: PreparedNames::new(max_prepared_statements),
        }
    }

    /// DataFusion's pg front end over this session's engine.
    fn service(&self) -> &DfSessionService {
        self.inner.get_or_init(|| {
            DfSessionService::new_with_hooks(self.context.clone(), self.hooks.clone())
        })
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
        check_statement_depth(query, self.max_statement_depth).map_err(too_complex)?;
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
            responses = self.executor.enter(<DfSessionService as SimpleQueryHandler>::do_query(self.service(), client, query)) => responses?,
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
    type QueryParser = SavedQueryParser;

    async fn on_parse<C>(&self, client: &mut C, message: Parse) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        // pgwire's own on_parse, with the session's bound on named statements.
        let name = message
            .name
            .clone()
            .unwrap_or_else(|| DEFAULT_NAME.to_owned());
        if name != DEFAULT_NAME {
            let store = client.portal_store();
            self.prepared
                .admit(&name, |kept| store.get_statement(kept).is_some())?;
        }
        match StoredStatement::parse(client, &message, self.query_parser()).await? {
            Some(statement) => client.portal_store().put_statement(Arc::new(statement)),
            None => client.portal_store().put_empty_statement(&name),
        }
        client
            .send(PgWireBackendMessage::ParseComplete(ParseComplete::new()))
            .await?;
        Ok(())
    }

    async fn on_close<C>(&self, client: &mut C, message: Close) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let name = message.name.as_deref().unwrap_or(DEFAULT_NAME);
        match message.target_type {
            TARGET_TYPE_BYTE_STATEMENT => {
                client.portal_store().rm_statement(name);
                self.prepared.forget(name);
            }
            TARGET_TYPE_BYTE_PORTAL => client.portal_store().rm_portal(name),
            _ => {}
        }
        client
            .send(PgWireBackendMessage::CloseComplete(CloseComplete::new()))
            .await?;
        Ok(())
    }

    async fn on_execute<C>(&self, client: &mut C, message: Execute) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        execute_streaming(self, client, message).await
    }

    fn query_parser(&self) -> Arc<Self::QueryParser> {
        Arc::new(SavedQueryParser {
            inner: self.service().query_parser(),
            max_statement_depth: self.max_statement_depth,
        })
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
            response = self.executor.enter(<DfSessionService as ExtendedQueryHandler>::do_query(self.service(), client, portal, max_rows)) => response?,
            stop = stopped(signal.clone()) => return Err(query_canceled(stop)),
        };
        Ok(self.watch_rows(response, &signal, &statement))
    }
}

/// Parses statements for the extended protocol. A saved query in Grok
/// Connect's syntax (`--input:` lines, `@name` in the body) becomes an
/// ordinary prepared statement: its declared parameters are `$1`, `$2`, …
/// in the order of their `--input:` lines, bound by the client.
pub(crate) struct SavedQueryParser {
    inner: Arc<Parser>,
    max_statement_depth: usize,
}

/// A statement too deep to plan, as PostgreSQL reports one (54001).
pub(crate) fn too_complex(error: TooComplex) -> PgWireError {
    let mut info = ErrorInfo::new(
        "ERROR".to_owned(),
        error.sqlstate().to_owned(),
        error.to_string(),
    );
    info.hint = Some(error.hint().to_owned());
    PgWireError::UserError(Box::new(info))
}

#[async_trait]
impl QueryParser for SavedQueryParser {
    type Statement = <Parser as QueryParser>::Statement;

    async fn parse_sql<C>(
        &self,
        client: &C,
        sql: &str,
        types: &[Option<Type>],
    ) -> PgWireResult<Option<Self::Statement>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        check_statement_depth(sql, self.max_statement_depth).map_err(too_complex)?;
        let rewritten = positional(sql).map_err(|error| {
            PgWireError::UserError(Box::new(ErrorInfo::new(
                "ERROR".to_owned(),
                error.sqlstate().to_owned(),
                error.to_string(),
            )))
        })?;
        self.inner
            .parse_sql(client, rewritten.as_deref().unwrap_or(sql), types)
            .await
    }

    fn get_parameter_types(&self, statement: &Self::Statement) -> PgWireResult<Vec<Type>> {
        self.inner.get_parameter_types(statement)
    }

    fn get_result_schema(
        &self,
        statement: &Self::Statement,
        column_format: Option<&Format>,
    ) -> PgWireResult<Vec<FieldInfo>> {
        self.inner.get_result_schema(statement, column_format)
    }
}
