//! One open database: its pool, its listing, its tables as providers.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::TableProvider;
use datafusion::common::TableReference;
use datafusion::optimizer::Optimizer;
use datafusion::sql::unparser::dialect::{MySqlDialect, PostgreSqlDialect};
use datafusion_federation::FederatedTableProviderAdaptor;
use datafusion_federation::sql::{
    RemoteTableRef, SQLExecutor, SQLFederationPlanner, SQLFederationProvider, SQLTableSource,
};
use datafusion_table_providers::UnsupportedTypeAction;
use datafusion_table_providers::mysql::DynMySQLConnectionPool;

use super::cancel::{mysql_cancel, postgres_cancel};
use datafusion_table_providers::mysql::conn::MySQLConnection;
use datafusion_table_providers::mysql::pool::MySQLConnectionPool;
use datafusion_table_providers::mysql::sql_table::MySQLTable;
use datafusion_table_providers::postgres::DynPostgresConnectionPool;
use datafusion_table_providers::postgres::conn::PostgresConnection;
use datafusion_table_providers::postgres::pool::PostgresConnectionPool;
use datafusion_table_providers::sql::db_connection_pool::DbConnectionPool;
use datafusion_table_providers::sql::db_connection_pool::dbconnection::DbConnection;
use datafusion_table_providers::sql::sql_provider_datafusion::SqlTable;
use mysql_async::prelude::Queryable;
use secrecy::SecretString;

use super::error::SourceError;
use super::executor::{CancelOf, SharedPool, SourceExecutor};
use super::guard::{Endpoint, GuardedPool};
use super::keys::{self, Key, MysqlKeyColumn, PostgresConstraint};
use super::local::PullEverything;
use super::pushdown::{GuardedFederation, PushdownPolicy};
use super::{DatabaseKind, DatabaseSpec, TlsMode};
use datafusion::sql::sqlparser::ast::Statement;

/// Schema name → table names, as the database lists them.
pub(crate) type Listing = BTreeMap<String, Vec<String>>;

#[async_trait]
pub(crate) trait Database: Send + Sync {
    /// Every schema and table (and view) the user can see, system schemas aside.
    async fn listing(&self) -> Result<Listing, SourceError>;

    /// A provider for one table, federated unless the source has pushdown off.
    async fn table(&self, schema: &str, table: &str)
    -> Result<Arc<dyn TableProvider>, SourceError>;

    /// The primary, unique and foreign keys of every table.
    async fn keys(&self) -> Result<Vec<Key>, SourceError>;
}

/// Opens the database, logging in with `password` (the spec's, as it is now).
pub(crate) async fn open(
    spec: &DatabaseSpec,
    password: Option<SecretString>,
) -> Result<Arc<dyn Database>, SourceError> {
    let endpoint = Endpoint {
        source_name: spec.name.clone(),
        host: spec.host.clone(),
        port: spec.port,
        connect_timeout: spec.connect_timeout,
    };
    // Opening probes the address, connects, and runs a first statement.
    let deadline = spec.connect_timeout * 3;
    let opened = tokio::time::timeout(deadline, async {
        match spec.kind {
            DatabaseKind::Postgres => open_postgres(spec, password, endpoint.clone()).await,
            DatabaseKind::Mysql => open_mysql(spec, password, endpoint.clone()).await,
            DatabaseKind::Mssql => super::mssql::open(spec, password, endpoint.clone()).await,
            DatabaseKind::Oracle => super::oracle::open(spec, password, endpoint.clone()).await,
        }
    })
    .await;
    match opened {
        Ok(result) => result,
        Err(_) => {
            Err(endpoint.unavailable(format!("no connection within {} ms", deadline.as_millis())))
        }
    }
}

fn secret(value: impl Into<String>) -> SecretString {
    SecretString::from(value.into())
}

/// The library's errors carry advice on several lines; the first says what
/// happened.
pub(crate) fn first_line(error: &dyn std::error::Error) -> String {
    let text = error.to_string();
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next().unwrap_or_default().to_owned();
    match lines.next() {
        // "PostgreSQL connection failed." is followed by the driver's reason.
        Some(reason) if first.ends_with("failed.") => format!("{first} {reason}"),
        _ => first,
    }
}

struct Postgres {
    spec: DatabaseSpec,
    pool: Arc<DynPostgresConnectionPool>,
    policy: PushdownPolicy,
}

