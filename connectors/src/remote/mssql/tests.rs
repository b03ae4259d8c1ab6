//! The T-SQL sent for each query shape the differential suite pushes, the
//! shapes SQL Server must not get, and every SQL Server type decoded.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, AsArray, BinaryArray, BooleanArray, Date32Array, Decimal128Array, Float32Array,
    Float64Array, Int16Array, Int32Array, Int64Array, StringArray, Time64NanosecondArray,
    TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::common::Result;
use datafusion::datasource::MemTable;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;
use datafusion::sql::unparser::Unparser;
use tiberius::numeric::Numeric;
use tiberius::time::{Date, DateTime, DateTime2, DateTimeOffset, SmallDateTime, Time};
use tiberius::{ColumnData, Uuid};

use super::dialect::{TsqlDialect, rewrite};
use super::types::{BatchBuilder, UTC, arrow_type};
use crate::remote::DatabaseKind;
use crate::remote::pushdown::PushdownPolicy;

const MSSQL: PushdownPolicy = PushdownPolicy {
    kind: DatabaseKind::Mssql,
    bytewise_text: false,
};

async fn plan(sql: &str) -> Result<LogicalPlan> {
    let context = SessionContext::new();
    let items = Schema::new(vec![
        Field::new("id", DataType::Int32, false),
        Field::new("name", DataType::Utf8, true),
        Field::new("qty", DataType::Int32, true),
        Field::new("price", DataType::Decimal128(20, 6), true),
        Field::new("score", DataType::Float64, true),
        Field::new("flag", DataType::Boolean, true),
        Field::new("created", DataType::Date32, true),
        Field::new(
            "updated",
            DataType::Timestamp(TimeUnit::Microsecond, None),
            true,
        ),
    ]);
    let orders = Schema::new(vec![
        Field::new("order_id", DataType::Int32, false),
        Field::new("item_id", DataType::Int32, true),
    ]);
    for (name, schema) in [("items", items), ("orders", orders)] {
        let table = MemTable::try_new(Arc::new(schema), vec![vec![]])?;
        context.register_table(name, Arc::new(table))?;
    }
    context.sql(sql).await?.into_optimized_plan()
}

/// The statement SQL Server gets for `sql`, or `None` if it stays local.
async fn tsql(sql: &str) -> Result<Option<String>> {
    let plan = plan(sql).await?;
    if !MSSQL.allows(&plan) {
        return Ok(None);
    }
    let statement = Unparser::new(&TsqlDialect).plan_to_sql(&plan)?;
    Ok(Some(rewrite(statement).to_string()))
}

async fn pushed(sql: &str) -> String {
    match tsql(sql).await {
        Ok(Some(text)) => text,
        Ok(None) => panic!("{sql}\nstays local"),
        Err(e) => panic!("{sql}\n{e}"),
    }
}

