//! The type mapping of docs/types.md, row by row: each database type, the
//! PostgreSQL type a client is told, and the value it reads as text.

use super::{database_source, error_of, must};
use tokio_postgres::Client;
use tributary_tests::{DATABASE_PASSWORD, Gateway, MariaDbServer, PostgresServer};

const POSTGRES_TYPES: &str = include_str!("../../../federation/types_postgres.sql");
const MYSQL_TYPES: &str = include_str!("../../../federation/types_mysql.sql");

type Column = (String, String, Option<String>);

/// `(column, wire type, text of row 1)`, and the text of row 2 (all NULL
/// in the database) per column.
async fn columns(client: &Client, table: &str) -> (Vec<Column>, Vec<(String, Option<String>)>) {
    let sql = format!("SELECT * FROM {table} ORDER BY id");
    let statement = client.prepare(&sql).await.expect("prepare");
    let values = must(client, &sql).await;
    assert_eq!(values.len(), 2, "{values:?}");
    let mut first = Vec::new();
    let mut nulls = Vec::new();
    for (i, column) in statement.columns().iter().enumerate().skip(1) {
        let name = column.name().to_owned();
        first.push((
            name.clone(),
            column.type_().name().to_owned(),
            values[0][i].clone(),
        ));
        nulls.push((name, values[1][i].clone()));
    }
    (first, nulls)
}

fn check(actual: &[Column], expected: &[(&str, &str, Option<&str>)]) {
    let expected: Vec<Column> = expected
        .iter()
        .map(|(c, t, v)| (c.to_string(), t.to_string(), v.map(str::to_owned)))
        .collect();
    for (actual, expected) in actual.iter().zip(&expected) {
        assert_eq!(actual, expected);
    }
    assert_eq!(actual.len(), expected.len(), "{actual:?}");
}

