//! Rewrites of the SQL that client libraries send while browsing, into SQL
//! DataFusion can plan with the same meaning. Each rewrite names the client
//! query that needs it.
//!
//! - `x LIKE p ESCAPE 'c'` (SQLAlchemy's `get_schema_names`, with `/`):
//!   DataFusion only knows the backslash, so the pattern is translated to
//!   backslash escapes by `tributary_like_escape`.
//! - `generate_subscripts(a, 1)` beside `unnest(a)` in a select list
//!   (SQLAlchemy's primary keys, indexes, unique constraints): a set
//!   returning function; becomes `unnest(tributary_subscripts(a, 1))`, which
//!   DataFusion unnests in step with the other `unnest`, as PostgreSQL does.
//! - `information_schema._pg_expandarray(a)` and `(…).x` / `(…).n` (pgjdbc's
//!   `getPrimaryKeys`): becomes `unnest(tributary_expand_array(a))`, a list
//!   of `{x, n}` structs, with field access through `get_field`.
//! - `….i_indoption[n]` (pgjdbc's `getIndexInfo`): `indoption` is int2vector
//!   text, which subscripts cannot index; becomes `split_part` of it.
//! - A correlated scalar subquery over `pg_catalog` tables that is not an
//!   aggregate (SQLAlchemy's `get_columns`: a column's default, identity,
//!   collation): DataFusion plans only aggregated ones, so its one column
//!   becomes `first_value(…)`. Catalog lookups by key find one row at most,
//!   so the answer is the same; user tables are never touched by this.

use std::ops::ControlFlow;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::common::ParamValues;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{
    AccessExpr, BinaryOperator, Expr, FunctionArguments, ObjectName, Query, SelectItem, SetExpr,
    Statement, Subscript, TableFactor, Value, Visit, VisitMut, Visitor, VisitorMut,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;
use datafusion_postgres::arrow_pg::datatypes::df::encode_dataframe;
use datafusion_postgres::hooks::{HookClient, QueryHook};
use datafusion_postgres::pgwire::api::ClientInfo;
use datafusion_postgres::pgwire::api::portal::Format;
use datafusion_postgres::pgwire::api::results::Response;
use datafusion_postgres::pgwire::error::{PgWireError, PgWireResult};
use datafusion_postgres::pgwire::types::format::FormatOptions;

/// Plans the statements that needed a rewrite; every other statement goes
/// on to the next hook unchanged.
#[derive(Debug, Default)]
pub(crate) struct ClientSqlHook;

async fn plan_rewritten(
    statement: &Statement,
    session: &SessionContext,
) -> Option<PgWireResult<LogicalPlan>> {
    let mut statement = statement.clone();
    if !rewrite_client_sql(&mut statement) {
        return None;
    }
    tracing::debug!("client SQL rewritten to: {statement}");
    let statement = datafusion::sql::parser::Statement::Statement(Box::new(statement));
    Some(
        session
            .state()
            .statement_to_plan(statement)
            .await
            .map_err(|e| PgWireError::ApiError(Box::new(e))),
    )
}

#[async_trait]
impl QueryHook for ClientSqlHook {
    async fn handle_simple_query(
        &self,
        statement: &Statement,
        session: &SessionContext,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        let plan = match plan_rewritten(statement, session).await? {
            Ok(plan) => plan,
            Err(error) => return Some(Err(error)),
        };
        let options = Arc::new(FormatOptions::from_client_metadata(client.metadata()));
        Some(
            async {
                let frame = session
                    .execute_logical_plan(plan)
                    .await
                    .map_err(|e| PgWireError::ApiError(Box::new(e)))?;
                let rows = encode_dataframe(frame, &Format::UnifiedText, Some(options)).await?;
                Ok(Response::Query(rows))
            }
            .await,
        )
    }

    async fn handle_extended_parse_query(
        &self,
        statement: &Statement,
        session: &SessionContext,
        _client: &(dyn ClientInfo + Send + Sync),
    ) -> Option<PgWireResult<LogicalPlan>> {
        plan_rewritten(statement, session).await
    }

    async fn handle_extended_query(
        &self,
        _statement: &Statement,
        _plan: &LogicalPlan,
        _params: &ParamValues,
        _session: &SessionContext,
        _client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        // The plan made at parse time runs as any other.
        None
    }
}

/// Rewrites `statement` in place; true if anything changed.
pub(crate) fn rewrite_client_sql(statement: &mut Statement) -> bool {
    let mut rewriter = Rewriter { changed: false };
    let _ = statement.visit(&mut rewriter);
    rewriter.changed
}

struct Rewriter {
    changed: bool,
}

fn parse_expr(sql: &str) -> Option<Expr> {
    Parser::new(&PostgreSqlDialect {})
        .try_with_sql(sql)
        .and_then(|mut parser| parser.parse_expr())
        .ok()
}

/// The arguments of a plain function call, as SQL text.
fn call_arguments(arguments: &FunctionArguments) -> Option<String> {
    match arguments {
        FunctionArguments::List(list) if list.clauses.is_empty() => Some(
            list.args
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", "),
        ),
        _ => None,
    }
}

