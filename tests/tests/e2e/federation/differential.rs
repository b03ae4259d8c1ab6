//! Pushdown never changes a result: every query of
//! tests/federation/differential.sql runs through a source that pushes work
//! into the database and through one that pulls rows and computes locally,
//! on PostgreSQL and on MariaDB, and the rows must be identical.

use super::{Federation, database_source, must, rows};

pub const QUERIES: &str = include_str!("../../../federation/differential.sql");
const POSTGRES_QUERIES: &str = include_str!("../../../federation/differential_postgres.sql");
const MYSQL_QUERIES: &str = include_str!("../../../federation/differential_mysql.sql");
const POSTGRES_TYPES: &str = include_str!("../../../federation/types_postgres.sql");
const MYSQL_TYPES: &str = include_str!("../../../federation/types_mysql.sql");

/// The statements of a query file, comments dropped.
pub fn queries(file: &str) -> Vec<String> {
    let text: String = file
        .lines()
        .filter(|line| !line.trim_start().starts_with("--"))
        .map(|line| format!("{line}\n"))
        .collect();
    text.split(";\n")
        .map(str::trim)
        .filter(|q| !q.is_empty())
        .map(str::to_owned)
        .collect()
}

/// `(pushdown source, local source, catalog form of each, flag condition)`.
const PAIRS: [(&str, &str, &str, &str, &str); 2] = [
    ("pg", "pg_local", "pg.public", "pg_local.public", "flag"),
    ("my", "my_local", "my.fed", "my_local.fed", "flag = 1"),
];

pub fn instantiate(template: &str, schema: &str, catalog: &str, flag: &str) -> String {
    template
        .replace("{s}", schema)
        .replace("{c}", catalog)
        .replace("{flag}", flag)
}

pub fn comparable(sql: &str, mut rows: Vec<Vec<Option<String>>>) -> Vec<Vec<Option<String>>> {
    let ordered = sql
        .rsplit_once("ORDER BY")
        .is_some_and(|(_, tail)| !tail.contains(')'));
    if !ordered {
        rows.sort();
    }
    rows
}

#[tokio::test]
async fn pushdown_never_changes_a_result() {
    let fed = Federation::start().await;
    fed.postgres.sql(POSTGRES_TYPES);
    fed.mariadb.sql(MYSQL_TYPES);
    let client = fed.gateway.client().await;
    let shared = queries(QUERIES);
    assert!(shared.len() >= 80, "only {} queries", shared.len());
    let mut failures = Vec::new();
    let mut compared = 0;
    for (pushed, local, pushed_catalog, local_catalog, flag) in PAIRS {
        let own = match pushed {
            "pg" => queries(POSTGRES_QUERIES),
            _ => queries(MYSQL_QUERIES),
        };
        for template in shared.iter().chain(&own) {
            let pushed_sql = instantiate(template, pushed, pushed_catalog, flag);
            let local_sql = instantiate(template, local, local_catalog, flag);
            let expected = match rows(&client, &local_sql).await {
                Ok(rows) => comparable(template, rows),
                Err(e) => {
                    failures.push(format!("{local_sql}\n  local run failed: {e}"));
                    continue;
                }
            };
            match rows(&client, &pushed_sql).await {
                Ok(actual) => {
                    let actual = comparable(template, actual);
                    if actual != expected {
                        let first = actual
                            .iter()
                            .zip(&expected)
                            .find(|(a, e)| a != e)
                            .map(|(a, e)| format!("pushed {a:?}\n  local  {e:?}"))
                            .unwrap_or_else(|| {
                                format!("{} rows pushed, {} local", actual.len(), expected.len())
                            });
                        failures.push(format!("{pushed_sql}\n  {first}"));
                    }
                }
                Err(e) => failures.push(format!("{pushed_sql}\n  pushed run failed: {e}")),
            }
            compared += 1;
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {compared} comparisons differ:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// Text sorts and ranges are pushed only where the database orders text as
/// DataFusion does (by bytes, the `C` collation). In an `en-US` database
/// PostgreSQL's own order differs, and the results through Tributary must
/// still be DataFusion's.
#[tokio::test]
async fn text_order_follows_datafusion_whatever_the_collation() {
    let fed = Federation::start_with(|pg_port, _| {
        [
            database_source("pg_icu", "postgres", pg_port, ""),
            database_source("pg_icu_local", "postgres", pg_port, "pushdown = false"),
        ]
        .join("\n")
        .replace("database = \"fed\"", "database = \"fed_icu\"")
    })
    .await;
    fed.postgres.create_database(
        "fed_icu",
        "TEMPLATE template0 ENCODING 'UTF8' LOCALE_PROVIDER icu ICU_LOCALE 'en-US'",
    );
    fed.postgres.sql_in("fed_icu", super::POSTGRES_DATA);
    // The database's own order is not DataFusion's: this test means something.
    let native = fed.postgres.sql_in(
        "fed_icu",
        "SELECT string_agg(name, '|' ORDER BY name) FROM items WHERE id <= 10;",
    );
    let client = fed.gateway.client().await;
    let ours = must(
        &client,
        "SELECT string_agg(name, '|' ORDER BY name) FROM pg_icu_local.items WHERE id <= 10",
    )
    .await;
    assert_ne!(Some(native.trim().to_owned()), ours[0][0]);

    let mut failures = Vec::new();
    for template in [
        "SELECT id, name FROM {s}.items ORDER BY name, id",
        "SELECT id FROM {s}.items WHERE name > 'item5'",
        "SELECT id FROM {s}.items WHERE name BETWEEN 'a' AND 'j'",
        "SELECT min(name), max(name) FROM {s}.items",
        "SELECT category, max(name) FROM {s}.items GROUP BY category",
        "SELECT id, row_number() OVER (ORDER BY name, id) FROM {s}.items",
        "SELECT id FROM {s}.items WHERE name = 'UPPER lower'",
    ] {
        let pushed = instantiate(template, "pg_icu", "pg_icu.public", "flag");
        let local = instantiate(template, "pg_icu_local", "pg_icu_local.public", "flag");
        let expected = comparable(template, must(&client, &local).await);
        let actual = comparable(template, must(&client, &pushed).await);
        if actual != expected {
            failures.push(format!(
                "{pushed}\n  pushed {actual:?}\n  local  {expected:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
