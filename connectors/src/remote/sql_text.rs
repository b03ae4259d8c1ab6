//! Pieces of SQL text the T-SQL and Oracle rewrites both need.

use datafusion::sql::sqlparser::ast::{self, LimitClause, ObjectName, Query, Value};

/// A type written as the database spells it (`FLOAT`, `NUMBER(19)`).
pub(crate) fn named_type(name: &str) -> ast::DataType {
    ast::DataType::Custom(ObjectName::from(vec![ast::Ident::new(name)]), vec![])
}

/// Takes the query's `LIMIT`/`OFFSET` out, as (limit, offset); an offset of
/// 0 is no offset.
pub(crate) fn take_row_limit(query: &mut Query) -> (Option<ast::Expr>, Option<ast::Expr>) {
    let (limit, offset) = match query.limit_clause.take() {
        Some(LimitClause::LimitOffset { limit, offset, .. }) => (limit, offset.map(|o| o.value)),
        Some(LimitClause::OffsetCommaLimit { offset, limit }) => (Some(limit), Some(offset)),
        None => (None, None),
    };
    let zero = |e: &ast::Expr| matches!(e, ast::Expr::Value(v) if matches!(&v.value, Value::Number(n, _) if n == "0"));
    (limit, offset.filter(|o| !zero(o)))
}
