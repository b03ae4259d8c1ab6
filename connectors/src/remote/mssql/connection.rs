//! SQL Server connections: a bb8 pool of tiberius clients, behind the
//! table-providers' pool and connection traits so that the provider,
//! federation executor, fail-fast guard and cancellation of the other
//! databases serve SQL Server unchanged.

use std::any::Any;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use datafusion::arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion::common::TableReference;
use datafusion::error::DataFusionError;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion_table_providers::sql::db_connection_pool::dbconnection::{
    AsyncDbConnection, DbConnection, Error as ConnectionError, GenericError, TableSchemas,
};
use datafusion_table_providers::sql::db_connection_pool::{DbConnectionPool, JoinPushDown};
use futures::TryStreamExt;
use tiberius::{Client, Config, QueryItem};
use tokio::net::TcpStream;
use tokio::sync::{Mutex, mpsc};
use tokio_util::compat::{Compat, TokioAsyncWriteCompatExt};

use super::types::{BatchBuilder, arrow_type};

pub(crate) type MssqlClient = Client<Compat<TcpStream>>;
pub(crate) type MssqlPooled = bb8::PooledConnection<'static, MssqlManager>;
/// Statements are sent as text with their literals; no parameters.
pub(crate) type MssqlParam = ();

/// Rows per Arrow batch.
const BATCH_ROWS: usize = 8192;

/// Opens tiberius clients for bb8.
#[derive(Clone)]
pub(crate) struct MssqlManager {
    pub config: Config,
    /// A named instance is found through the SQL Browser service.
    pub named_instance: bool,
    pub errors: ConnectErrors,
}

impl MssqlManager {
    /// A client outside the pool: the login's own error, at once.
    pub async fn connect_direct(&self) -> tiberius::Result<MssqlClient> {
        bb8::ManageConnection::connect(self).await
    }

    async fn open(&self, config: Config) -> tiberius::Result<MssqlClient> {
        let tcp = if self.named_instance {
            use tiberius::SqlBrowser;
            TcpStream::connect_named(&config).await?
        } else {
            TcpStream::connect(config.get_addr()).await?
        };
        tcp.set_nodelay(true)?;
        Client::connect(config, tcp.compat_write()).await
    }
}

impl bb8::ManageConnection for MssqlManager {
    type Connection = MssqlClient;
    type Error = tiberius::error::Error;

    async fn connect(&self) -> Result<MssqlClient, Self::Error> {
        let opened = match self.open(self.config.clone()).await {
            // Azure SQL's gateway redirects to the database's own node.
            Err(tiberius::error::Error::Routing { host, port }) => {
                let mut config = self.config.clone();
                config.host(&host);
                config.port(port);
                self.open(config).await
            }
            other => other,
        };
        if let Err(error) = &opened {
            self.errors.record(error);
        }
        opened
    }

    async fn is_valid(&self, client: &mut MssqlClient) -> Result<(), Self::Error> {
        client
            .simple_query("SELECT 1")
            .await?
            .into_results()
            .await?;
        Ok(())
    }

    fn has_broken(&self, _client: &mut MssqlClient) -> bool {
        false
    }
}

/// The errors of the pool's connection attempts (not of its checks of idle
/// connections), which bb8 would otherwise swallow (waiting out its timeout): a query waiting for a connection
/// fails as soon as an attempt made for it fails, with SQL Server's reason
/// (login failed, say), while a merely busy pool is waited for.
#[derive(Debug, Clone, Default)]
pub(crate) struct ConnectErrors(Arc<std::sync::Mutex<Option<(Instant, tiberius::error::Error)>>>);