#[tokio::test]
async fn each_pushed_shape_is_written_in_tsql() {
    for (sql, expected) in [
        (
            "SELECT id, name FROM items WHERE qty > 3",
            "SELECT [items].[id], [items].[name] FROM [items] WHERE ([items].[qty] > 3)",
        ),
        (
            "SELECT id FROM items WHERE qty IS NULL OR id IN (1, 2)",
            "SELECT [items].[id] FROM [items] WHERE ([items].[qty] IS NULL OR (([items].[id] = 1) OR ([items].[id] = 2)))",
        ),
        (
            "SELECT id FROM items LIMIT 5",
            "SELECT TOP 5 [items].[id] FROM [items]",
        ),
        (
            "SELECT id FROM items ORDER BY id LIMIT 15",
            "SELECT TOP 15 [items].[id] FROM [items] ORDER BY [items].[id] ASC",
        ),
        (
            "SELECT id FROM items ORDER BY id DESC",
            "SELECT [items].[id] FROM [items] ORDER BY [items].[id] DESC",
        ),
        (
            "SELECT count(*), count(DISTINCT qty), sum(qty), min(score), max(price) FROM items",
            "SELECT COUNT_BIG(1) AS [count(*)], COUNT_BIG(DISTINCT [items].[qty]), sum(CAST([items].[qty] AS BIGINT)), min([items].[score]), max([items].[price]) FROM [items]",
        ),
        (
            "SELECT qty, avg(score) FROM items GROUP BY qty HAVING count(*) > 1",
            "HAVING",
        ),
        (
            // DataFusion averages integers as floats, and says so.
            "SELECT avg(qty) FROM items",
            "avg(CAST([items].[qty] AS FLOAT))",
        ),
        (
            "SELECT i.id, o.order_id FROM items i JOIN orders o ON o.item_id = i.id WHERE o.order_id < 10",
            "JOIN",
        ),
        (
            "SELECT i.id FROM items i LEFT JOIN orders o ON o.item_id = i.id WHERE o.order_id IS NULL",
            "LEFT OUTER JOIN",
        ),
        (
            "SELECT id, coalesce(qty, -1), nullif(qty, 0), abs(qty) FROM items",
            // DataFusion writes coalesce as CASE.
            "CASE WHEN [__common_expr_1] IS NOT NULL THEN [__common_expr_1] ELSE -1 END",
        ),
        (
            "SELECT id, CASE WHEN qty > 4 THEN 1 ELSE 0 END FROM items",
            "CASE WHEN ([items].[qty] > 4) THEN 1 ELSE 0 END",
        ),
        (
            "SELECT id FROM items WHERE created >= DATE '2024-03-01'",
            "([items].[created] >= CAST('2024-03-01' AS DATE))",
        ),
        (
            "SELECT id FROM items WHERE updated < TIMESTAMP '2024-03-01 10:30:00'",
            "([items].[updated] < CAST('2024-03-01 10:30:00' AS DATETIME2))",
        ),
        (
            "SELECT date_part('year', created), count(*) FROM items GROUP BY 1",
            "DATEPART(year, [items].[created])",
        ),
        (
            "SELECT id, qty / 2, qty % 3, score / 2 FROM items",
            "([__common_expr_1] / 2), ([__common_expr_1] % 3), ([items].[score] / 2.0)",
        ),
        (
            "SELECT id FROM items WHERE flag IS NULL",
            "WHERE [items].[flag] IS NULL",
        ),
        (
            "SELECT id, flag FROM items",
            "SELECT [items].[id], [items].[flag] FROM [items]",
        ),
        (
            "SELECT id FROM items UNION ALL SELECT order_id FROM orders",
            "UNION ALL",
        ),
        (
            "SELECT * FROM (SELECT id FROM items ORDER BY id LIMIT 3) AS t",
            "SELECT TOP 3",
        ),
    ] {
        let text = pushed(sql).await;
        assert!(
            text.contains(expected),
            "{sql}\nsent: {text}\nwanted: {expected}"
        );
        assert!(!text.contains("LIMIT"), "{text}");
        assert!(!text.contains("NULLS"), "{text}");
    }
}

#[tokio::test]
async fn string_literals_are_national() {
    let text = pushed("SELECT id, 'Ünï ✓' AS label FROM items").await;
    assert!(text.contains("N'Ünï ✓'"), "{text}");
}

#[tokio::test]
async fn shapes_sql_server_would_answer_differently_stay_local() -> Result<()> {
    for sql in [
        // Collation: case-insensitive, trailing spaces ignored.
        "SELECT id FROM items WHERE name = 'a'",
        "SELECT id FROM items WHERE name LIKE 'a%'",
        "SELECT name, count(*) FROM items GROUP BY name",
        "SELECT count(DISTINCT name) FROM items",
        "SELECT min(name) FROM items",
        "SELECT id FROM items ORDER BY name",
        // The unparser writes the sort's folded fetch as the LIMIT under an
        // offset (`pushdown::offset_over_fetch`): the offset stays here.
        "SELECT id FROM items ORDER BY id LIMIT 5 OFFSET 10",
        // NULLs sort first ascending in SQL Server.
        "SELECT id FROM items ORDER BY qty",
        // Decimal averages (another scale), decimal division.
        "SELECT avg(price) FROM items",
        "SELECT price / 3 FROM items",
        // No booleans in T-SQL.
        "SELECT id FROM items WHERE flag",
        "SELECT id FROM items WHERE NOT flag",
        "SELECT id, qty > 3 FROM items",
        "SELECT id FROM items WHERE (qty > 3) IS TRUE",
        // Parts that depend on SET DATEFIRST; window functions; ||.
        "SELECT date_part('dow', created) FROM items",
        "SELECT row_number() OVER (ORDER BY id) FROM items",
        "SELECT name || '!' FROM items",
        "SELECT id FROM items WHERE qty IS NOT DISTINCT FROM 3",
    ] {
        assert!(tsql(sql).await?.is_none(), "{sql} would be pushed");
    }
    Ok(())
}