async fn open_postgres(
    spec: &DatabaseSpec,
    password: Option<SecretString>,
    endpoint: Endpoint,
) -> Result<Arc<dyn Database>, SourceError> {
    let mut params: HashMap<String, SecretString> = HashMap::from([
        ("host".to_owned(), secret(&spec.host)),
        ("port".to_owned(), secret(spec.port.to_string())),
        ("user".to_owned(), secret(&spec.user)),
        ("db".to_owned(), secret(&spec.database)),
        ("sslmode".to_owned(), secret(spec.tls.name())),
        (
            "connection_pool_size".to_owned(),
            secret(spec.pool_size.to_string()),
        ),
        ("application_name".to_owned(), secret("tributary")),
        // Pushed timestamptz literals and functions mean what they mean in
        // DataFusion only in UTC.
        ("options".to_owned(), secret("-c TimeZone=UTC")),
    ]);
    if let Some(password) = password {
        params.insert("pass".to_owned(), password);
    }
    let pool = PostgresConnectionPool::new(params)
        .await
        .map_err(|e| endpoint.unavailable(first_line(&e)))?;
    // Types without an Arrow mapping of their own (jsonb, say) arrive as text.
    let pool = pool.with_unsupported_type_action(UnsupportedTypeAction::String);
    let inner: Arc<DynPostgresConnectionPool> = Arc::new(pool);
    let pool: Arc<DynPostgresConnectionPool> = Arc::new(GuardedPool { inner, endpoint });
    let bytewise_text = orders_text_bytewise(&pool, &spec.name).await?;
    Ok(Arc::new(Postgres {
        spec: spec.clone(),
        pool,
        policy: PushdownPolicy {
            kind: DatabaseKind::Postgres,
            bytewise_text,
        },
    }))
}

/// Whether the database's default collation is `C` (or `POSIX`), which
/// orders text by bytes as DataFusion does. PostgreSQL 15 may use ICU.
async fn orders_text_bytewise(
    pool: &Arc<DynPostgresConnectionPool>,
    source_name: &str,
) -> Result<bool, SourceError> {
    let connection = connect(pool, source_name).await?;
    let postgres: &PostgresConnection = downcast(connection.as_ref(), source_name)?;
    let icu = postgres
        .conn
        .query_opt(
            "SELECT datlocprovider::text FROM pg_database WHERE datname = current_database()",
            &[],
        )
        .await
        // Before PostgreSQL 15 there is no provider column: libc only.
        .ok()
        .flatten()
        .is_some_and(|row| row.get::<_, String>(0) == "i");
    let collate = postgres
        .conn
        .query_one(
            "SELECT datcollate::text FROM pg_database WHERE datname = current_database()",
            &[],
        )
        .await
        .map_err(|e| SourceError::from_query(source_name, &e))?;
    let collate: String = collate.get(0);
    Ok(!icu && matches!(collate.as_str(), "C" | "POSIX"))
}

const POSTGRES_LISTING: &str = "SELECT table_schema::text, table_name::text \
     FROM information_schema.tables \
     WHERE table_schema NOT IN ('pg_catalog', 'information_schema') \
       AND table_schema NOT LIKE 'pg\\_%' \
     ORDER BY 1, 2";

#[async_trait]
impl Database for Postgres {
    async fn listing(&self) -> Result<Listing, SourceError> {
        let connection = connect(&self.pool, &self.spec.name).await?;
        let postgres: &PostgresConnection = downcast(connection.as_ref(), &self.spec.name)?;
        let rows = postgres
            .conn
            .query(POSTGRES_LISTING, &[])
            .await
            .map_err(|e| SourceError::from_query(&self.spec.name, &e))?;
        Ok(listing_of(
            rows.iter().map(|row| (row.get::<_, String>(0), row.get(1))),
        ))
    }

    async fn keys(&self) -> Result<Vec<Key>, SourceError> {
        let connection = connect(&self.pool, &self.spec.name).await?;
        let postgres: &PostgresConnection = downcast(connection.as_ref(), &self.spec.name)?;
        let rows = postgres
            .conn
            .query(keys::POSTGRES_KEYS, &[])
            .await
            .map_err(|e| SourceError::from_query(&self.spec.name, &e))?;
        let mut constraints = Vec::with_capacity(rows.len());
        for row in rows {
            let read = || -> Result<PostgresConstraint, tokio_postgres::Error> {
                Ok(PostgresConstraint {
                    schema: row.try_get(0)?,
                    table: row.try_get(1)?,
                    name: row.try_get(2)?,
                    contype: row.try_get(3)?,
                    columns: row.try_get(4)?,
                    referenced_schema: row.try_get(5)?,
                    referenced_table: row.try_get(6)?,
                    referenced_columns: row.try_get(7)?,
                })
            };
            constraints.push(read().map_err(|e| SourceError::from_query(&self.spec.name, &e))?);
        }
        Ok(keys::from_postgres(constraints))
    }