#[tokio::test]
async fn postgresql_types_reach_the_client_as_documented() {
    let postgres = PostgresServer::start();
    postgres.sql(POSTGRES_TYPES);
    let config = database_source("pg", "postgres", postgres.port, "");
    let gateway = Gateway::start_with(Some(&config), &[("FED_PASSWORD", DATABASE_PASSWORD)]);
    let client = gateway.client().await;
    let (values, nulls) = columns(&client, "pg.types").await;
    check(
        &values,
        &[
            ("c_smallint", "int2", Some("-32768")),
            ("c_integer", "int4", Some("2147483647")),
            ("c_bigint", "int8", Some("-9223372036854775808")),
            (
                "c_numeric",
                "numeric",
                Some("123456789012345678.0123456789"),
            ),
            ("c_numeric_any", "numeric", Some("3.14159265358979323846")),
            ("c_real", "float4", Some("1.5")),
            ("c_double", "float8", Some("2.718281828459045")),
            ("c_bool", "bool", Some("t")),
            ("c_text", "text", Some("text 'q' \\ é")),
            ("c_varchar", "text", Some("varchar")),
            ("c_char", "text", Some("ab")),
            ("c_bytea", "bytea", Some("\\xdeadbeef")),
            ("c_date", "date", Some("2024-02-29")),
            ("c_time", "time", Some("23:59:59.123456")),
            (
                "c_timestamp",
                "timestamp",
                Some("2024-03-10 02:30:00.500000"),
            ),
            (
                "c_timestamptz",
                "timestamptz",
                Some("2024-03-10 07:30:00.000000+00"),
            ),
            (
                "c_interval",
                "interval",
                Some("1 year 2 mons 3 days 04:05:06.500000"),
            ),
            (
                "c_uuid",
                "text",
                Some("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
            ),
            ("c_json", "text", Some("{\"a\": [1, 2]}")),
            ("c_jsonb", "text", Some("{\"b\": {\"c\": null}}")),
            ("c_int_array", "_int4", Some("{1,2,3}")),
            ("c_text_array", "_text", Some("{x,\"y z\"}")),
            ("c_enum", "text", Some("happy")),
        ],
    );
    for (column, value) in &nulls {
        // KNOWN BUG (arrow-pg 0.16, the wire encoder): a NULL interval is
        // sent as 00:00:00. docs/types.md says so; this pins it until fixed.
        let expected = (column == "c_interval").then(|| "00:00:00".to_owned());
        assert_eq!(value, &expected, "NULL row, column {column}");
    }

    let error = error_of(&client, "SELECT * FROM pg.bits").await;
    assert!(
        error.starts_with("0A000") && error.contains("c_bit"),
        "{error}"
    );
    let error = error_of(&client, "SELECT * FROM pg.null_elements").await;
    assert!(
        error.starts_with("0A000") && error.contains("\"c_int_array\""),
        "{error}"
    );
    let error = error_of(&client, "SELECT * FROM pg.wide_numeric").await;
    assert!(error.starts_with("22003"), "{error}");
    // The rest of the source is unaffected by one unreadable table.
    assert_eq!(
        must(&client, "SELECT count(*) FROM pg.types").await[0][0].as_deref(),
        Some("2")
    );
}

#[tokio::test]
async fn mysql_types_reach_the_client_as_documented() {
    let mariadb = MariaDbServer::start();
    mariadb.sql(MYSQL_TYPES);
    let config = database_source("my", "mysql", mariadb.port, "");
    let gateway = Gateway::start_with(Some(&config), &[("FED_PASSWORD", DATABASE_PASSWORD)]);
    let client = gateway.client().await;
    let (values, nulls) = columns(&client, "my.types").await;
    check(
        &values,
        &[
            ("c_tinyint", "int2", Some("-128")),
            ("c_tinyint_unsigned", "int2", Some("255")),
            ("c_smallint", "int2", Some("-32768")),
            ("c_smallint_unsigned", "int4", Some("65535")),
            ("c_mediumint", "int4", Some("-8388608")),
            ("c_int", "int4", Some("-2147483648")),
            ("c_int_unsigned", "int8", Some("4294967295")),
            ("c_bigint", "int8", Some("-9223372036854775808")),
            ("c_bigint_unsigned", "numeric", Some("18446744073709551615")),
            (
                "c_decimal",
                "numeric",
                Some("123456789012345678.0123456789"),
            ),
            ("c_float", "float4", Some("1.5")),
            ("c_double", "float8", Some("2.718281828459045")),
            ("c_bool", "int2", Some("1")),
            ("c_varchar", "text", Some("varchar")),
            ("c_char", "text", Some("ab")),
            ("c_text", "text", Some("text 'q' \\ é")),
            ("c_blob", "bytea", Some("\\xdeadbeef")),
            ("c_varbinary", "bytea", Some("\\x0102")),
            ("c_date", "date", Some("2024-02-29")),
            ("c_time", "time", Some("23:59:59.000000")),
            (
                "c_datetime",
                "timestamp",
                Some("2024-03-10 02:30:00.000000"),
            ),
            (
                "c_datetime6",
                "timestamp",
                Some("2024-03-10 02:30:00.123456"),
            ),
            (
                "c_timestamp",
                "timestamp",
                Some("2024-03-10 07:30:00.000000"),
            ),
            ("c_json", "text", Some("{\"a\": [1, 2]}")),
            ("c_enum", "text", Some("happy")),
            ("c_set", "text", Some("a,b")),
            ("c_bit", "numeric", Some("10")),
            // Zero dates are not dates: NULL, as JDBC's convertToNull.
            ("c_zero_date", "date", None),
            ("c_zero_datetime", "timestamp", None),
        ],
    );
    for (column, value) in &nulls {
        assert_eq!(value, &None, "NULL row, column {column}");
    }
    let error = error_of(&client, "SELECT * FROM my.years").await;
    assert!(
        error.starts_with("0A000") && error.contains("c_year"),
        "{error}"
    );
}
