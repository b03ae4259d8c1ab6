//! T-SQL as DataFusion's unparser should write it, and the rewrite of what
//! the unparser cannot say in T-SQL (row limits, `count`).
//!
//! What is sent is decided by the pushdown policy; this module only spells
//! it: bracket quoting, `N'…'` strings, `DATETIME2`/`FLOAT` casts,
//! `DATEPART(year, x)`, `TOP n` or `ORDER BY … OFFSET … FETCH`, `COUNT_BIG`.

use std::ops::ControlFlow;
use std::sync::Arc;

use datafusion::arrow::datatypes::TimeUnit;
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::Expr;
use datafusion::sql::sqlparser::ast::{
    self, Function, FunctionArg, FunctionArgExpr, FunctionArgumentList, FunctionArguments,
    LimitClause, ObjectName, Offset, OffsetRows, OrderBy, OrderByExpr, OrderByKind, OrderByOptions,
    Query, SetExpr, Statement, Top, TopQuantity, Value, VisitMut, VisitorMut,
};
use datafusion::sql::unparser::Unparser;
use datafusion::sql::unparser::dialect::{CharacterLengthStyle, Dialect};

use crate::remote::sql_text::{named_type, take_row_limit};

/// Date parts whose numbers DATEPART gives exactly as DataFusion's
/// `date_part` (not `week`/`dow`: they depend on `SET DATEFIRST`).
pub(crate) const DATE_PARTS: &[&str] = &["year", "quarter", "month", "day", "hour", "minute"];

pub(crate) struct TsqlDialect;

impl Dialect for TsqlDialect {
    fn identifier_quote_style(&self, _identifier: &str) -> Option<char> {
        Some('[')
    }

    /// T-SQL has no NULLS FIRST/LAST; the policy pushes only sorts whose
    /// NULL order is SQL Server's own.
    fn supports_nulls_first_in_sort(&self) -> bool {
        false
    }

    fn float64_ast_dtype(&self) -> ast::DataType {
        named_type("FLOAT")
    }

    fn utf8_cast_dtype(&self) -> ast::DataType {
        named_type("NVARCHAR(MAX)")
    }

    fn large_utf8_cast_dtype(&self) -> ast::DataType {
        named_type("NVARCHAR(MAX)")
    }

    fn character_length_style(&self) -> CharacterLengthStyle {
        CharacterLengthStyle::Length
    }

    fn int8_cast_dtype(&self) -> ast::DataType {
        // TINYINT is unsigned in SQL Server.
        named_type("SMALLINT")
    }

    /// TIMESTAMP is a row version in SQL Server.
    fn timestamp_cast_dtype(&self, _unit: &TimeUnit, tz: &Option<Arc<str>>) -> ast::DataType {
        match tz {
            Some(_) => named_type("DATETIMEOFFSET"),
            None => named_type("DATETIME2"),
        }
    }

    fn supports_column_alias_in_table_alias(&self) -> bool {
        false
    }

    fn requires_derived_table_alias(&self) -> bool {
        true
    }

    fn supports_qualify(&self) -> bool {
        false
    }

    fn scalar_function_to_sql_overrides(
        &self,
        unparser: &Unparser,
        name: &str,
        args: &[Expr],
    ) -> Result<Option<ast::Expr>> {
        if name != "date_part" {
            return Ok(None);
        }
        let [Expr::Literal(ScalarValue::Utf8(Some(part)), _), value] = args else {
            return Ok(None);
        };
        let part = part.to_ascii_lowercase();
        if !DATE_PARTS.contains(&part.as_str()) {
            return Ok(None);
        }
        let arguments = vec![
            ast::Expr::Identifier(ast::Ident::new(part)),
            unparser.expr_to_sql(value)?,
        ];
        Ok(Some(call("DATEPART", arguments)))
    }

    /// `N'…'`: SQL Server reads a plain literal in the database's code page,
    /// losing what it cannot represent.
    fn string_literal_to_sql(&self, text: &str) -> Option<ast::Expr> {
        Some(ast::Expr::value(Value::NationalStringLiteral(
            text.to_owned(),
        )))
    }
}

