//! Oracle SQL as the unparser should write it, and what the unparser
//! cannot say in Oracle (row limits, `AS` before a table alias).

use std::ops::ControlFlow;
use std::sync::Arc;

use datafusion::arrow::datatypes::TimeUnit;
use datafusion::sql::sqlparser::ast::{
    self, LimitClause, Offset, OffsetRows, Query, Statement, TableFactor, VisitMut, VisitorMut,
};
use datafusion::sql::unparser::dialect::Dialect;

use crate::remote::sql_text::{named_type, take_row_limit};

/// Words Oracle does not take as unquoted names; a lower-case name that is
/// one of them is quoted (and so matches only a lower-case Oracle name).
const RESERVED: &[&str] = &[
    "access",
    "add",
    "all",
    "alter",
    "and",
    "any",
    "as",
    "asc",
    "audit",
    "between",
    "by",
    "char",
    "check",
    "cluster",
    "column",
    "comment",
    "compress",
    "connect",
    "create",
    "current",
    "date",
    "decimal",
    "default",
    "delete",
    "desc",
    "distinct",
    "drop",
    "else",
    "exclusive",
    "exists",
    "file",
    "float",
    "for",
    "from",
    "grant",
    "group",
    "having",
    "identified",
    "immediate",
    "in",
    "increment",
    "index",
    "initial",
    "insert",
    "integer",
    "intersect",
    "into",
    "is",
    "level",
    "like",
    "lock",
    "long",
    "maxextents",
    "minus",
    "mode",
    "modify",
    "noaudit",
    "nocompress",
    "not",
    "nowait",
    "null",
    "number",
    "of",
    "offline",
    "on",
    "online",
    "option",
    "or",
    "order",
    "pctfree",
    "prior",
    "public",
    "raw",
    "rename",
    "resource",
    "revoke",
    "row",
    "rowid",
    "rownum",
    "rows",
    "select",
    "session",
    "set",
    "share",
    "size",
    "smallint",
    "start",
    "successful",
    "synonym",
    "sysdate",
    "table",
    "then",
    "to",
    "trigger",
    "uid",
    "union",
    "unique",
    "update",
    "user",
    "validate",
    "values",
    "varchar",
    "varchar2",
    "view",
    "whenever",
    "where",
    "with",
];

pub(crate) struct OracleDialect;

/// A lower-case name Oracle reads, unquoted, as its upper-case name.
fn folds_to_upper(identifier: &str) -> bool {
    let mut chars = identifier.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '$' | '#'))
        && !RESERVED.contains(&identifier)
}

impl Dialect for OracleDialect {
    fn identifier_quote_style(&self, identifier: &str) -> Option<char> {
        if folds_to_upper(identifier) {
            None
        } else {
            Some('"')
        }
    }

    fn float64_ast_dtype(&self) -> ast::DataType {
        named_type("BINARY_DOUBLE")
    }

    fn int64_cast_dtype(&self) -> ast::DataType {
        named_type("NUMBER(19)")
    }

    fn int32_cast_dtype(&self) -> ast::DataType {
        named_type("NUMBER(10)")
    }

    fn int8_cast_dtype(&self) -> ast::DataType {
        named_type("NUMBER(3)")
    }

    fn utf8_cast_dtype(&self) -> ast::DataType {
        named_type("VARCHAR2(4000)")
    }

    fn large_utf8_cast_dtype(&self) -> ast::DataType {
        named_type("CLOB")
    }

    fn timestamp_cast_dtype(&self, _unit: &TimeUnit, tz: &Option<Arc<str>>) -> ast::DataType {
        match tz {
            Some(_) => named_type("TIMESTAMP WITH TIME ZONE"),
            None => named_type("TIMESTAMP"),
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
}

/// Rewrites the unparser's standard SQL into Oracle's.
pub(crate) fn rewrite(mut statement: Statement) -> Statement {
    let _ = statement.visit(&mut OracleRewrite);
    statement
}

struct OracleRewrite;

impl VisitorMut for OracleRewrite {
    type Break = ();

    /// `LIMIT n OFFSET m` is `OFFSET m ROWS FETCH FIRST n ROWS ONLY` (12c).
    fn post_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        let (limit, offset) = take_row_limit(query);
        query.limit_clause = offset.map(|value| LimitClause::LimitOffset {
            limit: None,
            offset: Some(Offset {
                value,
                rows: OffsetRows::Rows,
            }),
            limit_by: vec![],
        });
        query.fetch = limit.map(|quantity| ast::Fetch {
            with_ties: false,
            percent: false,
            quantity: Some(quantity),
        });
        ControlFlow::Continue(())
    }

    /// Oracle takes no `AS` before a table's alias.
    fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
        match factor {
            TableFactor::Table { alias: Some(a), .. }
            | TableFactor::Derived { alias: Some(a), .. } => a.explicit = false,
            _ => {}
        }
        ControlFlow::Continue(())
    }
}