fn escape_character(escape: &Value) -> Option<String> {
    match escape {
        Value::SingleQuotedString(c) | Value::EscapedStringLiteral(c) => Some(c.clone()),
        _ => None,
    }
}

impl Rewriter {
    fn replacement(expr: &Expr) -> Option<Expr> {
        match expr {
            Expr::Like {
                pattern,
                escape_char: Some(escape),
                ..
            }
            | Expr::ILike {
                pattern,
                escape_char: Some(escape),
                ..
            } => {
                let escape = escape_character(&escape.value)?;
                if escape == "\\" {
                    return None;
                }
                let translated = parse_expr(&format!(
                    "tributary_like_escape({pattern}, '{}')",
                    escape.replace('\'', "''")
                ))?;
                let mut rewritten = expr.clone();
                if let Expr::Like {
                    pattern,
                    escape_char,
                    ..
                }
                | Expr::ILike {
                    pattern,
                    escape_char,
                    ..
                } = &mut rewritten
                {
                    **pattern = translated;
                    *escape_char = None;
                }
                Some(rewritten)
            }
            Expr::Function(function) => {
                let name = function.name.0.last()?.to_string().to_ascii_lowercase();
                let arguments = call_arguments(&function.args)?;
                match name.as_str() {
                    "generate_subscripts" => {
                        parse_expr(&format!("unnest(tributary_subscripts({arguments}))"))
                    }
                    "_pg_expandarray" => {
                        parse_expr(&format!("unnest(tributary_expand_array({arguments}))"))
                    }
                    _ => None,
                }
            }
            // `(composite).field`: only on a parenthesized expression; a
            // dotted name is a column reference the planner resolves itself.
            Expr::CompoundFieldAccess { root, access_chain }
                if matches!(**root, Expr::Nested(_)) =>
            {
                let [AccessExpr::Dot(Expr::Identifier(field))] = access_chain.as_slice() else {
                    return None;
                };
                parse_expr(&format!(
                    "get_field({root}, '{}')",
                    field.value.to_ascii_lowercase().replace('\'', "''")
                ))
            }
            // `tmp.i_indoption[n]` (pgjdbc's `getIndexInfo` selects
            // `i.indoption AS i_indoption`): `indoption` is int2vector text
            // ("0 0"), as SQLAlchemy reads it; int2vector subscripts count
            // from 0.
            Expr::CompoundFieldAccess { root, access_chain } => {
                let (AccessExpr::Subscript(Subscript::Index { index }), path) =
                    access_chain.split_last()?
                else {
                    return None;
                };
                let mut column = root.to_string();
                let mut last = match &**root {
                    Expr::Identifier(ident) => ident.value.clone(),
                    Expr::CompoundIdentifier(parts) => parts.last()?.value.clone(),
                    _ => return None,
                };
                for access in path {
                    let AccessExpr::Dot(Expr::Identifier(ident)) = access else {
                        return None;
                    };
                    column.push('.');
                    column.push_str(&ident.to_string());
                    last = ident.value.clone();
                }
                if !last.to_ascii_lowercase().ends_with("indoption") {
                    return None;
                }
                parse_expr(&format!(
                    "CAST(split_part({column}, ' ', CAST(({index}) + 1 AS INTEGER)) AS SMALLINT)"
                ))
            }
            Expr::Subquery(query) => catalog_lookup_aggregated(query),
            _ => None,
        }
    }
}

/// The tables `query` reads, at any depth, by lower-case unqualified name.
fn relations_read(query: &Query) -> Vec<String> {
    struct Relations(Vec<String>);
    impl Visitor for Relations {
        type Break = ();
        fn pre_visit_relation(&mut self, relation: &ObjectName) -> ControlFlow<()> {
            let last = relation
                .0
                .last()
                .map(|part| part.to_string().to_ascii_lowercase());
            self.0.push(last.unwrap_or_default());
            ControlFlow::Continue(())
        }
    }
    let mut relations = Relations(Vec::new());
    let _ = query.visit(&mut relations);
    relations.0
}

