//! Oracle sources, on datafusion-table-providers' Oracle provider (the
//! `oracle` crate, which loads Oracle Instant Client at run time).
//!
//! Names: Oracle keeps unquoted names in upper case; clients of a
//! PostgreSQL-speaking gateway write them in lower case. An all-upper-case
//! Oracle name is shown in lower case, and the dialect leaves lower-case
//! names unquoted, so that Oracle folds them back. Other names keep their
//! case and are quoted.

pub(crate) mod dialect;
pub(crate) mod policy;

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{Field, Schema};
use datafusion::catalog::TableProvider;
use datafusion::common::TableReference;
use datafusion_table_providers::sql::db_connection_pool::DbConnectionPool;
use datafusion_table_providers::sql::db_connection_pool::dbconnection::get_schema;
use datafusion_table_providers::sql::db_connection_pool::oraclepool::OracleConnectionPool;
use datafusion_table_providers::sql::sql_provider_datafusion::SqlTable;
use oracle::sql_type::OracleType;
use secrecy::SecretString;

use self::dialect::OracleDialect;
use super::database::{Database, Listing, Pushing, connect, first_line, table_provider};
use super::error::SourceError;
use super::guard::{Endpoint, GuardedPool};
use super::keys::Key;
use super::pushdown::PushdownPolicy;
use super::{DatabaseKind, DatabaseSpec};

type OraclePooled = datafusion_table_providers::sql::db_connection_pool::dbconnection::oracleconn::OraclePooledConnection;
type DynOraclePool = dyn DbConnectionPool<OraclePooled, OracleType> + Send + Sync;

/// What a user must install when the client library is missing.
pub(crate) const INSTANT_CLIENT_HELP: &str = "Oracle Instant Client is not installed on the gateway's machine: \
     install Instant Client 19 or later (the Basic or Basic Light package, from \
     https://www.oracle.com/database/technologies/instant-client/downloads.html) and libaio1, \
     then put its directory on LD_LIBRARY_PATH (or run ldconfig on it) and restart the gateway";

/// Whether ODPI-C can load Instant Client; the error says what to install.
pub(crate) fn client_library_loads() -> Result<(), String> {
    match oracle::InitParams::new().init() {
        Ok(_) => Ok(()),
        Err(error) if error.dpi_code() == Some(1047) => {
            Err(format!("{INSTANT_CLIENT_HELP} ({})", first_line(&error)))
        }
        Err(error) => Err(first_line(&error)),
    }
}

/// `EMPLOYEES` is `employees` here; `MixedCase` stays as it is.
pub(crate) fn shown_name(oracle_name: &str) -> String {
    if oracle_name.chars().any(char::is_lowercase) {
        oracle_name.to_owned()
    } else {
        oracle_name.to_lowercase()
    }
}

/// The Oracle name of a name as shown.
pub(crate) fn oracle_name(shown: &str) -> String {
    if shown.chars().any(char::is_uppercase) {
        shown.to_owned()
    } else {
        shown.to_uppercase()
    }
}

struct Oracle {
    spec: DatabaseSpec,
    pool: Arc<DynOraclePool>,
}

fn secret(value: impl Into<String>) -> SecretString {
    SecretString::from(value.into())
}

pub(crate) async fn open(
    spec: &DatabaseSpec,
    password: Option<SecretString>,
    endpoint: Endpoint,
) -> Result<Arc<dyn Database>, SourceError> {
    // Without the client library the pool would only time out, 30 s later,
    // having swallowed the reason.
    tokio::task::spawn_blocking(client_library_loads)
        .await
        .map_err(|e| endpoint.unavailable(e.to_string()))?
        .map_err(|reason| endpoint.unavailable(reason))?;
    let mut params: HashMap<String, SecretString> = HashMap::from([
        ("host".to_owned(), secret(&spec.host)),
        ("port".to_owned(), secret(spec.port.to_string())),
        ("user".to_owned(), secret(&spec.user)),
        ("service_name".to_owned(), secret(&spec.database)),
        ("pool_max".to_owned(), secret(spec.pool_size.to_string())),
        // Pushed timestamps mean what they mean in DataFusion only in UTC.
        ("timezone".to_owned(), secret("UTC")),
    ]);
    params.insert(
        "password".to_owned(),
        password.unwrap_or_else(|| secret("")),
    );
    let pool = OracleConnectionPool::new(params)
        .await
        .map_err(|e| endpoint.unavailable(first_line(&e)))?;
    // A direct connection gives the login's own error (ORA-01017) at once.
    pool.connect_direct()
        .await
        .map_err(|e| endpoint.unavailable(first_line(&e)))?;
    let inner: Arc<DynOraclePool> = Arc::new(pool);
    let pool: Arc<DynOraclePool> = Arc::new(GuardedPool { inner, endpoint });
    Ok(Arc::new(Oracle {
        spec: spec.clone(),
        pool,
    }))
}

#[async_trait]
impl Database for Oracle {
    async fn listing(&self) -> Result<Listing, SourceError> {
        let connection = connect(&self.pool, &self.spec.name).await?;
        let Some(database) = connection.as_async() else {
            return Ok(Listing::new());
        };
        let schemas = database
            .schemas()
            .await
            .map_err(|e| SourceError::from_query(&self.spec.name, &e))?;
        let mut listing = Listing::new();
        for schema in schemas {
            let tables = database
                .tables(&schema)
                .await
                .map_err(|e| SourceError::from_query(&self.spec.name, &e))?;
            if !tables.is_empty() {
                listing.insert(
                    shown_name(&schema),
                    tables.iter().map(|t| shown_name(t)).collect(),
                );
            }
        }
        Ok(listing)
    }

    async fn keys(&self) -> Result<Vec<Key>, SourceError> {
        Ok(Vec::new())
    }

    async fn table(
        &self,
        schema: &str,
        table: &str,
    ) -> Result<Arc<dyn TableProvider>, SourceError> {
        let connection = connect(&self.pool, &self.spec.name).await?;
        let oracle_reference = TableReference::partial(oracle_name(schema), oracle_name(table));
        let columns = get_schema(connection, &oracle_reference)
            .await
            .map_err(|e| SourceError::from_query(&self.spec.name, &e))?;
        let fields: Vec<Field> = columns
            .fields()
            .iter()
            .map(|f| f.as_ref().clone().with_name(shown_name(f.name())))
            .collect();
        // The shown names: unquoted in SQL, Oracle folds them back.
        let reference = TableReference::partial(schema, table);
        let sql_table = SqlTable::new_with_schema(
            "oracle",
            &self.pool,
            Arc::new(Schema::new(fields)),
            reference.clone(),
        )
        .with_dialect(Arc::new(OracleDialect));
        Ok(table_provider(
            &self.spec,
            reference,
            Arc::new(sql_table),
            Pushing {
                pool: Arc::clone(&self.pool),
                cancel_of: |_, _| None,
                dialect_rewrite: Some(dialect::rewrite),
                policy: PushdownPolicy {
                    kind: DatabaseKind::Oracle,
                    bytewise_text: false,
                },
            },
        ))
    }
}

#[cfg(test)]
mod tests;