impl ConnectErrors {
    /// The last error, if it happened at or after `since`.
    fn since(&self, since: Instant) -> Option<tiberius::error::Error> {
        let last = match self.0.lock() {
            Ok(last) => last.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        last.filter(|(at, _)| *at >= since).map(|(_, error)| error)
    }

    /// Resolves with the first error at or after `since`.
    async fn first_since(&self, since: Instant) -> tiberius::error::Error {
        loop {
            if let Some(error) = self.since(since) {
                return error;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

impl ConnectErrors {
    fn record(&self, error: &tiberius::error::Error) {
        let entry = Some((Instant::now(), error.clone()));
        match self.0.lock() {
            Ok(mut last) => *last = entry,
            Err(poisoned) => *poisoned.into_inner() = entry,
        }
    }
}

pub(crate) struct MssqlConnectionPool {
    pub pool: bb8::Pool<MssqlManager>,
    pub errors: ConnectErrors,
}

#[async_trait]
impl DbConnectionPool<MssqlPooled, MssqlParam> for MssqlConnectionPool {
    async fn connect(
        &self,
    ) -> Result<Box<dyn DbConnection<MssqlPooled, MssqlParam>>, GenericError> {
        let asked = Instant::now();
        let client = tokio::select! {
            got = self.pool.get_owned() => got.map_err(|e| match e {
                bb8::RunError::User(error) => Box::new(error) as GenericError,
                bb8::RunError::TimedOut => Box::new(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "no SQL Server connection became free in time",
                )),
            })?,
            failed = self.errors.first_since(asked) => return Err(Box::new(failed)),
        };
        Ok(Box::new(MssqlConnection {
            client: Arc::new(Mutex::new(client)),
        }))
    }

    fn join_push_down(&self) -> JoinPushDown {
        // The executor names the context per source.
        JoinPushDown::Disallow
    }
}

pub(crate) struct MssqlConnection {
    pub client: Arc<Mutex<MssqlPooled>>,
}

impl DbConnection<MssqlPooled, MssqlParam> for MssqlConnection {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }

    fn as_async(&self) -> Option<&dyn AsyncDbConnection<MssqlPooled, MssqlParam>> {
        Some(self)
    }
}

/// Columns of a table, in order, as `INFORMATION_SCHEMA.COLUMNS` lists them.
const COLUMNS: &str = "SELECT COLUMN_NAME, DATA_TYPE, CAST(NUMERIC_PRECISION AS int), \
     CAST(NUMERIC_SCALE AS int), IS_NULLABLE \
     FROM INFORMATION_SCHEMA.COLUMNS WHERE TABLE_SCHEMA = @P1 AND TABLE_NAME = @P2 \
     ORDER BY ORDINAL_POSITION";

impl MssqlConnection {
    /// The first column of `sql`'s rows, `@P1` bound to `parameter`.
    async fn first_column(&self, sql: &str, parameter: &str) -> tiberius::Result<Vec<String>> {
        let mut client = self.client.lock().await;
        let rows = client
            .query(sql, &[&parameter])
            .await?
            .into_first_result()
            .await?;
        Ok(rows
            .iter()
            .filter_map(|r| r.get::<&str, _>(0).map(str::to_owned))
            .collect())
    }

    async fn schema_of(&self, schema: &str, table: &str) -> Result<SchemaRef, GenericError> {
        let mut client = self.client.lock().await;
        let rows = client
            .query(COLUMNS, &[&schema, &table])
            .await?
            .into_first_result()
            .await?;
        let mut fields = Vec::with_capacity(rows.len());
        for row in rows {
            let name: &str = row.try_get(0)?.unwrap_or_default();
            let type_name: &str = row.try_get(1)?.unwrap_or_default();
            let precision: Option<i32> = row.try_get(2)?;
            let scale: Option<i32> = row.try_get(3)?;
            let nullable: &str = row.try_get(4)?.unwrap_or("YES");
            let precision = precision.and_then(|p| u8::try_from(p).ok());
            if name.contains(']') {
                // The unparser cannot bracket-quote it.
                tracing::warn!("column {schema}.{table}.{name} is left out: its name holds ']'");
                continue;
            }
            match arrow_type(type_name, precision, scale) {
                Some(data_type) => {
                    fields.push(Field::new(name, data_type, nullable != "NO"));
                }
                None => tracing::warn!(
                    "column {schema}.{table}.{name} of SQL Server type {type_name} is left out: it has no Arrow type"
                ),
            }
        }
        if fields.is_empty() {
            return Err(
                format!("table {schema}.{table} not found (or it has no readable column)").into(),
            );
        }
        Ok(Arc::new(Schema::new(fields)))
    }
}

#[async_trait]
impl AsyncDbConnection<MssqlPooled, MssqlParam> for MssqlConnection {
    fn new(conn: MssqlPooled) -> Self {
        Self {
            client: Arc::new(Mutex::new(conn)),
        }
    }

    fn new_with_schemas(conn: MssqlPooled, _schemas: Arc<TableSchemas>) -> Self {
        Self::new(conn)
    }

    async fn tables(&self, schema: &str) -> Result<Vec<String>, ConnectionError> {
        self.first_column(
            "SELECT TABLE_NAME FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_SCHEMA = @P1 ORDER BY 1",
            schema,
        )
        .await
        .map_err(|e| ConnectionError::UnableToGetTables {
            source: Box::new(e),
        })
    }

    async fn schemas(&self) -> Result<Vec<String>, ConnectionError> {
        self.first_column(
            "SELECT DISTINCT TABLE_SCHEMA FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_SCHEMA <> @P1 ORDER BY 1",
            "INFORMATION_SCHEMA",
        )
        .await
        .map_err(|e| ConnectionError::UnableToGetSchemas {
            source: Box::new(e),
        })
    }

    async fn get_schema(&self, table: &TableReference) -> Result<SchemaRef, ConnectionError> {
        let schema = table.schema().unwrap_or("dbo");
        self.schema_of(schema, table.table())
            .await
            .map_err(|source| ConnectionError::UnableToGetSchema { source })
    }

    /// Sends `sql` and streams its first result set as batches of
    /// `projected_schema`. Returns once the first batch (or the end, or the
    /// statement's error) is there, so that a failing statement fails here,
    /// with SQL Server's error number.
    async fn query_arrow(
        &self,
        sql: &str,
        _params: &[MssqlParam],
        projected_schema: Option<SchemaRef>,
    ) -> Result<SendableRecordBatchStream, GenericError> {
        let schema = projected_schema.ok_or("a SQL Server statement needs its expected columns")?;
        let mut builder = BatchBuilder::new(Arc::clone(&schema), BATCH_ROWS)?;
        let (sender, mut receiver) = mpsc::channel::<Result<_, GenericError>>(2);
        let client = Arc::clone(&self.client);
        let sql = sql.to_owned();
        tokio::spawn(async move {
            let mut client = client.lock_owned().await;
            let read = async {
                let mut stream = client.simple_query(sql).await?;
                let mut sent_any = false;
                while let Some(item) = stream.try_next().await? {
                    let QueryItem::Row(row) = item else { continue };
                    // Only the first result set answers the statement.
                    if row.result_index() > 0 {
                        break;
                    }
                    builder.push(row)?;
                    if builder.rows() == BATCH_ROWS {
                        let batch = builder.finish()?;
                        sent_any = true;
                        if sender.send(Ok(batch)).await.is_err() {
                            // Nobody reads any more; tiberius drains the
                            // rest before the connection's next statement.
                            return Ok::<_, GenericError>(());
                        }
                    }
                }
                if builder.rows() > 0 || !sent_any {
                    let _ = sender.send(Ok(builder.finish()?)).await;
                }
                Ok(())
            };
            if let Err(error) = read.await {
                let _ = sender.send(Err(error)).await;
            }
        });
        let first = match receiver.recv().await {
            Some(Ok(batch)) => batch,
            Some(Err(error)) => return Err(error),
            None => return Err("the SQL Server reader stopped without an answer".into()),
        };
        let rest = futures::stream::unfold(receiver, |mut receiver| async move {
            receiver.recv().await.map(|item| (item, receiver))
        });
        let stream =
            futures::StreamExt::chain(futures::stream::once(async move { Ok(first) }), rest)
                .map_err(DataFusionError::External);
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, stream)))
    }

    async fn execute(&self, _sql: &str, _params: &[MssqlParam]) -> Result<u64, GenericError> {
        Err("SQL Server sources are read-only".into())
    }
}
