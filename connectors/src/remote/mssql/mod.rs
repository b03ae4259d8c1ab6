//! SQL Server sources, on tiberius (datafusion-table-providers has no SQL
//! Server provider). The pool and connection implement the providers'
//! traits, so tables, federation, the fail-fast guard and the error
//! mapping are the same as for PostgreSQL and MySQL; what is SQL Server's
//! own is here: logging in, the catalog queries, the types and T-SQL.

mod connection;
pub(crate) mod dialect;
pub(crate) mod policy;
pub(crate) mod types;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use datafusion::catalog::TableProvider;
use datafusion::common::TableReference;
use datafusion_table_providers::sql::db_connection_pool::DbConnectionPool;
use datafusion_table_providers::sql::sql_provider_datafusion::SqlTable;
use secrecy::{ExposeSecret, SecretString};
use tiberius::{AuthMethod, Config, EncryptionLevel};

use self::connection::{
    ConnectErrors, MssqlConnection, MssqlConnectionPool, MssqlManager, MssqlParam, MssqlPooled,
};
use self::dialect::TsqlDialect;
use super::database::{Database, Listing, Pushing, connect, downcast, listing_of, table_provider};
use super::error::SourceError;
use super::guard::{Endpoint, GuardedPool};
use super::keys::{self, Key, MysqlKeyColumn};
use super::pushdown::PushdownPolicy;
use super::{DatabaseKind, DatabaseSpec, MssqlEncrypt};

type DynMssqlPool = dyn DbConnectionPool<MssqlPooled, MssqlParam> + Send + Sync;

struct Mssql {
    spec: DatabaseSpec,
    pool: Arc<DynMssqlPool>,
}

/// The login as tiberius takes it; the password only in the config.
fn config_of(spec: &DatabaseSpec, password: Option<&SecretString>) -> Config {
    let mut config = Config::new();
    config.host(&spec.host);
    config.port(spec.port);
    config.database(&spec.database);
    config.application_name("tributary");
    if let Some(instance) = &spec.mssql.instance {
        config.instance_name(instance);
    }
    config.encryption(match spec.mssql.encrypt {
        // SQL Server encrypts the login even then, as every driver does.
        MssqlEncrypt::Off => EncryptionLevel::Off,
        MssqlEncrypt::On => EncryptionLevel::On,
        MssqlEncrypt::Required => EncryptionLevel::Required,
    });
    if spec.mssql.trust_server_certificate {
        config.trust_cert();
    }
    let password = password
        .map(|p| p.expose_secret().to_owned())
        .unwrap_or_default();
    config.authentication(AuthMethod::sql_server(&spec.user, password));
    config.readonly(true);
    config
}

pub(crate) async fn open(
    spec: &DatabaseSpec,
    password: Option<SecretString>,
    endpoint: Endpoint,
) -> Result<Arc<dyn Database>, SourceError> {
    let errors = ConnectErrors::default();
    let manager = MssqlManager {
        config: config_of(spec, password.as_ref()),
        named_instance: spec.mssql.instance.is_some(),
        errors: errors.clone(),
    };
    // The first connection proves the address, the login and the database,
    // with SQL Server's own error if one fails.
    let first = manager
        .connect_direct()
        .await
        .map_err(|e| endpoint.connect_failure(&e))?;
    let pool = bb8::Pool::builder()
        .max_size(spec.pool_size)
        // A busy pool is waited for as long as PostgreSQL's and MySQL's
        // pools wait; a dead server is found by the guard's probe, and a
        // refused login by `ConnectErrors`, at once.
        .connection_timeout(Duration::from_secs(30).max(spec.connect_timeout))
        // A failed login is the answer, not something to retry.
        .retry_connection(false)
        .build_unchecked(manager);
    if pool.add(first).is_err() {
        tracing::debug!(source = %spec.name, "the first connection was not pooled");
    }
    let inner: Arc<DynMssqlPool> = Arc::new(MssqlConnectionPool { pool, errors });
    let pool: Arc<DynMssqlPool> = Arc::new(GuardedPool { inner, endpoint });
    Ok(Arc::new(Mssql {
        spec: spec.clone(),
        pool,
    }))
}

