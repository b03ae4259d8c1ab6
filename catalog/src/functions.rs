//! PostgreSQL catalog functions that clients call while browsing and that
//! datafusion-pg-catalog lacks. Tributary has no comments, sequences,
//! view definitions to report, so most of them answer
//! NULL, which is what PostgreSQL answers for an object without one.

use std::sync::Arc;
use std::time::SystemTime;

use datafusion::arrow::array::{
    Array, ArrayRef, Int32Array, ListArray, RecordBatch, StringArray, StructArray,
};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::{DataType, Field, Fields, Int32Type};
use datafusion::common::cast::{as_list_array, as_string_array};
use datafusion::common::{DataFusionError, Result, ScalarValue};
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

/// Registers the helpers the pg wire's client-SQL rewrites call, and
/// `json_build_object`.
pub(crate) fn register_rewrite_helpers(context: &SessionContext) {
    context.register_udf(ScalarUDF::new_from_impl(LikeEscape::default()));
    context.register_udf(ScalarUDF::new_from_impl(Subscripts::default()));
    context.register_udf(ScalarUDF::new_from_impl(ExpandArray::default()));
    context.register_udf(ScalarUDF::new_from_impl(JsonBuildObject::default()));
}

/// `tributary_like_escape(pattern, escape)`: a LIKE pattern written with
/// `escape` as its escape character, rewritten to use the backslash.
#[derive(Debug, PartialEq, Eq, Hash)]
struct LikeEscape {
    signature: Signature,
}

impl Default for LikeEscape {
    fn default() -> Self {
        Self {
            signature: Signature::exact(
                vec![DataType::Utf8, DataType::Utf8],
                Volatility::Immutable,
            ),
        }
    }
}

fn translate_like_pattern(pattern: &str, escape: char) -> String {
    let mut translated = String::with_capacity(pattern.len() + 4);
    let mut characters = pattern.chars();
    while let Some(c) = characters.next() {
        if c == escape {
            if let Some(escaped) = characters.next() {
                translated.push('\\');
                translated.push(escaped);
            }
        } else if c == '\\' {
            translated.push_str("\\\\");
        } else {
            translated.push(c);
        }
    }
    translated
}

impl ScalarUDFImpl for LikeEscape {
    fn name(&self) -> &str {
        "tributary_like_escape"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let patterns = as_string_array(&arrays[0])?;
        let escapes = as_string_array(&arrays[1])?;
        let translated: StringArray = patterns
            .iter()
            .zip(escapes.iter())
            .map(|(pattern, escape)| {
                let pattern = pattern?;
                match escape.and_then(|e| e.chars().next()) {
                    Some(escape) => Some(translate_like_pattern(pattern, escape)),
                    // ESCAPE '' turns escaping off.
                    None => Some(pattern.replace('\\', "\\\\")),
                }
            })
            .collect();
        let scalar = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        if scalar {
            return Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(
                &translated,
                0,
            )?));
        }
        Ok(ColumnarValue::Array(Arc::new(translated)))
    }
}

fn list_lengths(array: &ArrayRef) -> Result<Vec<Option<usize>>> {
    Ok(match array.data_type() {
        DataType::List(_) => as_list_array(array)?
            .iter()
            .map(|list| list.map(|l| l.len()))
            .collect(),
        DataType::Null => vec![None; array.len()],
        other => {
            return Err(DataFusionError::Plan(format!(
                "expected an array, got {other}"
            )));
        }
    })
}

/// `tributary_subscripts(array, dimension)`: `[1, …, cardinality]`, what
/// PostgreSQL's `generate_subscripts` yields row by row.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Subscripts {
    signature: Signature,
}