/// Whether every relation `query` reads is a `pg_catalog` table.
fn reads_only_catalog(query: &Query) -> bool {
    let relations = relations_read(query);
    !relations.is_empty() && relations.iter().all(|name| name.starts_with("pg_"))
}

/// Catalog tables that are always empty in Tributary: no sequences, no
/// column defaults, no triggers (see the catalog crate's pg_catalog).
const ALWAYS_EMPTY: &[&str] = &["pg_sequence", "pg_attrdef", "pg_trigger"];

/// Whether `query` reads only tables that are always empty, so that as a
/// scalar subquery it is NULL.
fn reads_only_empty_tables(query: &Query) -> bool {
    let relations = relations_read(query);
    let all_empty = !relations.is_empty()
        && relations
            .iter()
            .all(|name| ALWAYS_EMPTY.contains(&name.as_str()));
    all_empty || joins_an_empty_table(query)
}

/// Whether `query`'s FROM list has an always-empty table inner-joined to
/// the rest, which makes every row of the product vanish (psql's trigger
/// lookup: `FROM pg_trigger u, pg_partition_ancestors(…)`).
fn joins_an_empty_table(query: &Query) -> bool {
    use datafusion::sql::sqlparser::ast::JoinOperator;
    let SetExpr::Select(select) = query.body.as_ref() else {
        return false;
    };
    select.from.iter().any(|from| {
        let inner_only = from.joins.iter().all(|join| {
            matches!(
                join.join_operator,
                JoinOperator::Inner(_) | JoinOperator::Join(_) | JoinOperator::CrossJoin(_)
            )
        });
        let empty = match &from.relation {
            TableFactor::Table {
                name, args: None, ..
            } => name.0.last().is_some_and(|part| {
                ALWAYS_EMPTY.contains(&part.to_string().to_ascii_lowercase().as_str())
            }),
            _ => false,
        };
        empty && inner_only
    })
}

const AGGREGATES: &[&str] = &[
    "count",
    "min",
    "max",
    "sum",
    "avg",
    "array_agg",
    "string_agg",
    "bool_and",
    "bool_or",
    "first_value",
    "last_value",
];

fn conjuncts(expr: Expr, into: &mut Vec<Expr>) {
    match expr {
        Expr::BinaryOp {
            left,
            op: BinaryOperator::And,
            right,
        } => {
            conjuncts(*left, into);
            conjuncts(*right, into);
        }
        Expr::Nested(inner)
            if matches!(
                *inner,
                Expr::BinaryOp {
                    op: BinaryOperator::And,
                    ..
                }
            ) =>
        {
            conjuncts(*inner, into)
        }
        other => into.push(other),
    }
}

/// Whether `expr` reads only columns of the outer query: every column is
/// qualified by a table the subquery does not have. DataFusion cannot
/// decorrelate such a conjunct inside the subquery.
fn outer_only(expr: &Expr, inner: &[String]) -> bool {
    struct Columns<'a> {
        inner: &'a [String],
        outer: usize,
        other: bool,
    }
    impl Visitor for Columns<'_> {
        type Break = ();
        fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
            match expr {
                Expr::CompoundIdentifier(parts) if parts.len() >= 2 => {
                    let table = parts[parts.len() - 2].value.to_ascii_lowercase();
                    if self.inner.contains(&table) {
                        self.other = true;
                    } else {
                        self.outer += 1;
                    }
                }
                Expr::Identifier(_)
                | Expr::Subquery(_)
                | Expr::Exists { .. }
                | Expr::InSubquery { .. } => self.other = true,
                _ => {}
            }
            ControlFlow::Continue(())
        }
    }
    let mut columns = Columns {
        inner,
        outer: 0,
        other: false,
    };
    let _ = expr.visit(&mut columns);
    columns.outer > 0 && !columns.other
}

/// The names the subquery's own tables go by: each table's name and alias.
fn inner_names(select: &datafusion::sql::sqlparser::ast::Select) -> Vec<String> {
    struct Names(Vec<String>);
    impl Visitor for Names {
        type Break = ();
        fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<()> {
            if let TableFactor::Table { name, alias, .. } = factor {
                if let Some(last) = name.0.last() {
                    self.0.push(last.to_string().to_ascii_lowercase());
                }
                if let Some(alias) = alias {
                    self.0.push(alias.name.value.to_ascii_lowercase());
                }
            }
            ControlFlow::Continue(())
        }
    }
    let mut names = Names(Vec::new());
    let _ = select.from.visit(&mut names);
    names.0
}