fn call(name: &str, arguments: Vec<ast::Expr>) -> ast::Expr {
    ast::Expr::Function(Function {
        name: ObjectName::from(vec![ast::Ident::new(name)]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(FunctionArgumentList {
            duplicate_treatment: None,
            args: arguments
                .into_iter()
                .map(|e| FunctionArg::Unnamed(FunctionArgExpr::Expr(e)))
                .collect(),
            clauses: vec![],
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: vec![],
    })
}

/// Rewrites what the unparser wrote in standard SQL into T-SQL.
pub(crate) fn rewrite(mut statement: Statement) -> Statement {
    let _ = statement.visit(&mut TsqlRewrite { depth: 0 });
    statement
}

struct TsqlRewrite {
    /// How many queries enclose the one being visited.
    depth: usize,
}

impl VisitorMut for TsqlRewrite {
    type Break = ();

    fn pre_visit_query(&mut self, _query: &mut Query) -> ControlFlow<()> {
        self.depth += 1;
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        self.depth -= 1;
        limit_to_tsql(query, self.depth > 0);
        ControlFlow::Continue(())
    }

    /// `count` is an int in SQL Server (an error past 2^31 rows); COUNT_BIG
    /// is the bigint DataFusion counts in.
    fn post_visit_expr(&mut self, expr: &mut ast::Expr) -> ControlFlow<()> {
        if let ast::Expr::Function(function) = expr
            && function.over.is_none()
            && function.name.to_string().eq_ignore_ascii_case("count")
        {
            function.name = ObjectName::from(vec![ast::Ident::new("COUNT_BIG")]);
        }
        ControlFlow::Continue(())
    }
}

/// `LIMIT n` becomes `TOP (n)`; an offset becomes `OFFSET m ROWS FETCH FIRST
/// n ROWS ONLY`, which needs an ORDER BY (`(SELECT NULL)` where the query
/// has none). A subquery may not be ordered without a row limit in T-SQL,
/// and its order means nothing there: it is dropped.
fn limit_to_tsql(query: &mut Query, nested: bool) {
    match take_row_limit(query) {
        (None, None) => {
            if nested && query.fetch.is_none() {
                query.order_by = None;
            }
        }
        (Some(limit), None) if matches!(query.body.as_ref(), SetExpr::Select(_)) => {
            if let SetExpr::Select(select) = query.body.as_mut() {
                select.top = Some(Top {
                    with_ties: false,
                    percent: false,
                    quantity: Some(match &limit {
                        ast::Expr::Value(v) => match &v.value {
                            Value::Number(n, _) => match n.parse::<u64>() {
                                Ok(n) => TopQuantity::Constant(n),
                                Err(_) => TopQuantity::Expr(limit.clone()),
                            },
                            _ => TopQuantity::Expr(limit.clone()),
                        },
                        _ => TopQuantity::Expr(limit.clone()),
                    }),
                });
                select.top_before_distinct = false;
            }
        }
        (limit, offset) => {
            if query.order_by.is_none() {
                query.order_by = Some(OrderBy {
                    kind: OrderByKind::Expressions(vec![OrderByExpr {
                        expr: ast::Expr::Subquery(Box::new(select_null())),
                        options: OrderByOptions {
                            asc: None,
                            nulls_first: None,
                        },
                        with_fill: None,
                    }]),
                    interpolate: None,
                });
            }
            query.limit_clause = Some(LimitClause::LimitOffset {
                limit: None,
                offset: Some(Offset {
                    value: offset.unwrap_or_else(|| ast::Expr::value(number(0))),
                    rows: OffsetRows::Rows,
                }),
                limit_by: vec![],
            });
            query.fetch = limit.map(|quantity| ast::Fetch {
                with_ties: false,
                percent: false,
                quantity: Some(quantity),
            });
        }
    }
}

fn number(n: u64) -> Value {
    Value::Number(n.to_string(), false)
}

/// `(SELECT NULL)`, the ORDER BY that orders nothing.
fn select_null() -> Query {
    let parsed = datafusion::sql::sqlparser::parser::Parser::new(
        &datafusion::sql::sqlparser::dialect::MsSqlDialect {},
    )
    .try_with_sql("SELECT NULL")
    .and_then(|mut p| p.parse_query());
    match parsed {
        Ok(query) => *query,
        // A constant text that always parses.
        Err(_) => unreachable!("SELECT NULL parses"),
    }
}
