//! What only SQL Server needs refused, on top of the rules it shares with
//! MySQL (text compared by collation, NULLs sorted first): see
//! `remote::pushdown`. Each rule is a difference of results or a statement
//! SQL Server would reject.

use datafusion::arrow::datatypes::DataType;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::common::{DFSchema, ScalarValue};
use datafusion::logical_expr::expr::AggregateFunction;
use datafusion::logical_expr::{BinaryExpr, Expr, ExprSchemable, LogicalPlan, Operator};

use super::dialect::DATE_PARTS;

/// T-SQL has no boolean values: a predicate cannot be selected, and a `bit`
/// column is not a predicate (`WHERE flag` must be `WHERE flag = 1`). So a
/// boolean column may only be selected or grouped by as it is, and a
/// boolean expression may only stand where T-SQL takes a predicate.
pub(crate) fn allows_node(node: &LogicalPlan, schema: &DFSchema) -> bool {
    match node {
        LogicalPlan::Projection(projection) => projection.expr.iter().all(|e| {
            let e = e.clone().unalias();
            matches!(e, Expr::Column(_))
                || (!is_boolean(&e, schema) && !mentions_boolean_column(&e, schema))
        }),
        LogicalPlan::Aggregate(aggregate) => {
            aggregate
                .group_expr
                .iter()
                .all(|e| matches!(e, Expr::Column(_)) || !mentions_boolean_column(e, schema))
                && aggregate
                    .aggr_expr
                    .iter()
                    .all(|e| !mentions_boolean_column(e, schema))
        }
        _ => node
            .expressions()
            .iter()
            .all(|e| !mentions_boolean_column(e, schema)),
    }
}

/// One expression node, its children aside.
pub(crate) fn allows_expr(expr: &Expr, schema: &DFSchema) -> bool {
    match expr {
        Expr::Literal(value, _) => literal_allowed(value),
        // T-SQL has no IS TRUE, IS DISTINCT FROM (before 2022) or ||.
        Expr::IsTrue(_)
        | Expr::IsFalse(_)
        | Expr::IsNotTrue(_)
        | Expr::IsNotFalse(_)
        | Expr::IsUnknown(_)
        | Expr::IsNotUnknown(_) => false,
        // Decimal division keeps another scale in SQL Server.
        Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::Divide,
            right,
        }) => !is_decimal(left, schema) && !is_decimal(right, schema),
        Expr::Cast(cast) => {
            let to = cast.field.data_type();
            // FLOAT is double in T-SQL, TINYINT unsigned; a DATETIMEOFFSET
            // cast reads the session's offset.
            !matches!(
                to,
                DataType::Float32 | DataType::Int8 | DataType::Timestamp(_, Some(_))
            )
        }
        Expr::ScalarFunction(function) if function.name() == "date_part" => {
            let part_ok = matches!(function.args.first(), Some(Expr::Literal(ScalarValue::Utf8(Some(part)), _))
                if DATE_PARTS.contains(&part.to_ascii_lowercase().as_str()));
            let value_ok = function.args.get(1).is_some_and(|a| {
                matches!(
                    a.get_type(schema),
                    Ok(DataType::Date32 | DataType::Timestamp(_, None))
                )
            });
            part_ok && value_ok
        }
        // SQL Server averages integers as integers, decimals at a scale of
        // its own: only a float's average is the same (DataFusion casts
        // integers to float first, and the cast is sent too).
        Expr::AggregateFunction(AggregateFunction { func, params }) if func.name() == "avg" => {
            params.args.iter().all(|a| {
                matches!(
                    a.get_type(schema),
                    Ok(DataType::Float64 | DataType::Float32)
                )
            })
        }
        _ => true,
    }
}

/// Literals T-SQL spells as DataFusion means them. Booleans have no
/// literal; time zones and intervals are written in forms SQL Server does
/// not read.
fn literal_allowed(value: &ScalarValue) -> bool {
    matches!(
        value.data_type(),
        DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::UInt8
            | DataType::UInt16
            | DataType::UInt32
            | DataType::Float64
            | DataType::Decimal128(..)
            | DataType::Utf8
            | DataType::Utf8View
            | DataType::LargeUtf8
            | DataType::Date32
            | DataType::Timestamp(_, None)
    )
}

fn is_boolean(expr: &Expr, schema: &DFSchema) -> bool {
    matches!(expr.get_type(schema), Ok(DataType::Boolean))
}

fn is_decimal(expr: &Expr, schema: &DFSchema) -> bool {
    matches!(
        expr.get_type(schema),
        Ok(DataType::Decimal128(..) | DataType::Decimal256(..)) | Err(_)
    )
}

/// A boolean column anywhere but under IS [NOT] NULL (`flag IS NULL` is
/// T-SQL).
fn mentions_boolean_column(expr: &Expr, schema: &DFSchema) -> bool {
    let mut found = false;
    let _ = expr.apply(|e| {
        Ok(match e {
            Expr::IsNull(inner) | Expr::IsNotNull(inner)
                if matches!(inner.as_ref(), Expr::Column(_)) =>
            {
                TreeNodeRecursion::Jump
            }
            Expr::Column(_) if is_boolean(e, schema) => {
                found = true;
                TreeNodeRecursion::Stop
            }
            _ => TreeNodeRecursion::Continue,
        })
    });
    found
}
