//! The SQL executor federation hands pushed-down statements to.
//!
//! It wraps the table-providers executor (which knows the dialect and, for
//! MySQL, rewrites window frames) and replaces two things: the compute
//! context, so that tables of one source, and only of one source, are joined
//! in the database; and execution, so that a failure keeps its cause (the
//! library turns every error into text, losing the database's SQLSTATE).

use std::any::Any;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::datatypes::{Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::{DataFusionError, Result, Statistics};
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::PhysicalExpr;
use datafusion::physical_plan::SendableRecordBatchStream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::sql::sqlparser::ast::{Ident, SelectItem, SetExpr, Statement};
use datafusion::sql::sqlparser::dialect::MySqlDialect;
use datafusion::sql::sqlparser::parser::Parser;
use datafusion::sql::unparser::dialect::Dialect;
use datafusion_federation::sql::{AstAnalyzer, LogicalOptimizer, SQLExecutor};
use datafusion_table_providers::postgres::conn::PostgresConnection;
use datafusion_table_providers::sql::db_connection_pool::DbConnectionPool;
use futures::TryStreamExt;

use super::bound::{BatchStream, bind_string_literals, query_bound};
use super::cancel::{CancelOnDrop, CancellingStream, SourceCancel};
use super::error::SourceError;

/// A source's pool, shared with the executor that takes connections from it.
pub(crate) type SharedPool<T, P> = Arc<dyn DbConnectionPool<T, P> + Send + Sync>;

/// The cancel handle of a connection from the pool (which a MySQL cancel
/// uses to run `KILL QUERY`).
pub(crate) type CancelOf<T, P> = fn(&dyn Any, SharedPool<T, P>) -> Option<SourceCancel>;

pub(crate) struct SourceExecutor<T: 'static, P: 'static> {
    pub source_name: String,
    pub inner: Arc<dyn SQLExecutor>,
    pub pool: Arc<dyn DbConnectionPool<T, P> + Send + Sync>,
    /// Name the statement's columns `c0, c1, …` and match them by position.
    pub positional_names: bool,
    /// How to stop a statement on one of the pool's connections.
    pub cancel_of: CancelOf<T, P>,
    /// What the unparser's standard SQL needs to become the database's
    /// dialect (T-SQL's TOP, Oracle's FETCH FIRST).
    pub dialect_rewrite: Option<fn(Statement) -> Statement>,
}

#[async_trait]
impl<T: 'static, P: 'static> SQLExecutor for SourceExecutor<T, P> {
    fn name(&self) -> &str {
        &self.source_name
    }

    /// One context per source: federation merges sub-plans whose providers
    /// have equal contexts into one statement. (The library's context is
    /// host, port, database and user; ours shows no connection detail in
    /// EXPLAIN.)
    fn compute_context(&self) -> Option<String> {
        Some(format!("source={}", self.source_name))
    }

    fn dialect(&self) -> Arc<dyn Dialect> {
        self.inner.dialect()
    }

    fn logical_optimizer(&self) -> Option<LogicalOptimizer> {
        self.inner.logical_optimizer()
    }

    /// The library's (MySQL: window frames), then, where columns are matched
    /// by position, the `c0, c1, …` names, so that EXPLAIN shows the exact
    /// statement sent (`rewritten_executor_sql=…`).
    fn ast_analyzer(&self) -> Option<AstAnalyzer> {
        let mut inner = self.inner.ast_analyzer();
        let rewrite = self.dialect_rewrite;
        if !self.positional_names && rewrite.is_none() {
            return inner;
        }
        let positional_names = self.positional_names;
        Some(Box::new(move |statement| {
            let mut statement = match inner.as_mut() {
                Some(analyzer) => analyzer(statement)?,
                None => statement,
            };
            if let Some(rewrite) = rewrite {
                statement = rewrite(statement);
            }
            let mut aliased = statement.clone();
            if positional_names && alias_positionally(&mut aliased).is_some() {
                statement = aliased;
            }
            Ok(statement)
        }))
    }

    fn execute(
        &self,
        query: &str,
        schema: SchemaRef,
        _filters: &[Arc<dyn PhysicalExpr>],
    ) -> Result<SendableRecordBatchStream> {
        let (sql, projected) = match self.positional_names {
            true => positional(query, &schema)?,
            false => (query.to_owned(), Arc::clone(&schema)),
        };
        tracing::debug!(source = %self.source_name, %sql, "sending to source");
        let pool = Arc::clone(&self.pool);
        let source_name = self.source_name.clone();
        let column_names: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
        let cancel_of = self.cancel_of;
        let start = async move {
            let connection = pool.connect().await.map_err(DataFusionError::External)?;
            // From here on, dropping this future or the stream it makes
            // cancels the statement at the source.
            let cancel = cancel_of(connection.as_any(), pool);
            // The guard holds the connection: it goes back to the pool only
            // when the rows ran out or, if they are dropped first, after
            // the statement was cancelled and the connection is idle again.
            let mut guard = CancelOnDrop::new(&source_name, cancel, connection);
            // PostgreSQL: string literals go as bound parameters.
            let postgres: Option<&PostgresConnection> = guard.connection().as_any().downcast_ref();
            let started: std::result::Result<BatchStream, SourceError> =
                match (postgres, postgres.and_then(|_| bind_string_literals(&sql))) {
                    (Some(postgres), Some((bound_sql, values))) => {
                        query_bound(postgres, &source_name, &bound_sql, &values, projected).await
                    }
                    _ => match guard.connection().as_async() {
                        Some(database) => database
                            .query_arrow(&sql, &[], Some(projected))
                            .await
                            .map(|rows| Box::pin(rows) as BatchStream)
                            .map_err(|e| SourceError::from_query(&source_name, e.as_ref())),
                        None => Err(SourceError::from_query(
                            &source_name,
                            &std::io::Error::other("its connection cannot run queries"),
                        )),
                    },
                };
            let rows = match started {
                Ok(rows) => rows,
                Err(error) => {
                    guard.finished();
                    let error = error.naming_columns(&column_names);
                    return Err(DataFusionError::External(Box::new(error)));
                }
            };
            let streaming_source = source_name.clone();
            let rows = CancellingStream { inner: rows, guard }
                .map_err(move |error| streaming_error(&streaming_source, error));
            Ok::<_, DataFusionError>(rows)
        };
        let names = Arc::clone(&schema);
        let stream = futures::stream::once(start)
            .try_flatten()
            .and_then(move |batch| futures::future::ready(renamed(batch, &names)));
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, stream)))
    }

    async fn statistics(&self, plan: &LogicalPlan) -> Result<Statistics> {
        self.inner.statistics(plan).await
    }

    async fn table_names(&self) -> Result<Vec<String>> {
        self.inner.table_names().await
    }

    async fn get_table_schema(&self, table_name: &str) -> Result<SchemaRef> {
        self.inner.get_table_schema(table_name).await
    }
}