#[test]
fn nested_orders_without_a_limit_are_dropped() -> Result<()> {
    use datafusion::sql::sqlparser::dialect::MsSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;
    let sql = "SELECT a FROM (SELECT a FROM t ORDER BY a) AS s ORDER BY a";
    let statement = Parser::parse_sql(&MsSqlDialect {}, sql)?.remove(0);
    assert_eq!(
        rewrite(statement).to_string(),
        "SELECT a FROM (SELECT a FROM t) AS s ORDER BY a"
    );
    let offset_only =
        Parser::parse_sql(&MsSqlDialect {}, "SELECT a FROM t LIMIT 1 OFFSET 2")?.remove(0);
    assert_eq!(
        rewrite(offset_only).to_string(),
        "SELECT a FROM t ORDER BY (SELECT NULL) OFFSET 2 ROWS FETCH FIRST 1 ROWS ONLY"
    );
    Ok(())
}

#[test]
fn every_sql_server_type_has_an_arrow_type() {
    let micros = DataType::Timestamp(TimeUnit::Microsecond, None);
    for (name, precision, scale, expected) in [
        ("tinyint", None, None, DataType::Int16),
        ("smallint", None, None, DataType::Int16),
        ("int", None, None, DataType::Int32),
        ("bigint", None, None, DataType::Int64),
        ("bit", None, None, DataType::Boolean),
        ("decimal", Some(20), Some(6), DataType::Decimal128(20, 6)),
        ("numeric", Some(5), Some(0), DataType::Decimal128(5, 0)),
        ("money", Some(19), Some(4), DataType::Decimal128(19, 4)),
        ("smallmoney", Some(10), Some(4), DataType::Decimal128(10, 4)),
        ("float", Some(53), None, DataType::Float64),
        ("float", Some(24), None, DataType::Float32),
        ("real", Some(24), None, DataType::Float32),
        ("char", None, None, DataType::Utf8),
        ("varchar", None, None, DataType::Utf8),
        ("nvarchar", None, None, DataType::Utf8),
        ("text", None, None, DataType::Utf8),
        ("ntext", None, None, DataType::Utf8),
        ("xml", None, None, DataType::Utf8),
        ("uniqueidentifier", None, None, DataType::Utf8),
        ("binary", None, None, DataType::Binary),
        ("varbinary", None, None, DataType::Binary),
        ("image", None, None, DataType::Binary),
        ("date", None, None, DataType::Date32),
        ("time", None, None, DataType::Time64(TimeUnit::Nanosecond)),
        ("datetime", None, None, micros.clone()),
        ("datetime2", None, None, micros.clone()),
        ("smalldatetime", None, None, micros.clone()),
        (
            "datetimeoffset",
            None,
            None,
            DataType::Timestamp(TimeUnit::Microsecond, Some(Arc::from(UTC))),
        ),
    ] {
        assert_eq!(arrow_type(name, precision, scale), Some(expected), "{name}");
    }
    for unmapped in ["sql_variant", "geography", "geometry", "hierarchyid"] {
        assert_eq!(arrow_type(unmapped, None, None), None, "{unmapped}");
    }
}

/// 2024-02-29 in SQL Server's day counts.
const LEAP_DAY_SINCE_0001: u32 = 738_944;
const LEAP_DAY_SINCE_1900: i32 = 45_349;
const LEAP_DAY_SINCE_1970: i32 = 19_782;
const MICROS_PER_DAY: i64 = 86_400_000_000;