    async fn table(
        &self,
        schema: &str,
        table: &str,
    ) -> Result<Arc<dyn TableProvider>, SourceError> {
        let reference = TableReference::partial(schema, table);
        let sql_table = SqlTable::new("postgres", &self.pool, reference.clone())
            .await
            .map_err(|e| SourceError::from_query(&self.spec.name, &e))?
            .with_dialect(Arc::new(PostgreSqlDialect {}));
        Ok(table_provider(
            &self.spec,
            reference,
            Arc::new(sql_table),
            Pushing {
                pool: Arc::clone(&self.pool),
                cancel_of: |connection, _| postgres_cancel(connection),
                dialect_rewrite: None,
                policy: self.policy,
            },
        ))
    }
}

struct Mysql {
    spec: DatabaseSpec,
    /// The library's own pool: `MySQLTable` takes no other.
    raw_pool: Arc<MySQLConnectionPool>,
    pool: Arc<DynMySQLConnectionPool>,
}

async fn open_mysql(
    spec: &DatabaseSpec,
    password: Option<SecretString>,
    endpoint: Endpoint,
) -> Result<Arc<dyn Database>, SourceError> {
    // mysql_async knows three modes; certificates are verified unless
    // the mode is `preferred`.
    let sslmode = match spec.tls {
        TlsMode::Disable => "disabled",
        TlsMode::Prefer => "preferred",
        TlsMode::Require | TlsMode::VerifyCa | TlsMode::VerifyFull => "required",
    };
    let mut params: HashMap<String, SecretString> = HashMap::from([
        ("host".to_owned(), secret(&spec.host)),
        ("tcp_port".to_owned(), secret(spec.port.to_string())),
        ("user".to_owned(), secret(&spec.user)),
        ("db".to_owned(), secret(&spec.database)),
        ("sslmode".to_owned(), secret(sslmode)),
        ("pool_min".to_owned(), secret("1")),
        ("pool_max".to_owned(), secret(spec.pool_size.to_string())),
    ]);
    if let Some(password) = password {
        params.insert("pass".to_owned(), password);
    }
    let raw_pool = Arc::new(
        MySQLConnectionPool::new(params)
            .await
            .map_err(|e| endpoint.unavailable(first_line(&e)))?,
    );
    let inner: Arc<DynMySQLConnectionPool> = raw_pool.clone();
    let pool: Arc<DynMySQLConnectionPool> = Arc::new(GuardedPool { inner, endpoint });
    Ok(Arc::new(Mysql {
        spec: spec.clone(),
        raw_pool,
        pool,
    }))
}

const MYSQL_LISTING: &str = "SELECT TABLE_SCHEMA, TABLE_NAME FROM INFORMATION_SCHEMA.TABLES \
     WHERE TABLE_SCHEMA NOT IN ('information_schema', 'mysql', 'performance_schema', 'sys') \
     ORDER BY 1, 2";

#[async_trait]
impl Database for Mysql {
    async fn listing(&self) -> Result<Listing, SourceError> {
        let connection = connect(&self.pool, &self.spec.name).await?;
        let mysql: &MySQLConnection = downcast(connection.as_ref(), &self.spec.name)?;
        let mut conn = mysql.conn.lock().await;
        let rows: Vec<(String, String)> = conn
            .query(MYSQL_LISTING)
            .await
            .map_err(|e| SourceError::from_query(&self.spec.name, &e))?;
        Ok(listing_of(rows))
    }

    async fn keys(&self) -> Result<Vec<Key>, SourceError> {
        let connection = connect(&self.pool, &self.spec.name).await?;
        let mysql: &MySQLConnection = downcast(connection.as_ref(), &self.spec.name)?;
        let mut conn = mysql.conn.lock().await;
        let rows: Vec<MysqlKeyColumn> = conn
            .query(keys::MYSQL_KEYS)
            .await
            .map_err(|e| SourceError::from_query(&self.spec.name, &e))?;
        Ok(keys::from_mysql(rows))
    }