/// An error while a source's rows stream in. A lost connection (the
/// server shut down or died mid-query) is the source unavailable, class 08
/// naming it, on every front end: the providers often hand it over as
/// text ("connection closed", PostgreSQL's FATAL 57P01), which the engine
/// would otherwise report as a data exception without the source's name.
/// Any other error is left as it is.
pub(crate) fn streaming_error(source_name: &str, error: DataFusionError) -> DataFusionError {
    let classified = SourceError::from_query(source_name, &error);
    let lost = match &classified {
        SourceError::Unavailable { .. } => true,
        SourceError::Remote {
            sqlstate, message, ..
        } => {
            sqlstate
                .as_deref()
                .is_some_and(|code| code.starts_with("08") || code.starts_with("57P"))
                || connection_lost_text(message)
                || connection_lost_text(&error.to_string())
        }
    };
    if !lost {
        return error;
    }
    let reason = match classified {
        SourceError::Unavailable { reason, .. } => reason,
        SourceError::Remote { message, .. } => message,
    };
    DataFusionError::External(Box::new(SourceError::Unavailable {
        source_name: source_name.to_owned(),
        reason: format!("the connection was lost while rows were read: {reason}"),
    }))
}

/// What drivers say, as text, when the server goes away mid-stream.
fn connection_lost_text(message: &str) -> bool {
    let message = message.to_ascii_lowercase();
    [
        "connection closed",
        "terminating connection",
        "server closed the connection",
        "connection reset",
        "broken pipe",
        "unexpected eof",
        "unexpected end of file",
        "lost connection",
        "server has gone away",
    ]
    .iter()
    .any(|needle| message.contains(needle))
}