/// Base tables and views outside the system schemas. A name with `]` in it
/// cannot be bracket-quoted by the unparser: such tables are left out.
const LISTING: &str = "SELECT TABLE_SCHEMA, TABLE_NAME FROM INFORMATION_SCHEMA.TABLES \
     WHERE TABLE_SCHEMA NOT IN ('sys', 'INFORMATION_SCHEMA') \
       AND CHARINDEX(']', TABLE_NAME) = 0 AND CHARINDEX(']', TABLE_SCHEMA) = 0 \
     ORDER BY 1, 2";

/// One row per key column, in key order; a foreign key's referenced column
/// is the one at the same position of the key it references.
const KEYS: &str = "SELECT k.TABLE_SCHEMA, k.TABLE_NAME, k.CONSTRAINT_NAME, c.CONSTRAINT_TYPE, \
       k.COLUMN_NAME, u.TABLE_SCHEMA, u.TABLE_NAME, u.COLUMN_NAME \
     FROM INFORMATION_SCHEMA.KEY_COLUMN_USAGE k \
     JOIN INFORMATION_SCHEMA.TABLE_CONSTRAINTS c \
       ON c.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA AND c.CONSTRAINT_NAME = k.CONSTRAINT_NAME \
     LEFT JOIN INFORMATION_SCHEMA.REFERENTIAL_CONSTRAINTS r \
       ON r.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA AND r.CONSTRAINT_NAME = k.CONSTRAINT_NAME \
     LEFT JOIN INFORMATION_SCHEMA.KEY_COLUMN_USAGE u \
       ON u.CONSTRAINT_SCHEMA = r.UNIQUE_CONSTRAINT_SCHEMA \
      AND u.CONSTRAINT_NAME = r.UNIQUE_CONSTRAINT_NAME \
      AND u.ORDINAL_POSITION = k.ORDINAL_POSITION \
     WHERE c.CONSTRAINT_TYPE IN ('PRIMARY KEY', 'UNIQUE', 'FOREIGN KEY') \
     ORDER BY k.TABLE_SCHEMA, k.TABLE_NAME, k.CONSTRAINT_NAME, k.ORDINAL_POSITION";

impl Mssql {
    async fn rows(&self, sql: &str) -> Result<Vec<tiberius::Row>, SourceError> {
        let connection = connect(&self.pool, &self.spec.name).await?;
        let mssql: &MssqlConnection = downcast(connection.as_ref(), &self.spec.name)?;
        let mut client = mssql.client.lock().await;
        let rows = async { client.simple_query(sql).await?.into_first_result().await }.await;
        rows.map_err(|e| SourceError::from_query(&self.spec.name, &e))
    }
}

fn text(row: &tiberius::Row, index: usize) -> Option<String> {
    row.try_get::<&str, _>(index)
        .ok()
        .flatten()
        .map(str::to_owned)
}

#[async_trait]
impl Database for Mssql {
    async fn listing(&self) -> Result<Listing, SourceError> {
        let rows = self.rows(LISTING).await?;
        Ok(listing_of(
            rows.iter()
                .filter_map(|row| Some((text(row, 0)?, text(row, 1)?))),
        ))
    }

    async fn keys(&self) -> Result<Vec<Key>, SourceError> {
        let rows = self.rows(KEYS).await?;
        let columns: Vec<MysqlKeyColumn> = rows
            .iter()
            .filter_map(|row| {
                Some((
                    text(row, 0)?,
                    text(row, 1)?,
                    text(row, 2)?,
                    text(row, 3)?,
                    text(row, 4)?,
                    text(row, 5),
                    text(row, 6),
                    text(row, 7),
                ))
            })
            .collect();
        Ok(keys::from_mysql(columns))
    }

    async fn table(
        &self,
        schema: &str,
        table: &str,
    ) -> Result<Arc<dyn TableProvider>, SourceError> {
        let reference = TableReference::partial(schema, table);
        let sql_table = SqlTable::new("mssql", &self.pool, reference.clone())
            .await
            .map_err(|e| SourceError::from_query(&self.spec.name, &e))?
            .with_dialect(Arc::new(TsqlDialect));
        Ok(table_provider(
            &self.spec,
            reference,
            Arc::new(sql_table),
            Pushing {
                pool: Arc::clone(&self.pool),
                // tiberius cannot send TDS attention: a dropped statement is
                // drained before the connection runs the next one.
                cancel_of: |_, _| None,
                dialect_rewrite: Some(dialect::rewrite),
                policy: PushdownPolicy {
                    kind: DatabaseKind::Mssql,
                    bytewise_text: false,
                },
            },
        ))
    }
}

#[cfg(test)]
mod tests;