    async fn table(
        &self,
        schema: &str,
        table: &str,
    ) -> Result<Arc<dyn TableProvider>, SourceError> {
        let reference = TableReference::partial(schema, table);
        let mysql_table = MySQLTable::new(&self.raw_pool, reference.clone())
            .await
            .map_err(|e| SourceError::from_query(&self.spec.name, &e))?;
        let mysql_table = Arc::new(mysql_table);
        if !self.spec.pushdown {
            // Not MySQLTable: its scan pushes sorts into MySQL, which orders
            // NULLs first where DataFusion asked for NULLS LAST
            // (regression: differential query `rank() OVER (ORDER BY qty NULLS LAST)`).
            let plain = SqlTable::new("mysql", &self.pool, reference)
                .await
                .map_err(|e| SourceError::from_query(&self.spec.name, &e))?
                .with_dialect(Arc::new(MySqlDialect {}));
            return Ok(Arc::new(PullEverything {
                inner: Arc::new(plain),
            }));
        }
        let executor = Arc::new(SourceExecutor {
            source_name: self.spec.name.clone(),
            inner: Arc::clone(&mysql_table) as Arc<dyn SQLExecutor>,
            pool: Arc::clone(&self.pool),
            // The MySQL decoder finds columns by name; computed columns get
            // MySQL's names, not DataFusion's.
            positional_names: true,
            cancel_of: mysql_cancel,
            dialect_rewrite: None,
        });
        Ok(federated(
            executor,
            reference,
            mysql_table,
            PushdownPolicy {
                kind: DatabaseKind::Mysql,
                bytewise_text: false,
            },
        ))
    }
}

pub(crate) fn listing_of(pairs: impl IntoIterator<Item = (String, String)>) -> Listing {
    let mut listing = Listing::new();
    for (schema, table) in pairs {
        listing.entry(schema).or_default().push(table);
    }
    listing
}

pub(crate) async fn connect<T: 'static, P: 'static>(
    pool: &Arc<dyn DbConnectionPool<T, P> + Send + Sync>,
    source_name: &str,
) -> Result<Box<dyn DbConnection<T, P>>, SourceError> {
    pool.connect()
        .await
        .map_err(|e| SourceError::from_query(source_name, e.as_ref()))
}

/// The driver's own connection behind the library's boxed one.
pub(crate) fn downcast<'a, C: 'static, T, P>(
    connection: &'a dyn DbConnection<T, P>,
    source_name: &str,
) -> Result<&'a C, SourceError> {
    connection.as_any().downcast_ref::<C>().ok_or_else(|| {
        SourceError::from_query(
            source_name,
            &std::io::Error::other("the pool returned another kind of connection"),
        )
    })
}

/// How a source's table pushes statements into its database.
pub(crate) struct Pushing<T: 'static, P: 'static> {
    pub pool: SharedPool<T, P>,
    pub cancel_of: CancelOf<T, P>,
    pub dialect_rewrite: Option<fn(Statement) -> Statement>,
    pub policy: PushdownPolicy,
}

/// A table of a database whose rows are read by position: federated with
/// its source's other tables, or, with pushdown off, only pulled.
pub(crate) fn table_provider<T: 'static, P: 'static>(
    spec: &DatabaseSpec,
    reference: TableReference,
    table: Arc<SqlTable<T, P>>,
    pushing: Pushing<T, P>,
) -> Arc<dyn TableProvider> {
    if !spec.pushdown {
        return Arc::new(PullEverything { inner: table });
    }
    let executor = Arc::new(SourceExecutor {
        source_name: spec.name.clone(),
        inner: Arc::clone(&table) as Arc<dyn SQLExecutor>,
        pool: pushing.pool,
        positional_names: false,
        cancel_of: pushing.cancel_of,
        dialect_rewrite: pushing.dialect_rewrite,
    });
    federated(executor, reference, table, pushing.policy)
}

/// A provider the federation optimizer can merge with other tables of the
/// same source; `fallback` is used where federation does not apply.
pub(crate) fn federated(
    executor: Arc<dyn SQLExecutor>,
    reference: TableReference,
    fallback: Arc<dyn TableProvider>,
    policy: PushdownPolicy,
) -> Arc<dyn TableProvider> {
    let schema = fallback.schema();
    let rule = GuardedFederation {
        planner: Arc::new(SQLFederationPlanner::new(executor.clone())),
        policy,
    };
    let provider = Arc::new(SQLFederationProvider {
        optimizer: Arc::new(Optimizer::with_rules(vec![Arc::new(rule)])),
        executor,
    });
    let source = Arc::new(SQLTableSource::new_with_schema(
        provider,
        RemoteTableRef::from(reference),
        schema,
    ));
    Arc::new(FederatedTableProviderAdaptor::new_with_provider(
        source, fallback,
    ))
}
