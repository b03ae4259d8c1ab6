//! PostgreSQL catalog functions that clients call while browsing and that
//! datafusion-pg-catalog lacks. Tributary has no comments, sequences,
//! views definitions or index definitions to report, so most of them answer
//! NULL, which is what PostgreSQL answers for an object without one.

use std::sync::Arc;
use std::time::SystemTime;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::prelude::SessionContext;

/// A function that answers the same value whatever its arguments, with
/// any number of them (PostgreSQL's overloads differ only in arity).
#[derive(Debug, PartialEq, Eq, Hash)]
struct Constant {
    name: &'static str,
    value: ScalarValue,
    signature: Signature,
}

fn constant(name: &'static str, value: ScalarValue, takes_arguments: bool) -> ScalarUDF {
    let signature = if takes_arguments {
        Signature::variadic_any(Volatility::Stable)
    } else {
        Signature::nullary(Volatility::Stable)
    };
    ScalarUDF::new_from_impl(Constant {
        name,
        value,
        signature,
    })
}

impl ScalarUDFImpl for Constant {
    fn name(&self) -> &str {
        self.name
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(self.value.data_type())
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        // Per row, so a call over a column yields a column of the same length.
        let rows = args.args.iter().find_map(|arg| match arg {
            ColumnarValue::Array(array) => Some(array.len()),
            ColumnarValue::Scalar(_) => None,
        });
        match rows {
            Some(rows) => Ok(ColumnarValue::Array(self.value.to_array_of_size(rows)?)),
            None => Ok(ColumnarValue::Scalar(self.value.clone())),
        }
    }
}

/// Registers the functions; `started` is when the server started.
pub(crate) fn register_catalog_functions(context: &SessionContext, started: SystemTime) {
    let null_text = || ScalarValue::Utf8(None);
    for name in [
        "obj_description",
        "col_description",
        "shobj_description",
        "pg_get_viewdef",
        "pg_get_indexdef",
        "pg_get_serial_sequence",
        "pg_get_triggerdef",
        "pg_get_functiondef",
        "pg_get_function_arguments",
        "pg_get_function_result",
        "pg_get_function_identity_arguments",
        "pg_get_ruledef",
        "inet_server_addr",
        "inet_client_addr",
    ] {
        context.register_udf(constant(name, null_text(), true));
    }
    // Every relation and function a client can see is visible: sources are
    // schemas, and browsing tools list them all.
    for name in [
        "pg_table_is_visible",
        "pg_function_is_visible",
        "pg_type_is_visible",
        "pg_collation_is_visible",
    ] {
        context.register_udf(constant(name, ScalarValue::Boolean(Some(true)), true));
    }
    context.register_udf(constant(
        "pg_is_in_recovery",
        ScalarValue::Boolean(Some(false)),
        false,
    ));
    let micros = started
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|since| since.as_micros() as i64)
        .unwrap_or_default();
    context.register_udf(constant(
        "pg_postmaster_start_time",
        ScalarValue::TimestampMicrosecond(Some(micros), Some(Arc::from("UTC"))),
        false,
    ));
}
