//! What only Oracle needs refused, on top of the rules of collated
//! databases and the lists in `remote::pushdown` (functions: abs, coalesce,
//! nullif; aggregates: count, sum, min, max; no window functions).

use datafusion::arrow::datatypes::DataType;
use datafusion::common::{DFSchema, ScalarValue};
use datafusion::logical_expr::{BinaryExpr, Expr, ExprSchemable, LogicalPlan, Operator};

/// What only Oracle needs refused, beyond the rules of collated databases
/// (`remote::pushdown`) and the boolean rules it shares with SQL Server
/// (no boolean values before 23ai).
pub(crate) fn allows_node(node: &LogicalPlan, schema: &DFSchema) -> bool {
    crate::remote::mssql::policy::allows_node(node, schema)
}

/// One expression node, its children aside.
pub(crate) fn allows_expr(expr: &Expr, schema: &DFSchema) -> bool {
    match expr {
        // '' is NULL in Oracle; dates and timestamps are read through the
        // session's NLS formats; no boolean literals before 23ai.
        Expr::Literal(value, _) => match value {
            ScalarValue::Utf8(Some(s)) | ScalarValue::LargeUtf8(Some(s)) => !s.is_empty(),
            other => matches!(
                other.data_type(),
                DataType::Int8
                    | DataType::Int16
                    | DataType::Int32
                    | DataType::Int64
                    | DataType::Float64
                    | DataType::Decimal128(..)
                    | DataType::Utf8
                    | DataType::LargeUtf8
            ),
        },
        // NUMBER divides exactly (7 / 2 = 3.5); `%` is MOD().
        Expr::BinaryExpr(BinaryExpr { op, .. }) => {
            !matches!(op, Operator::Divide | Operator::Modulo)
        }
        Expr::Cast(cast) => matches!(
            (cast.expr.get_type(schema), cast.field.data_type()),
            (
                Ok(DataType::Int16 | DataType::Int32 | DataType::Int64 | DataType::Decimal128(..)),
                DataType::Int64 | DataType::Decimal128(..) | DataType::Float64
            )
        ),
        Expr::IsTrue(_)
        | Expr::IsFalse(_)
        | Expr::IsNotTrue(_)
        | Expr::IsNotFalse(_)
        | Expr::IsUnknown(_)
        | Expr::IsNotUnknown(_) => false,
        _ => true,
    }
}
