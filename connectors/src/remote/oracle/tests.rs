//! Oracle SQL per pushed shape, what stays local, the type mapping we
//! document, and the missing Instant Client.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::common::Result;
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
use datafusion::sql::unparser::Unparser;
use datafusion_table_providers::sql::arrow_sql_gen::oracle::map_oracle_type_to_arrow_type;

use super::dialect::{OracleDialect, rewrite};
use super::{INSTANT_CLIENT_HELP, client_library_loads, oracle_name, shown_name};
use crate::remote::DatabaseKind;
use crate::remote::pushdown::PushdownPolicy;

const ORACLE: PushdownPolicy = PushdownPolicy {
    kind: DatabaseKind::Oracle,
    bytewise_text: false,
};

async fn oracle_sql(sql: &str) -> Result<Option<String>> {
    let context = SessionContext::new();
    let schema = Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, true),
        Field::new("salary", DataType::Decimal128(10, 2), true),
        Field::new("dept_id", DataType::Int64, true),
        Field::new("hired", DataType::Timestamp(TimeUnit::Second, None), true),
        Field::new("Mixed", DataType::Int64, true),
        Field::new("level", DataType::Int64, true),
    ]);
    let depts = Schema::new(vec![
        Field::new("dept_id", DataType::Int64, false),
        Field::new("title", DataType::Utf8, true),
    ]);
    for (name, schema) in [("employees", schema), ("depts", depts)] {
        let table = MemTable::try_new(Arc::new(schema), vec![vec![]])?;
        context.register_table(name, Arc::new(table))?;
    }
    let plan = context.sql(sql).await?.into_optimized_plan()?;
    if !ORACLE.allows(&plan) {
        return Ok(None);
    }
    let statement = Unparser::new(&OracleDialect).plan_to_sql(&plan)?;
    Ok(Some(rewrite(statement).to_string()))
}

#[tokio::test]
async fn each_pushed_shape_is_written_for_oracle() -> Result<()> {
    for (sql, expected) in [
        (
            "SELECT id, name FROM employees WHERE salary > 1000",
            "SELECT employees.id, employees.name FROM employees WHERE (employees.salary > 1000.00)",
        ),
        (
            "SELECT id FROM employees LIMIT 5",
            "SELECT employees.id FROM employees FETCH FIRST 5 ROWS ONLY",
        ),
        (
            "SELECT id FROM employees ORDER BY id DESC LIMIT 5",
            "ORDER BY employees.id DESC NULLS FIRST FETCH FIRST 5 ROWS ONLY",
        ),
        (
            "SELECT \"Mixed\", \"level\" FROM employees",
            "SELECT employees.\"Mixed\", employees.\"level\" FROM employees",
        ),
        (
            "SELECT e.id, d.dept_id FROM employees e JOIN depts d ON d.dept_id = e.dept_id",
            "FROM employees e INNER JOIN depts d ON",
        ),
        (
            "SELECT dept_id, count(*), sum(salary), max(id) FROM employees GROUP BY dept_id",
            "GROUP BY employees.dept_id",
        ),
        (
            "SELECT id, coalesce(dept_id, 0) FROM employees WHERE dept_id IS NULL OR id IN (1, 2)",
            "CASE WHEN employees.dept_id IS NOT NULL THEN employees.dept_id ELSE 0 END",
        ),
    ] {
        let text = oracle_sql(sql)
            .await?
            .unwrap_or_else(|| panic!("{sql}\nstays local"));
        assert!(
            text.contains(expected),
            "{sql}\nsent: {text}\nwanted: {expected}"
        );
        assert!(!text.contains("LIMIT"), "{text}");
        assert!(!text.contains(" AS e") && !text.contains(" AS d"), "{text}");
    }
    Ok(())
}

#[tokio::test]
async fn shapes_oracle_would_answer_differently_stay_local() -> Result<()> {
    for sql in [
        "SELECT id FROM employees WHERE name = 'a'",
        "SELECT id FROM employees WHERE name IS NULL OR name = ''",
        "SELECT id / 2 FROM employees",
        "SELECT id % 2 FROM employees",
        "SELECT avg(id) FROM employees",
        "SELECT id FROM employees WHERE hired > TIMESTAMP '2024-01-01 00:00:00'",
        "SELECT id FROM employees ORDER BY name",
        "SELECT upper(name) FROM employees",
        "SELECT id > 3 FROM employees",
        "SELECT row_number() OVER (ORDER BY id) FROM employees",
    ] {
        assert!(oracle_sql(sql).await?.is_none(), "{sql} would be pushed");
    }
    Ok(())
}

#[test]
fn upper_case_names_are_shown_in_lower_case() {
    for (oracle, shown) in [
        ("EMPLOYEES", "employees"),
        ("HR_2", "hr_2"),
        ("MixedCase", "MixedCase"),
    ] {
        assert_eq!(shown_name(oracle), shown);
        assert_eq!(oracle_name(shown), oracle);
    }
}

#[test]
fn oracle_types_map_as_documented() {
    let ns = |tz: Option<&str>| DataType::Timestamp(TimeUnit::Nanosecond, tz.map(Arc::from));
    for (name, precision, scale, expected) in [
        ("NUMBER", Some(10), Some(0), Some(DataType::Int64)),
        (
            "NUMBER",
            Some(10),
            Some(2),
            Some(DataType::Decimal128(10, 2)),
        ),
        ("NUMBER", None, None, Some(DataType::Decimal128(38, 20))),
        ("BINARY_FLOAT", None, None, Some(DataType::Float32)),
        ("BINARY_DOUBLE", None, None, Some(DataType::Float64)),
        ("VARCHAR2", None, None, Some(DataType::Utf8)),
        ("NVARCHAR2", None, None, Some(DataType::Utf8)),
        ("CHAR", None, None, Some(DataType::Utf8)),
        ("CLOB", None, None, Some(DataType::LargeUtf8)),
        ("RAW", None, None, Some(DataType::Binary)),
        ("BLOB", None, None, Some(DataType::LargeBinary)),
        (
            "DATE",
            None,
            None,
            Some(DataType::Timestamp(TimeUnit::Second, None)),
        ),
        ("TIMESTAMP(6)", None, Some(6), Some(ns(None))),
        (
            "TIMESTAMP(6) WITH TIME ZONE",
            None,
            Some(6),
            Some(ns(Some("UTC"))),
        ),
        ("XMLTYPE", None, None, None),
    ] {
        assert_eq!(
            map_oracle_type_to_arrow_type(name, precision, scale),
            expected,
            "{name}({precision:?},{scale:?})"
        );
    }
}

/// On a machine without Instant Client (ours) the source fails with what to
/// install; with it, the library loads.
#[test]
fn a_missing_instant_client_says_what_to_install() {
    let installed = std::process::Command::new("ldconfig")
        .arg("-p")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("libclntsh"))
        .unwrap_or(false)
        || std::env::var_os("LD_LIBRARY_PATH").is_some_and(|p| {
            std::env::split_paths(&p).any(|dir| dir.join("libclntsh.so").exists())
        });
    match client_library_loads() {
        Ok(()) => assert!(installed, "Instant Client loaded, yet none was found"),
        Err(message) => {
            assert!(!installed, "{message}");
            assert!(message.starts_with(INSTANT_CLIENT_HELP), "{message}");
            assert!(message.contains("DPI-1047"), "{message}");
        }
    }
}
