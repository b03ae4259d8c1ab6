//! Statements for PostgreSQL with their string literals sent as bound
//! parameters. DataFusion's unparser writes every value into the SQL text;
//! here each string literal becomes a parameter of the extended protocol,
//! sent in text format, so that no value, whatever quotes, backslashes or
//! comments it holds, is read as SQL by the source, and the source's log
//! shows the statement and its values apart.
//!
//! A literal compared with something else (`=`, `<`, `IN`, `LIKE`,
//! `BETWEEN`) becomes a bare `$n`, whose type PostgreSQL infers from the
//! other side as it would for the literal (`uuid_col = $1`); anywhere else
//! it becomes `CAST($n AS TEXT)`, which is what DataFusion meant by a Utf8
//! literal. One value in one place-kind gets one number, so that a SELECT
//! expression still matches its GROUP BY twin, and two columns of different
//! types never share a number.

use std::ops::ControlFlow;
use std::pin::Pin;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::{DataFusionError, Result};
use datafusion::sql::sqlparser::ast::{
    BinaryOperator, CastKind, DataType, Expr, Value, ValueWithSpan, VisitMut, VisitorMut,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;
use datafusion::sql::sqlparser::tokenizer::Span;
use datafusion_table_providers::postgres::conn::PostgresConnection;
use datafusion_table_providers::sql::arrow_sql_gen::postgres::rows_to_arrow;
use futures::{Stream, StreamExt};
use tokio_postgres::types::{Format, IsNull, ToSql, Type, to_sql_checked};

use super::error::SourceError;

/// Rows per Arrow batch, as the library's own PostgreSQL reader makes them.
const ROWS_PER_BATCH: usize = 4_000;

/// Batches from a source.
pub(crate) type BatchStream = Pin<Box<dyn Stream<Item = Result<RecordBatch>> + Send>>;

/// `sql` with its string literals as parameters, and their values in
/// parameter order; `None` when it has none, or cannot be parsed (then it
/// is sent as it is).
pub(crate) fn bind_string_literals(sql: &str) -> Option<(String, Vec<TextValue>)> {
    let mut statements = Parser::parse_sql(&PostgreSqlDialect {}, sql).ok()?;
    if statements.len() != 1 {
        return None;
    }
    let mut binder = LiteralBinder::default();
    let _ = statements[0].visit(&mut binder);
    if binder.values.is_empty() {
        return None;
    }
    let values = binder
        .values
        .into_iter()
        .map(|(value, _)| TextValue(value))
        .collect();
    Some((statements[0].to_string(), values))
}

#[derive(Default)]
struct LiteralBinder {
    /// (value, where it is used: the other operand's text, or "" for a cast).
    values: Vec<(String, String)>,
    /// Inside `INTERVAL '…'`, whose value must stay a literal.
    in_interval: usize,
}

fn string_literal(expr: &Expr) -> Option<&str> {
    match expr {
        Expr::Value(ValueWithSpan {
            value: Value::SingleQuotedString(text),
            ..
        }) => Some(text),
        _ => None,
    }
}

fn placeholder(number: usize) -> Expr {
    Expr::Value(ValueWithSpan {
        value: Value::Placeholder(format!("${number}")),
        span: Span::empty(),
    })
}

impl LiteralBinder {
    fn number(&mut self, value: &str, context: String) -> usize {
        let key = (value.to_owned(), context);
        match self.values.iter().position(|v| *v == key) {
            Some(at) => at + 1,
            None => {
                self.values.push(key);
                self.values.len()
            }
        }
    }

    /// A literal operand compared with `other` becomes a bare parameter.
    fn bind_operand(&mut self, operand: &mut Expr, other: &Expr) {
        if string_literal(other).is_some() {
            return;
        }
        if let Some(text) = string_literal(operand) {
            let number = self.number(text, other.to_string());
            *operand = placeholder(number);
        }
    }
}

impl VisitorMut for LiteralBinder {
    type Break = ();

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        if matches!(expr, Expr::Interval(_)) {
            self.in_interval += 1;
        }
        if self.in_interval > 0 {
            return ControlFlow::Continue(());
        }
        match expr {
            Expr::BinaryOp {
                left,
                op:
                    BinaryOperator::Eq
                    | BinaryOperator::NotEq
                    | BinaryOperator::Lt
                    | BinaryOperator::LtEq
                    | BinaryOperator::Gt
                    | BinaryOperator::GtEq,
                right,
            } => {
                self.bind_operand(left, right);
                self.bind_operand(right, left);
            }
            Expr::InList { expr, list, .. } => {
                for item in list.iter_mut() {
                    self.bind_operand(item, expr);
                }
            }
            Expr::Between {
                expr, low, high, ..
            } => {
                self.bind_operand(low, expr);
                self.bind_operand(high, expr);
            }
            Expr::Like { expr, pattern, .. } | Expr::ILike { expr, pattern, .. } => {
                self.bind_operand(pattern, expr);
            }
            Expr::Value(_) => {
                if let Some(text) = string_literal(expr) {
                    let number = self.number(text, String::new());
                    *expr = Expr::Cast {
                        kind: CastKind::Cast,
                        expr: Box::new(placeholder(number)),
                        data_type: DataType::Text,
                        array: false,
                        format: None,
                    };
                }
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        if matches!(expr, Expr::Interval(_)) {
            self.in_interval -= 1;
        }
        ControlFlow::Continue(())
    }
}

/// A value sent in text format, for whatever type PostgreSQL gives its
/// parameter: PostgreSQL parses it as it would have parsed the literal.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TextValue(String);

impl ToSql for TextValue {
    fn to_sql(
        &self,
        _ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        out.extend_from_slice(self.0.as_bytes());
        Ok(IsNull::No)
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }

    fn encode_format(&self, _ty: &Type) -> Format {
        Format::Text
    }

    to_sql_checked!();
}

/// Runs `sql` with `values` bound on `connection` and reads its rows as
/// Arrow batches of `schema`. The rows do not borrow the connection.
pub(crate) async fn query_bound(
    connection: &PostgresConnection,
    source_name: &str,
    sql: &str,
    values: &[TextValue],
    schema: SchemaRef,
) -> std::result::Result<BatchStream, SourceError> {
    let rows = connection
        .conn
        .query_raw(sql, values.iter())
        .await
        .map_err(|e| SourceError::from_query(source_name, &e))?;
    let source = source_name.to_owned();
    let failed = move |error: &(dyn std::error::Error + 'static)| {
        DataFusionError::External(Box::new(SourceError::from_query(&source, error)))
    };
    let projected = Some(schema);
    let batches = rows.chunks(ROWS_PER_BATCH).map(move |chunk| {
        let rows = chunk
            .into_iter()
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| failed(&e))?;
        rows_to_arrow(&rows, &projected).map_err(|e| failed(&e))
    });
    Ok(Box::pin(batches))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(bound: &[TextValue]) -> Vec<&str> {
        bound.iter().map(|v| v.0.as_str()).collect()
    }

    #[test]
    fn compared_literals_are_bare_and_the_rest_cast() {
        let sql = "SELECT CASE WHEN (\"t\".\"a\" = 'x''y') THEN 'it''s' ELSE 'z' END AS \"c\", count(1) \
                   FROM \"t\" WHERE (\"t\".\"u\" = 'a0ee') AND (\"t\".\"v\" = 'a0ee') \
                   AND \"t\".\"e\" > now() - INTERVAL '1 day' AND \"t\".\"n\" LIKE 'ab%' \
                   AND \"t\".\"d\" >= CAST('2024-01-01' AS DATE) \
                   GROUP BY CASE WHEN (\"t\".\"a\" = 'x''y') THEN 'it''s' ELSE 'z' END LIMIT 10";
        let Some((bound, bound_values)) = bind_string_literals(sql) else {
            panic!("literals are bound");
        };
        assert_eq!(
            values(&bound_values),
            ["x'y", "it's", "z", "a0ee", "a0ee", "ab%", "2024-01-01"]
        );
        assert!(
            bound.contains("(\"t\".\"a\" = $1) THEN CAST($2 AS TEXT)"),
            "{bound}"
        );
        assert_eq!(bound.matches("\"t\".\"a\" = $1").count(), 2, "{bound}");
        assert!(
            bound.contains("\"t\".\"u\" = $4") && bound.contains("\"t\".\"v\" = $5"),
            "{bound}"
        );
        assert!(bound.contains("INTERVAL '1 day'"), "{bound}");
        assert!(bound.contains("LIKE $6"), "{bound}");
        assert!(bound.contains("CAST(CAST($7 AS TEXT) AS DATE)"), "{bound}");
        assert_eq!(bind_string_literals("SELECT 1 FROM \"t\" LIMIT 5"), None);
    }
}