impl Default for Subscripts {
    fn default() -> Self {
        Self {
            signature: Signature::any(2, Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for Subscripts {
    fn name(&self) -> &str {
        "tributary_subscripts"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::new_list(DataType::Int32, true))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let lengths = list_lengths(&arrays[0])?;
        let lists = ListArray::from_iter_primitive::<Int32Type, _, _>(
            lengths
                .into_iter()
                .map(|length| length.map(|n| (1..=n as i32).map(Some).collect::<Vec<_>>())),
        );
        Ok(ColumnarValue::Array(Arc::new(lists)))
    }
}

/// `tributary_expand_array(array)`: `[{x: element, n: position}, …]`, what
/// `information_schema._pg_expandarray` yields row by row.
#[derive(Debug, PartialEq, Eq, Hash)]
struct ExpandArray {
    signature: Signature,
}

impl Default for ExpandArray {
    fn default() -> Self {
        Self {
            signature: Signature::any(1, Volatility::Immutable),
        }
    }
}

fn expanded_fields(element: &DataType) -> Fields {
    Fields::from(vec![
        Field::new("x", element.clone(), true),
        Field::new("n", DataType::Int32, false),
    ])
}

fn element_type(list: &DataType) -> DataType {
    match list {
        DataType::List(field) => field.data_type().clone(),
        _ => DataType::Int32,
    }
}

impl ScalarUDFImpl for ExpandArray {
    fn name(&self) -> &str {
        "tributary_expand_array"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, arguments: &[DataType]) -> Result<DataType> {
        let element = element_type(&arguments[0]);
        Ok(DataType::new_list(
            DataType::Struct(expanded_fields(&element)),
            true,
        ))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let input = &arrays[0];
        let element = element_type(input.data_type());
        let fields = expanded_fields(&element);
        let (values, offsets, nulls) = match input.data_type() {
            DataType::List(_) => {
                let lists = as_list_array(input)?;
                (
                    lists.values().clone(),
                    lists.offsets().clone(),
                    lists.nulls().cloned(),
                )
            }
            _ => (
                datafusion::arrow::array::new_empty_array(&element),
                OffsetBuffer::new_zeroed(input.len()),
                None,
            ),
        };
        // Positions restart at 1 in each list.
        let mut positions = Vec::with_capacity(values.len());
        for window in offsets.windows(2) {
            positions.extend(1..=(window[1] - window[0]));
        }
        let structs = StructArray::try_new(
            fields.clone(),
            vec![values, Arc::new(Int32Array::from(positions)) as ArrayRef],
            None,
        )?;
        let list = ListArray::try_new(
            Arc::new(Field::new_list_field(DataType::Struct(fields), true)),
            offsets,
            Arc::new(structs),
            nulls,
        )?;
        Ok(ColumnarValue::Array(Arc::new(list)))
    }
}

/// `json_build_object(key, value, …)` as JSON text.
#[derive(Debug, PartialEq, Eq, Hash)]
struct JsonBuildObject {
    signature: Signature,
}

impl Default for JsonBuildObject {
    fn default() -> Self {
        Self {
            signature: Signature::variadic_any(Volatility::Immutable),
        }
    }
}

fn json_value(value: &ScalarValue) -> String {
    if value.is_null() {
        return "null".to_owned();
    }
    match value {
        ScalarValue::Boolean(Some(b)) => b.to_string(),
        ScalarValue::Int8(_)
        | ScalarValue::Int16(_)
        | ScalarValue::Int32(_)
        | ScalarValue::Int64(_)
        | ScalarValue::UInt8(_)
        | ScalarValue::UInt16(_)
        | ScalarValue::UInt32(_)
        | ScalarValue::UInt64(_)
        | ScalarValue::Float32(_)
        | ScalarValue::Float64(_)
        | ScalarValue::Decimal128(..) => value.to_string(),
        other => json_string(&other.to_string()),
    }
}

fn json_string(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for c in text.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            '\n' => quoted.push_str("\\n"),
            '\r' => quoted.push_str("\\r"),
            '\t' => quoted.push_str("\\t"),
            c if (c as u32) < 0x20 => quoted.push_str(&format!("\\u{:04x}", c as u32)),
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

impl ScalarUDFImpl for JsonBuildObject {
    fn name(&self) -> &str {
        "json_build_object"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        if !args.args.len().is_multiple_of(2) {
            return Err(DataFusionError::Plan(
                "json_build_object takes an even number of arguments: key, value, …".to_owned(),
            ));
        }
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let mut objects = Vec::with_capacity(args.number_rows);
        for row in 0..args.number_rows {
            let mut members = Vec::with_capacity(arrays.len() / 2);
            for pair in arrays.chunks(2) {
                let key = ScalarValue::try_from_array(&pair[0], row)?;
                if key.is_null() {
                    return Err(DataFusionError::Plan(
                        "json_build_object: a key is NULL".to_owned(),
                    ));
                }
                let value = ScalarValue::try_from_array(&pair[1], row)?;
                members.push(format!(
                    "{} : {}",
                    json_string(&key.to_string()),
                    json_value(&value)
                ));
            }
            objects.push(Some(format!("{{{}}}", members.join(", "))));
        }
        Ok(ColumnarValue::Array(Arc::new(StringArray::from(objects))))
    }
}

/// `to_regtype(name)`: the oid of a type in the shipped `pg_type`, or NULL
/// (psycopg 3 looks types up by name on connect).
pub(crate) fn register_to_regtype(context: &SessionContext, pg_type: &[RecordBatch]) {
    let mut oids = std::collections::HashMap::new();
    for batch in pg_type {
        let (Some(names), Some(ids)) =
            (batch.column_by_name("typname"), batch.column_by_name("oid"))
        else {
            continue;
        };
        let (Ok(names), Ok(ids)) = (
            as_string_array(names),
            ids.as_any().downcast_ref::<Int32Array>().ok_or(()),
        ) else {
            continue;
        };
        for row in 0..batch.num_rows() {
            if names.is_valid(row) && ids.is_valid(row) {
                oids.insert(names.value(row).to_owned(), ids.value(row));
            }
        }
    }
    for (alias, name) in [
        ("integer", "int4"),
        ("int", "int4"),
        ("smallint", "int2"),
        ("bigint", "int8"),
        ("real", "float4"),
        ("double precision", "float8"),
        ("boolean", "bool"),
        ("character varying", "varchar"),
        ("character", "bpchar"),
        ("decimal", "numeric"),
        ("timestamp without time zone", "timestamp"),
        ("timestamp with time zone", "timestamptz"),
        ("time without time zone", "time"),
    ] {
        if let Some(oid) = oids.get(name).copied() {
            oids.insert(alias.to_owned(), oid);
        }
    }
    let oids = Arc::new(oids);
    context.register_udf(datafusion::prelude::create_udf(
        "to_regtype",
        vec![DataType::Utf8],
        DataType::Int32,
        Volatility::Stable,
        Arc::new(move |args: &[ColumnarValue]| {
            let names = ColumnarValue::values_to_arrays(args)?;
            let names = as_string_array(&names[0])?;
            let found: Int32Array = names
                .iter()
                .map(|name| {
                    let name = name?
                        .trim()
                        .trim_start_matches("pg_catalog.")
                        .to_ascii_lowercase();
                    oids.get(name.trim_matches('"')).copied()
                })
                .collect();
            if found.len() == 1 && args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_))) {
                return Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(
                    &found, 0,
                )?));
            }
            Ok(ColumnarValue::Array(Arc::new(found)))
        }),
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_move_to_backslash_escapes() {
        assert_eq!(translate_like_pattern("pg/_%", '/'), "pg\\_%");
        assert_eq!(translate_like_pattern("a\\b//c", '/'), "a\\\\b\\/c");
    }

    #[test]
    fn json_text_is_escaped() {
        assert_eq!(json_string("a\"b\n"), "\"a\\\"b\\n\"");
        assert_eq!(json_value(&ScalarValue::Int64(Some(3))), "3");
        assert_eq!(json_value(&ScalarValue::Utf8(None)), "null");
    }
}