/// NULL in place of `query`, still naming every placeholder `query` held.
/// Upstream lists a statement's parameters by the placeholders its plan
/// reads, in order; a placeholder that vanished would shift the type of
/// every later one (psycopg 3 sends SQLAlchemy's literals as parameters).
fn null_keeping_placeholders(query: &Query) -> Expr {
    struct Placeholders(Vec<String>);
    impl Visitor for Placeholders {
        type Break = ();
        fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
            if let Expr::Value(value) = expr
                && let Value::Placeholder(name) = &value.value
                && !self.0.contains(name)
            {
                self.0.push(name.clone());
            }
            ControlFlow::Continue(())
        }
    }
    let mut placeholders = Placeholders(Vec::new());
    let _ = query.visit(&mut placeholders);
    if placeholders.0.is_empty() {
        return Expr::Value(Value::Null.into());
    }
    // Cast to text: the value is never used, and text decodes whatever the
    // client sends.
    let named = placeholders
        .0
        .iter()
        .map(|name| format!("CAST({name} AS TEXT) IS NULL"))
        .collect::<Vec<_>>()
        .join(" OR ");
    parse_expr(&format!("CASE WHEN {named} THEN NULL END"))
        .unwrap_or_else(|| Expr::Value(Value::Null.into()))
}

fn catalog_lookup_aggregated(query: &Query) -> Option<Expr> {
    // A lookup in a table that is always empty is NULL. DataFusion cannot
    // plan some of them at all (SQLAlchemy's identity-column lookup reads an
    // outer column inside `json_build_object`).
    if reads_only_empty_tables(query) {
        return Some(null_keeping_placeholders(query));
    }
    let SetExpr::Select(select) = query.body.as_ref() else {
        return None;
    };
    if !reads_only_catalog(query) || select.projection.len() != 1 || query.limit_clause.is_some() {
        return None;
    }
    if !matches!(&select.group_by, datafusion::sql::sqlparser::ast::GroupByExpr::Expressions(e, _) if e.is_empty())
    {
        return None;
    }
    let (expr, alias) = match &select.projection[0] {
        SelectItem::UnnamedExpr(expr) => (expr, None),
        SelectItem::ExprWithAlias { expr, alias } => (expr, Some(alias.clone())),
        _ => return None,
    };
    if let Expr::Function(function) = expr
        && let Some(name) = function.name.0.last()
        && AGGREGATES.contains(&name.to_string().to_ascii_lowercase().as_str())
    {
        return None;
    }
    let aggregated = parse_expr(&format!("first_value({expr})"))?;
    let mut query = query.clone();
    let mut guards = Vec::new();
    if let SetExpr::Select(select) = query.body.as_mut() {
        select.projection[0] = match alias {
            Some(alias) => SelectItem::ExprWithAlias {
                expr: aggregated,
                alias,
            },
            None => SelectItem::UnnamedExpr(aggregated),
        };
        // `WHERE outer.flag AND inner.key = outer.key` becomes
        // `CASE WHEN outer.flag THEN (… WHERE inner.key = outer.key) END`:
        // no row and NULL are the same answer for a scalar subquery.
        let inner = inner_names(select);
        if let Some(selection) = select.selection.take() {
            let mut all = Vec::new();
            conjuncts(selection, &mut all);
            let (outer, kept): (Vec<Expr>, Vec<Expr>) =
                all.into_iter().partition(|c| outer_only(c, &inner));
            guards = outer;
            select.selection = kept.into_iter().reduce(|left, right| Expr::BinaryOp {
                left: Box::new(left),
                op: BinaryOperator::And,
                right: Box::new(right),
            });
        }
    }
    let subquery = Expr::Subquery(Box::new(query));
    if guards.is_empty() {
        return Some(subquery);
    }
    let condition = guards
        .iter()
        .map(|guard| format!("({guard})"))
        .collect::<Vec<_>>()
        .join(" AND ");
    parse_expr(&format!("CASE WHEN {condition} THEN {subquery} END"))
}

