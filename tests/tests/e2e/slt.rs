//! SQL behaviour as sqllogictest files (tests/slt/*.slt), run against the
//! real server over the pg wire. Errors are matched as `SQLSTATE message`,
//! so a file can say `query error 42P01`.

use std::path::PathBuf;

use async_trait::async_trait;
use sqllogictest::{AsyncDB, DBOutput, DefaultColumnType};
use tokio_postgres::{Client, SimpleQueryMessage};
use tributary_tests::Gateway;

struct Wire {
    client: Client,
}

#[derive(Debug)]
struct WireError(String);

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for WireError {}

#[async_trait]
impl AsyncDB for Wire {
    type Error = WireError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, WireError> {
        let messages = self
            .client
            .simple_query(sql)
            .await
            .map_err(|e| match e.as_db_error() {
                Some(db) => WireError(format!("{} {}", db.code().code(), db.message())),
                None => WireError(e.to_string()),
            })?;
        let mut rows = Vec::new();
        let mut columns = 0;
        let mut affected = None;
        for message in messages {
            match message {
                SimpleQueryMessage::RowDescription(description) => columns = description.len(),
                SimpleQueryMessage::Row(row) => {
                    columns = row.len();
                    rows.push(
                        (0..row.len())
                            .map(|i| match row.get(i) {
                                None => "NULL".to_owned(),
                                Some("") => "(empty)".to_owned(),
                                Some(value) => value.to_owned(),
                            })
                            .collect(),
                    );
                }
                SimpleQueryMessage::CommandComplete(count) => affected = Some(count),
                _ => {}
            }
        }
        if columns == 0 && rows.is_empty() {
            return Ok(DBOutput::StatementComplete(affected.unwrap_or(0)));
        }
        Ok(DBOutput::Rows {
            types: vec![DefaultColumnType::Any; columns],
            rows,
        })
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "tributary"
    }

    async fn sleep(duration: std::time::Duration) {
        tokio::time::sleep(duration).await;
    }
}

fn slt_files() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("slt");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/slt")
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|e| e == "slt"))
        .collect();
    files.sort();
    files
}

#[tokio::test]
async fn sqllogictest_files_pass_over_the_wire() {
    let gateway = Gateway::start();
    let files = slt_files();
    assert!(!files.is_empty(), "no .slt files found");
    let mut failures = Vec::new();
    for file in &files {
        let connection = gateway.connection_string();
        let mut runner = sqllogictest::Runner::new(move || {
            let connection = connection.clone();
            async move {
                let (client, conn) = tokio_postgres::connect(&connection, tokio_postgres::NoTls)
                    .await
                    .map_err(|e| WireError(e.to_string()))?;
                tokio::spawn(conn);
                Ok(Wire { client })
            }
        });
        if let Err(error) = runner.run_file_async(file).await {
            failures.push(format!("{}: {error}", file.display()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
