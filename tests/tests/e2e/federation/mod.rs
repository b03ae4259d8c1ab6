//! Federation over real PostgreSQL 15 and MariaDB servers holding the same
//! data (tests/federation/*.sql), and a Parquet file beside them.

mod basics;
pub mod differential;
mod lifecycle;
mod types;

use tokio_postgres::Client;
use tributary_tests::{DATABASE_PASSWORD, Gateway, MariaDbServer, PostgresServer};

pub const POSTGRES_DATA: &str = include_str!("../../../federation/postgres.sql");
pub const MYSQL_DATA: &str = include_str!("../../../federation/mysql.sql");

/// Both databases loaded, a Parquet lake, and a gateway with each database
/// twice: with pushdown (`pg`, `my`) and without (`pg_local`, `my_local`).
pub struct Federation {
    pub postgres: PostgresServer,
    pub mariadb: MariaDbServer,
    pub gateway: Gateway,
    _lake: tempfile::TempDir,
}

/// A database source's config block.
pub fn database_source(name: &str, kind: &str, port: u16, extra: &str) -> String {
    format!(
        "[[sources]]\nname = \"{name}\"\nkind = \"{kind}\"\nhost = \"127.0.0.1\"\nport = {port}\n\
         database = \"fed\"\nuser = \"tributary\"\npassword = {{ env = \"FED_PASSWORD\" }}\n\
         tls = \"disable\"\nconnect_timeout = \"2s\"\n{extra}\n"
    )
}

impl Federation {
    pub async fn start() -> Self {
        Self::start_with(|_, _| String::new()).await
    }

    /// `extra(postgres port, mariadb port)` is appended to the config.
    pub async fn start_with(extra: impl FnOnce(u16, u16) -> String) -> Self {
        let postgres = PostgresServer::start();
        postgres.sql(POSTGRES_DATA);
        let mariadb = MariaDbServer::start();
        mariadb.sql(MYSQL_DATA);
        let lake = tempfile::tempdir().expect("lake dir");
        write_parquet_lake(lake.path()).await;
        let config = [
            database_source("pg", "postgres", postgres.port, ""),
            database_source("pg_local", "postgres", postgres.port, "pushdown = false"),
            database_source("my", "mysql", mariadb.port, ""),
            database_source("my_local", "mysql", mariadb.port, "pushdown = false"),
            format!(
                "[[sources]]\nname = \"lake\"\nkind = \"files\"\nurl = \"{}/\"\n",
                lake.path().display()
            ),
            extra(postgres.port, mariadb.port),
        ]
        .join("\n");
        let gateway = Gateway::start_with(Some(&config), &[("FED_PASSWORD", DATABASE_PASSWORD)]);
        Self {
            postgres,
            mariadb,
            gateway,
            _lake: lake,
        }
    }
}

/// `lake.regions`: one row per item category.
pub async fn write_parquet_lake(dir: &std::path::Path) {
    let context = datafusion::prelude::SessionContext::new();
    let path = dir.join("regions.parquet");
    context
        .sql(&format!(
            "COPY (SELECT * FROM (VALUES ('a', 'North'), ('b', 'South'), ('c', 'East'), ('z', 'Nowhere')) AS t(category, region)) \
             TO '{}' STORED AS PARQUET",
            path.display()
        ))
        .await
        .expect("plan parquet")
        .collect()
        .await
        .expect("write parquet");
}

/// Rows as text, as the simple protocol sends them.
pub async fn rows(client: &Client, sql: &str) -> Result<Vec<Vec<Option<String>>>, String> {
    let messages = client
        .simple_query(sql)
        .await
        .map_err(|e| match e.as_db_error() {
            Some(db) => format!("{} {}", db.code().code(), db.message()),
            None => e.to_string(),
        })?;
    Ok(crate::wire::simple_rows(messages))
}

/// The error `sql` must fail with, as "SQLSTATE message".
pub async fn error_of(client: &Client, sql: &str) -> String {
    match rows(client, sql).await {
        Ok(rows) => panic!("{sql}\nsucceeded with {rows:?}, expected an error"),
        Err(error) => error,
    }
}

pub async fn must(client: &Client, sql: &str) -> Vec<Vec<Option<String>>> {
    rows(client, sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}\nfailed: {e}"))
}

pub fn texts(rows: &[Vec<Option<String>>]) -> Vec<Vec<String>> {
    rows.iter()
        .map(|r| {
            r.iter()
                .map(|v| v.clone().unwrap_or_else(|| "NULL".to_owned()))
                .collect()
        })
        .collect()
}
