//! Functions that build one value of a size the caller chooses, bounded by
//! `[limits] max_value_bytes` before anything is allocated.
//!
//! `repeat('x', 2e9)` grew the server to 9.5 GB and ignored cancel: the
//! value is built inside one call that neither the memory pool nor a
//! cancel can interrupt. PostgreSQL refuses such a value with 54000
//! ("requested length too large") at 1 GB; we refuse it at the configured
//! bound, reading the arguments before the built-in function runs.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, Int64Array};
use datafusion::arrow::compute::kernels::length::length;
use datafusion::arrow::compute::{cast, max};
use datafusion::arrow::datatypes::{DataType, FieldRef};
use datafusion::common::{DataFusionError, Result};
use datafusion::execution::FunctionRegistry;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl,
    Signature,
};
use datafusion::prelude::SessionContext;
use tributary_pgwire::{ClassifiedError, codes};

/// Replaces `repeat`, `lpad` and `rpad` with bounded versions.
pub fn register(context: &SessionContext, max_value_bytes: usize) {
    for (name, size) in [
        ("repeat", Size::LengthTimesCount),
        ("lpad", Size::Count),
        ("rpad", Size::Count),
    ] {
        if let Ok(inner) = context.udf(name) {
            context.register_udf(ScalarUDF::new_from_impl(Bounded {
                inner,
                size,
                limit: max_value_bytes,
            }));
        }
    }
}

/// How a call's result size follows from its arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Size {
    /// `repeat(text, n)`: the text's bytes times n.
    LengthTimesCount,
    /// `lpad(text, n [, fill])`: n characters.
    Count,
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Bounded {
    inner: Arc<ScalarUDF>,
    size: Size,
    limit: usize,
}

/// The argument as one i64 per row (`None` for NULL).
fn as_i64(value: &ColumnarValue, rows: usize) -> Result<Int64Array> {
    let array: ArrayRef = value.to_array(rows.max(1))?;
    let array = cast(&array, &DataType::Int64)?;
    Ok(array
        .as_any()
        .downcast_ref::<Int64Array>()
        .cloned()
        .unwrap_or_else(|| Int64Array::from(vec![None; array.len()])))
}

/// Byte lengths of a text argument, one per row.
fn byte_lengths(value: &ColumnarValue, rows: usize) -> Result<Int64Array> {
    let array = value.to_array(rows.max(1))?;
    let lengths = match array.data_type() {
        DataType::Utf8View => length(&cast(&array, &DataType::Utf8)?)?,
        _ => length(&array)?,
    };
    as_i64(&ColumnarValue::Array(lengths), rows)
}

impl Bounded {
    /// The largest value this call would build, in bytes (characters for
    /// the pads).
    fn largest(&self, args: &ScalarFunctionArgs) -> Result<i64> {
        let rows = args.number_rows;
        let Some(count) = args.args.get(1) else {
            return Ok(0);
        };
        // Scalars are read once, not spread over every row.
        let rows_to_read = if args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)))
        {
            1
        } else {
            rows
        };
        let counts = as_i64(count, rows_to_read)?;
        match self.size {
            Size::Count => Ok(max(&counts).unwrap_or(0)),
            Size::LengthTimesCount => {
                let Some(text) = args.args.first() else {
                    return Ok(0);
                };
                let lengths = byte_lengths(text, rows_to_read)?;
                Ok((0..counts.len().min(lengths.len()))
                    .filter(|&i| counts.is_valid(i) && lengths.is_valid(i))
                    .map(|i| counts.value(i).max(0).saturating_mul(lengths.value(i)))
                    .max()
                    .unwrap_or(0))
            }
        }
    }
}

impl ScalarUDFImpl for Bounded {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }

    fn signature(&self) -> &Signature {
        self.inner.signature()
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.inner.return_type(arg_types)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        self.inner.return_field_from_args(args)
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        self.inner.coerce_types(arg_types)
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.inner.documentation()
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let largest = self.largest(&args)?;
        if usize::try_from(largest).is_ok_and(|n| n > self.limit) {
            let unit = match self.size {
                Size::Count => "characters",
                Size::LengthTimesCount => "bytes",
            };
            return Err(DataFusionError::External(Box::new(ClassifiedError::new(
                codes::PROGRAM_LIMIT_EXCEEDED,
                format!(
                    "requested length too large: {}() would build a value of {largest} {unit}, \
                         over [limits] max_value_bytes ({} bytes)",
                    self.inner.name(),
                    self.limit
                ),
            ))));
        }
        self.inner.invoke_with_args(args)
    }
}