/// Rewrites the statement so that its columns are named `c0, c1, …`, and
/// the expected schema to match.
fn positional(query: &str, schema: &SchemaRef) -> Result<(String, SchemaRef)> {
    let unchanged = || Ok((query.to_owned(), Arc::clone(schema)));
    let Ok(mut statements) = Parser::parse_sql(&MySqlDialect {}, query) else {
        return unchanged();
    };
    let Some(statement) = statements.first_mut() else {
        return unchanged();
    };
    if alias_positionally(statement) != Some(schema.fields().len()) {
        return unchanged();
    }
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| f.as_ref().clone().with_name(format!("c{i}")))
        .collect();
    Ok((statement.to_string(), Arc::new(Schema::new(fields))))
}

/// Names the columns of the statement's first SELECT (a set operation takes
/// its names from it) `c0, c1, …` and says how many there are; `None`, and
/// the statement untouched, where one is a wildcard. Doing it twice changes
/// nothing: EXPLAIN shows it, and execution finds it done.
fn alias_positionally(statement: &mut Statement) -> Option<usize> {
    let Statement::Query(query) = statement else {
        return None;
    };
    let mut body = query.body.as_mut();
    let select = loop {
        match body {
            SetExpr::Select(select) => break select,
            SetExpr::SetOperation { left, .. } => body = left.as_mut(),
            SetExpr::Query(query) => body = query.body.as_mut(),
            _ => return None,
        }
    };
    let named = |item: &SelectItem| {
        matches!(
            item,
            SelectItem::UnnamedExpr(_) | SelectItem::ExprWithAlias { .. }
        )
    };
    if !select.projection.iter().all(named) {
        return None;
    }
    for (i, item) in select.projection.iter_mut().enumerate() {
        let alias = Ident::with_quote('`', format!("c{i}"));
        if let SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. } = item {
            *item = SelectItem::ExprWithAlias {
                expr: expr.clone(),
                alias,
            };
        }
    }
    Some(select.projection.len())
}

/// The batch under the names DataFusion expects.
fn renamed(batch: RecordBatch, names: &SchemaRef) -> Result<RecordBatch> {
    if batch.num_columns() != names.fields().len()
        || batch
            .schema()
            .fields()
            .iter()
            .zip(names.fields())
            .all(|(a, b)| a.name() == b.name())
    {
        return Ok(batch);
    }
    let fields: Vec<Field> = batch
        .schema()
        .fields()
        .iter()
        .zip(names.fields())
        .map(|(field, name)| field.as_ref().clone().with_name(name.name()))
        .collect();
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        batch.columns().to_vec(),
    )?)
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::datatypes::DataType;

    use super::*;

    #[test]
    fn columns_are_renamed_by_position() -> Result<()> {
        let schema = Arc::new(Schema::new(vec![
            Field::new("sum(my.items.qty)", DataType::Int64, true),
            Field::new("category", DataType::Utf8, true),
        ]));
        let (sql, projected) = positional(
            "SELECT sum(`items`.`qty`), `items`.`category` AS `category` FROM `fed`.`items` GROUP BY `items`.`category`",
            &schema,
        )?;
        assert_eq!(
            sql,
            "SELECT sum(`items`.`qty`) AS `c0`, `items`.`category` AS `c1` FROM `fed`.`items` GROUP BY `items`.`category`"
        );
        assert_eq!(projected.field(0).name(), "c0");
        assert_eq!(projected.field(1).data_type(), &DataType::Utf8);
        Ok(())
    }

    #[test]
    fn renaming_twice_changes_nothing() -> Result<()> {
        let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, true)]));
        let (once, _) = positional("SELECT count(1) FROM t", &schema)?;
        let (twice, projected) = positional(&once, &schema)?;
        assert_eq!(once, twice);
        assert_eq!(projected.field(0).name(), "c0");
        let (wildcard, kept) = positional("SELECT * FROM t", &schema)?;
        assert_eq!(wildcard, "SELECT * FROM t");
        assert_eq!(kept.field(0).name(), "x");
        Ok(())
    }

    #[test]
    fn a_union_is_renamed_in_its_first_select() -> Result<()> {
        let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, true)]));
        let (sql, _) = positional("SELECT a FROM t UNION ALL SELECT b FROM u", &schema)?;
        assert_eq!(sql, "SELECT a AS `c0` FROM t UNION ALL SELECT b FROM u");
        Ok(())
    }
}