#[test]
fn every_sql_server_value_decodes_exactly() -> Result<()> {
    let fields = vec![
        Field::new("tinyint", DataType::Int16, true),
        Field::new("smallint", DataType::Int16, true),
        Field::new("int", DataType::Int32, true),
        Field::new("bigint", DataType::Int64, true),
        Field::new("bit", DataType::Boolean, true),
        Field::new("decimal", DataType::Decimal128(20, 6), true),
        Field::new("money", DataType::Decimal128(19, 4), true),
        Field::new("float", DataType::Float64, true),
        Field::new("real", DataType::Float32, true),
        Field::new("nvarchar", DataType::Utf8, true),
        Field::new("uniqueidentifier", DataType::Utf8, true),
        Field::new("varbinary", DataType::Binary, true),
        Field::new("date", DataType::Date32, true),
        Field::new("time", DataType::Time64(TimeUnit::Nanosecond), true),
        Field::new(
            "datetime",
            DataType::Timestamp(TimeUnit::Microsecond, None),
            true,
        ),
        Field::new(
            "datetime2",
            DataType::Timestamp(TimeUnit::Microsecond, None),
            true,
        ),
        Field::new(
            "smalldatetime",
            DataType::Timestamp(TimeUnit::Microsecond, None),
            true,
        ),
        Field::new(
            "datetimeoffset",
            DataType::Timestamp(TimeUnit::Microsecond, Some(Arc::from(UTC))),
            true,
        ),
        // count(*) arrives as an int, a sum of ints as a bigint or numeric.
        Field::new("count", DataType::Int64, true),
    ];
    let schema = Arc::new(Schema::new(fields));
    let guid = Uuid::parse_str("6f9619ff-8b86-d011-b42d-00c04fc964ff")
        .map_err(|e| datafusion::error::DataFusionError::External(Box::new(e)))?;
    // 23:59:59.1234567 at scale 7, in 100 ns.
    let time = Time::new(863_991_234_567, 7);
    let values: Vec<ColumnData<'static>> = vec![
        ColumnData::U8(Some(255)),
        ColumnData::I16(Some(-32768)),
        ColumnData::I32(Some(i32::MIN)),
        ColumnData::I64(Some(i64::MAX)),
        ColumnData::Bit(Some(true)),
        // 12345678901234.1234565 at scale 7: rounded half away from zero.
        ColumnData::Numeric(Some(Numeric::new_with_scale(
            123_456_789_012_341_234_565,
            7,
        ))),
        ColumnData::F64(Some(123_456.789_1)),
        ColumnData::F64(Some(1.5)),
        ColumnData::F32(Some(0.25)),
        ColumnData::String(Some("日本 ✓".into())),
        ColumnData::Guid(Some(guid)),
        ColumnData::Binary(Some(vec![0xde, 0xad, 0xbe, 0xef].into())),
        ColumnData::Date(Some(Date::new(LEAP_DAY_SINCE_0001))),
        ColumnData::Time(Some(time)),
        // 12:34:56.997: 45296 s and 299 ticks of 1/300 s.
        ColumnData::DateTime(Some(DateTime::new(LEAP_DAY_SINCE_1900, 45_296 * 300 + 299))),
        ColumnData::DateTime2(Some(DateTime2::new(Date::new(0), time))),
        ColumnData::SmallDateTime(Some(SmallDateTime::new(LEAP_DAY_SINCE_1900 as u16, 754))),
        // 10:00:00.5 UTC (12:00:00.5 +02:00).
        ColumnData::DateTimeOffset(Some(DateTimeOffset::new(
            DateTime2::new(
                Date::new(LEAP_DAY_SINCE_0001),
                Time::new(360_005_000_000, 7),
            ),
            120,
        ))),
        ColumnData::I32(Some(7)),
    ];
    let nulls: Vec<ColumnData<'static>> = vec![
        ColumnData::U8(None),
        ColumnData::I16(None),
        ColumnData::I32(None),
        ColumnData::I64(None),
        ColumnData::Bit(None),
        ColumnData::Numeric(None),
        ColumnData::F64(None),
        ColumnData::F64(None),
        ColumnData::F32(None),
        ColumnData::String(None),
        ColumnData::Guid(None),
        ColumnData::Binary(None),
        ColumnData::Date(None),
        ColumnData::Time(None),
        ColumnData::DateTime(None),
        ColumnData::DateTime2(None),
        ColumnData::SmallDateTime(None),
        ColumnData::DateTimeOffset(None),
        ColumnData::Numeric(Some(Numeric::new_with_scale(9, 0))),
    ];
    let mut builder = BatchBuilder::new(Arc::clone(&schema), 2)?;
    builder.push(values)?;
    builder.push(nulls)?;
    let batch = builder.finish()?;
    let column = |i: usize| batch.column(i);
    assert_eq!(
        column(0)
            .as_any()
            .downcast_ref::<Int16Array>()
            .map(|a| a.value(0)),
        Some(255)
    );
    assert_eq!(
        column(1)
            .as_any()
            .downcast_ref::<Int16Array>()
            .map(|a| a.value(0)),
        Some(-32768)
    );
    assert_eq!(
        column(2)
            .as_any()
            .downcast_ref::<Int32Array>()
            .map(|a| a.value(0)),
        Some(i32::MIN)
    );
    assert_eq!(
        column(3)
            .as_any()
            .downcast_ref::<Int64Array>()
            .map(|a| a.value(0)),
        Some(i64::MAX)
    );
    assert_eq!(
        column(4)
            .as_any()
            .downcast_ref::<BooleanArray>()
            .map(|a| a.value(0)),
        Some(true)
    );
    let decimal = column(5).as_any().downcast_ref::<Decimal128Array>();
    assert_eq!(
        decimal.map(|a| a.value_as_string(0)),
        Some("12345678901234.123457".to_owned())
    );
    let money = column(6).as_any().downcast_ref::<Decimal128Array>();
    assert_eq!(
        money.map(|a| a.value_as_string(0)),
        Some("123456.7891".to_owned())
    );
    assert_eq!(
        column(7)
            .as_any()
            .downcast_ref::<Float64Array>()
            .map(|a| a.value(0)),
        Some(1.5)
    );
    assert_eq!(
        column(8)
            .as_any()
            .downcast_ref::<Float32Array>()
            .map(|a| a.value(0)),
        Some(0.25)
    );
    assert_eq!(column(9).as_string::<i32>().value(0), "日本 ✓");
    assert_eq!(
        column(10)
            .as_any()
            .downcast_ref::<StringArray>()
            .map(|a| a.value(0)),
        Some("6f9619ff-8b86-d011-b42d-00c04fc964ff")
    );
    assert_eq!(
        column(11)
            .as_any()
            .downcast_ref::<BinaryArray>()
            .map(|a| a.value(0).to_vec()),
        Some(vec![0xde, 0xad, 0xbe, 0xef])
    );
    assert_eq!(
        column(12)
            .as_any()
            .downcast_ref::<Date32Array>()
            .map(|a| a.value(0)),
        Some(LEAP_DAY_SINCE_1970)
    );
    assert_eq!(
        column(13)
            .as_any()
            .downcast_ref::<Time64NanosecondArray>()
            .map(|a| a.value(0)),
        Some(86_399_123_456_700)
    );
    let micros = |i: usize, row: usize| {
        column(i)
            .as_any()
            .downcast_ref::<TimestampMicrosecondArray>()
            .map(|a| a.value(row))
    };
    let leap_day = i64::from(LEAP_DAY_SINCE_1970) * MICROS_PER_DAY;
    assert_eq!(micros(14, 0), Some(leap_day + 45_296_997_000));
    // 0001-01-01 23:59:59.1234567: the 100 ns digit is cut.
    assert_eq!(
        micros(15, 0),
        Some(-719_162 * MICROS_PER_DAY + 86_399_123_456)
    );
    assert_eq!(micros(16, 0), Some(leap_day + 754 * 60_000_000));
    assert_eq!(micros(17, 0), Some(leap_day + 36_000_500_000));
    assert_eq!(
        column(18)
            .as_any()
            .downcast_ref::<Int64Array>()
            .map(|a| (a.value(0), a.value(1))),
        Some((7, 9))
    );
    for i in 0..18 {
        assert!(column(i).is_null(1), "column {i} row 2 should be NULL");
    }
    Ok(())
}

#[test]
fn a_value_of_another_type_is_an_error_naming_the_column() -> Result<()> {
    let schema = Arc::new(Schema::new(vec![Field::new("d", DataType::Date32, true)]));
    let mut builder = BatchBuilder::new(schema, 1)?;
    let error = builder
        .push(vec![ColumnData::String(Some("2024-01-01".into()))])
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(error.contains("column \"d\""), "{error}");
    assert!(error.contains("as Date32"), "{error}");
    let schema = Arc::new(Schema::new(vec![Field::new(
        "small",
        DataType::Int16,
        true,
    )]));
    let mut builder = BatchBuilder::new(schema, 1)?;
    assert!(builder.push(vec![ColumnData::I32(Some(70_000))]).is_err());
    assert!(builder.push(Vec::<ColumnData<'static>>::new()).is_err());
    Ok(())
}