impl VisitorMut for Rewriter {
    type Break = ();

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<Self::Break> {
        if let Some(replacement) = Self::replacement(expr) {
            *expr = replacement;
            self.changed = true;
        }
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewritten(sql: &str) -> String {
        let mut statement = Parser::new(&PostgreSqlDialect {})
            .try_with_sql(sql)
            .and_then(|mut parser| parser.parse_statement())
            .expect("test SQL parses");
        rewrite_client_sql(&mut statement);
        statement.to_string()
    }

    #[test]
    fn like_escape_becomes_a_backslash_pattern() {
        assert_eq!(
            rewritten("SELECT 1 WHERE n NOT LIKE 'pg/_' || '%' ESCAPE '/'"),
            "SELECT 1 WHERE n NOT LIKE tributary_like_escape('pg/_' || '%', '/')"
        );
        assert_eq!(
            rewritten("SELECT 1 WHERE n LIKE 'a\\_%' ESCAPE '\\'"),
            "SELECT 1 WHERE n LIKE 'a\\_%' ESCAPE '\\'"
        );
    }

    #[test]
    fn set_returning_functions_become_unnest() {
        assert_eq!(
            rewritten("SELECT unnest(k), generate_subscripts(k, 1) FROM t"),
            "SELECT unnest(k), unnest(tributary_subscripts(k, 1)) FROM t"
        );
        assert_eq!(
            rewritten("SELECT (_pg_expandarray(i.k)).n, (r.keys).x FROM t"),
            "SELECT get_field((unnest(tributary_expand_array(i.k))), 'n'), get_field((r.keys), 'x') FROM t"
        );
    }

    #[test]
    fn only_catalog_lookups_are_aggregated() {
        assert_eq!(
            rewritten(
                "SELECT (SELECT t.typname FROM pg_catalog.pg_type t WHERE t.oid = a.atttypid) FROM pg_catalog.pg_attribute a"
            ),
            "SELECT (SELECT first_value(t.typname) FROM pg_catalog.pg_type t WHERE t.oid = a.atttypid) FROM pg_catalog.pg_attribute a"
        );
        assert_eq!(
            rewritten(
                "SELECT (SELECT d.x FROM pg_catalog.pg_description d WHERE pg_catalog.pg_attribute.atthasdef AND d.objoid = pg_catalog.pg_attribute.attrelid) FROM pg_catalog.pg_attribute"
            ),
            "SELECT CASE WHEN (pg_catalog.pg_attribute.atthasdef) THEN (SELECT first_value(d.x) FROM pg_catalog.pg_description d WHERE d.objoid = pg_catalog.pg_attribute.attrelid) END FROM pg_catalog.pg_attribute"
        );
        assert_eq!(
            rewritten(
                "SELECT CASE WHEN a.attidentity <> '' THEN (SELECT json_build_object('always', a.attidentity = 'a', 'start', s.seqstart) FROM pg_catalog.pg_sequence s WHERE s.seqrelid = 1) END FROM pg_catalog.pg_attribute a"
            ),
            "SELECT CASE WHEN a.attidentity <> '' THEN NULL END FROM pg_catalog.pg_attribute a"
        );
        assert_eq!(
            rewritten(
                "SELECT (SELECT json_build_object($1, s.seqstart) FROM pg_catalog.pg_sequence s WHERE a.attidentity <> $2), a.attname FROM pg_catalog.pg_attribute a WHERE a.attname = $3"
            ),
            "SELECT CASE WHEN CAST($1 AS TEXT) IS NULL OR CAST($2 AS TEXT) IS NULL THEN NULL END, a.attname FROM pg_catalog.pg_attribute a WHERE a.attname = $3"
        );
        assert_eq!(
            rewritten(
                "SELECT CASE WHEN t.tgparentid <> 0 THEN (SELECT u.tgrelid FROM pg_catalog.pg_trigger AS u, pg_catalog.pg_partition_ancestors(t.tgrelid) AS a(relid, depth) WHERE u.tgrelid = a.relid ORDER BY a.depth LIMIT 1) END FROM pg_catalog.pg_trigger AS t"
            ),
            "SELECT CASE WHEN t.tgparentid <> 0 THEN NULL END FROM pg_catalog.pg_trigger AS t"
        );
        assert_eq!(
            rewritten("SELECT tmp.I_INDOPTION[tmp.n - 1] & 1 FROM tmp"),
            "SELECT CAST(split_part(tmp.I_INDOPTION, ' ', CAST((tmp.n - 1) + 1 AS INTEGER)) AS SMALLINT) & 1 FROM tmp"
        );
        let user = "SELECT (SELECT o.x FROM sample.orders AS o WHERE o.id = c.id) FROM sample.customers AS c";
        assert_eq!(rewritten(user), user);
    }
}
