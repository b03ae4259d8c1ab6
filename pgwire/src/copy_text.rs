//! `COPY … TO STDOUT` in text format, a batch at a time.
//!
//! The general encoder (arrow-pg into pgwire's CopyEncoder) works a value
//! at a time: an array downcast, a fresh buffer and, for dates and
//! timestamps, a strftime pattern parsed again, for every value. Profiling
//! a 2 M-row extraction put three quarters of the gateway's time there
//! (allocation, chrono's formatting). Here each column is downcast once per
//! batch, values are written into one buffer per batch, and the rows are
//! split off it without copying. The text is byte for byte what the general
//! encoder writes (a unit test compares them); a batch with a column type
//! not handled here goes to the general encoder whole.

use bytes::{BufMut, Bytes, BytesMut};
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Decimal128Array, GenericStringArray, PrimitiveArray,
    RecordBatch, StringViewArray,
};
use datafusion::arrow::datatypes::{
    ArrowPrimitiveType, DataType, Date32Type, Float32Type, Float64Type, Int8Type, Int16Type,
    Int32Type, Int64Type, TimeUnit, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType, UInt8Type, UInt16Type, UInt32Type,
};
use datafusion::arrow::temporal_conversions::as_datetime;
use datafusion_postgres::pgwire::api::Type;
use datafusion_postgres::pgwire::types::ToSqlText;
use datafusion_postgres::pgwire::types::format::FormatOptions;
use std::fmt::Write as _;

/// One column, downcast once.
enum Column<'a> {
    Int8(&'a PrimitiveArray<Int8Type>),
    Int16(&'a PrimitiveArray<Int16Type>),
    Int32(&'a PrimitiveArray<Int32Type>),
    Int64(&'a PrimitiveArray<Int64Type>),
    UInt8(&'a PrimitiveArray<UInt8Type>),
    UInt16(&'a PrimitiveArray<UInt16Type>),
    UInt32(&'a PrimitiveArray<UInt32Type>),
    Float32(&'a PrimitiveArray<Float32Type>),
    Float64(&'a PrimitiveArray<Float64Type>),
    Boolean(&'a BooleanArray),
    Utf8(&'a GenericStringArray<i32>),
    LargeUtf8(&'a GenericStringArray<i64>),
    Utf8View(&'a StringViewArray),
    Date32(&'a PrimitiveArray<Date32Type>),
    TimestampSecond(&'a PrimitiveArray<TimestampSecondType>),
    TimestampMillisecond(&'a PrimitiveArray<TimestampMillisecondType>),
    TimestampMicrosecond(&'a PrimitiveArray<TimestampMicrosecondType>),
    TimestampNanosecond(&'a PrimitiveArray<TimestampNanosecondType>),
    Decimal128(&'a Decimal128Array, u32),
}

impl<'a> Column<'a> {
    fn of(array: &'a ArrayRef) -> Option<Self> {
        Some(match array.data_type() {
            DataType::Int8 => Self::Int8(array.as_primitive()),
            DataType::Int16 => Self::Int16(array.as_primitive()),
            DataType::Int32 => Self::Int32(array.as_primitive()),
            DataType::Int64 => Self::Int64(array.as_primitive()),
            DataType::UInt8 => Self::UInt8(array.as_primitive()),
            DataType::UInt16 => Self::UInt16(array.as_primitive()),
            DataType::UInt32 => Self::UInt32(array.as_primitive()),
            DataType::Float32 => Self::Float32(array.as_primitive()),
            DataType::Float64 => Self::Float64(array.as_primitive()),
            DataType::Boolean => Self::Boolean(array.as_boolean()),
            DataType::Utf8 => Self::Utf8(array.as_string()),
            DataType::LargeUtf8 => Self::LargeUtf8(array.as_string()),
            DataType::Utf8View => Self::Utf8View(array.as_string_view()),
            DataType::Date32 => Self::Date32(array.as_primitive()),
            DataType::Timestamp(unit, None) => match unit {
                TimeUnit::Second => Self::TimestampSecond(array.as_primitive()),
                TimeUnit::Millisecond => Self::TimestampMillisecond(array.as_primitive()),
                TimeUnit::Microsecond => Self::TimestampMicrosecond(array.as_primitive()),
                TimeUnit::Nanosecond => Self::TimestampNanosecond(array.as_primitive()),
            },
            // rust_decimal, which the general encoder goes through, holds
            // at most 28 digits of scale.
            DataType::Decimal128(_, scale) if (0..=28).contains(scale) => {
                Self::Decimal128(array.as_primitive(), u32::try_from(*scale).ok()?)
            }
            _ => return None,
        })
    }

    /// Writes the value's text, unescaped, into `out`. False when this
    /// value has no text here (the general encoder decides).
    fn write(
        &self,
        row: usize,
        out: &mut String,
        scratch: &mut BytesMut,
        options: &FormatOptions,
    ) -> bool {
        match self {
            Self::Int8(a) => write_display(out, a.value(row)),
            Self::Int16(a) => write_display(out, a.value(row)),
            Self::Int32(a) => write_display(out, a.value(row)),
            Self::Int64(a) => write_display(out, a.value(row)),
            Self::UInt8(a) => write_display(out, a.value(row)),
            Self::UInt16(a) => write_display(out, a.value(row)),
            Self::UInt32(a) => write_display(out, a.value(row)),
            Self::Float32(a) => write_float(out, scratch, &a.value(row), &Type::FLOAT4, options),
            Self::Float64(a) => write_float(out, scratch, &a.value(row), &Type::FLOAT8, options),
            Self::Boolean(a) => {
                out.push(if a.value(row) { 't' } else { 'f' });
                true
            }
            Self::Utf8(a) => push(out, a.value(row)),
            Self::LargeUtf8(a) => push(out, a.value(row)),
            Self::Utf8View(a) => push(out, a.value(row)),
            Self::Date32(a) => match a.value_as_date(row) {
                Some(date) => write_date(out, date),
                None => false,
            },
            Self::TimestampSecond(a) => write_timestamp::<TimestampSecondType>(out, a, row),
            Self::TimestampMillisecond(a) => {
                write_timestamp::<TimestampMillisecondType>(out, a, row)
            }
            Self::TimestampMicrosecond(a) => {
                write_timestamp::<TimestampMicrosecondType>(out, a, row)
            }
            Self::TimestampNanosecond(a) => write_timestamp::<TimestampNanosecondType>(out, a, row),
            Self::Decimal128(a, scale) => write_decimal(out, a.value(row), *scale),
        }
    }
}

fn write_display(out: &mut String, value: impl std::fmt::Display) -> bool {
    write!(out, "{value}").is_ok()
}

fn push(out: &mut String, text: &str) -> bool {
    out.push_str(text);
    true
}

/// Floats through pgwire's own text (extra_float_digits, NaN, Infinity),
/// into a buffer reused across values.
fn write_float<T: ToSqlText>(
    out: &mut String,
    scratch: &mut BytesMut,
    value: &T,
    ty: &Type,
    options: &FormatOptions,
) -> bool {
    scratch.clear();
    if value.to_sql_text(ty, scratch, options).is_err() {
        return false;
    }
    match std::str::from_utf8(scratch) {
        Ok(text) => push(out, text),
        Err(_) => false,
    }
}

/// ISO `YYYY-MM-DD`, as chrono's `%Y-%m-%d` writes years 0 to 9999.
fn write_date(out: &mut String, date: chrono::NaiveDate) -> bool {
    use chrono::Datelike;
    if !(0..=9999).contains(&date.year()) {
        return false;
    }
    write!(
        out,
        "{:04}-{:02}-{:02}",
        date.year(),
        date.month(),
        date.day()
    )
    .is_ok()
}

/// `YYYY-MM-DD HH:MM:SS.ffffff`, as chrono's `%Y-%m-%d %H:%M:%S%.6f`.
fn write_timestamp<T: ArrowPrimitiveType<Native = i64>>(
    out: &mut String,
    array: &PrimitiveArray<T>,
    row: usize,
) -> bool {
    use chrono::Timelike;
    let Some(at) = as_datetime::<T>(array.value(row)) else {
        return false;
    };
    let nanos = at.nanosecond();
    if nanos >= 1_000_000_000 || !write_date(out, at.date()) {
        return false;
    }
    write!(
        out,
        " {:02}:{:02}:{:02}.{:06}",
        at.hour(),
        at.minute(),
        at.second(),
        nanos / 1000
    )
    .is_ok()
}

/// `unscaled / 10^scale` with exactly `scale` digits after the point, as
/// rust_decimal prints it (which holds 96 bits: larger values are left to
/// the general encoder, which reports them).
fn write_decimal(out: &mut String, unscaled: i128, scale: u32) -> bool {
    let magnitude = unscaled.unsigned_abs();
    if magnitude >= 1 << 96 {
        return false;
    }
    let digits = magnitude.to_string();
    let scale = scale as usize;
    if unscaled < 0 {
        out.push('-');
    }
    if scale == 0 {
        out.push_str(&digits);
        return true;
    }
    if digits.len() <= scale {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', scale - digits.len()));
        out.push_str(&digits);
    } else {
        let (whole, fraction) = digits.split_at(digits.len() - scale);
        out.push_str(whole);
        out.push('.');
        out.push_str(fraction);
    }
    true
}

/// The rows of `batch` as COPY text, one `Bytes` per row (its newline
/// included), or `None` when the general encoder must do it.
pub(crate) fn encode_rows(batch: &RecordBatch, delimiter: u8, null: &[u8]) -> Option<Vec<Bytes>> {
    // Each column with its array, whose validity says which values are NULL.
    let columns = batch
        .columns()
        .iter()
        .map(|array| Column::of(array).map(|column| (array, column)))
        .collect::<Option<Vec<_>>>()?;
    let options = FormatOptions::default();
    let mut buffer = BytesMut::with_capacity(batch.get_array_memory_size().max(1024));
    let mut value = String::new();
    let mut scratch = BytesMut::new();
    let mut ends = Vec::with_capacity(batch.num_rows());
    for row in 0..batch.num_rows() {
        for (index, (array, column)) in columns.iter().enumerate() {
            if index > 0 {
                buffer.put_u8(delimiter);
            }
            if array.is_null(row) {
                buffer.put_slice(null);
                continue;
            }
            value.clear();
            if !column.write(row, &mut value, &mut scratch, &options) {
                return None;
            }
            escape_into(&mut buffer, value.as_bytes(), delimiter);
        }
        buffer.put_u8(b'\n');
        ends.push(buffer.len());
    }
    let mut all = buffer.freeze();
    let mut rows = Vec::with_capacity(ends.len());
    let mut start = 0;
    for end in ends {
        rows.push(all.split_to(end - start));
        start = end;
    }
    Some(rows)
}

/// COPY text escapes: backslash, newline, carriage return, tab and the
/// delimiter are written with a backslash.
fn escape_into(buffer: &mut BytesMut, text: &[u8], delimiter: u8) {
    let special = |b: u8| matches!(b, b'\n' | b'\r' | b'\t' | b'\\') || b == delimiter;
    if !text.iter().any(|&b| special(b)) {
        buffer.put_slice(text);
        return;
    }
    for &byte in text {
        match byte {
            b'\n' => buffer.put_slice(b"\\n"),
            b'\r' => buffer.put_slice(b"\\r"),
            b'\t' => buffer.put_slice(b"\\t"),
            b'\\' => buffer.put_slice(b"\\\\"),
            b if b == delimiter => {
                buffer.put_u8(b'\\');
                buffer.put_u8(b);
            }
            b => buffer.put_u8(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{
        BooleanArray, Date32Array, Decimal128Array, Float32Array, Float64Array, Int8Array,
        Int16Array, Int32Array, Int64Array, LargeStringArray, StringArray, StringViewArray,
        TimestampMicrosecondArray, TimestampMillisecondArray, TimestampNanosecondArray,
        TimestampSecondArray, UInt8Array, UInt16Array, UInt32Array,
    };
    use datafusion::arrow::datatypes::{Field, Schema};
    use datafusion_postgres::arrow_pg::datatypes::arrow_schema_to_pg_fields;
    use datafusion_postgres::arrow_pg::encoder::encode_value;
    use datafusion_postgres::pgwire::api::portal::Format;
    use datafusion_postgres::pgwire::api::results::{CopyEncoder, CopyTextOptions};

    use super::*;

    /// What the general, value-at-a-time encoder writes.
    fn general(batch: &RecordBatch, delimiter: &str, null: &str) -> Vec<u8> {
        let fields = Arc::new(
            arrow_schema_to_pg_fields(&batch.schema(), &Format::UnifiedText, None)
                .expect("pg fields"),
        );
        let options = CopyTextOptions {
            delimiter: delimiter.into(),
            null_string: null.into(),
        };
        let mut encoder = CopyEncoder::new_text(fields.clone(), options);
        let mut out = Vec::new();
        for row in 0..batch.num_rows() {
            for (column, field) in fields.iter().enumerate() {
                encode_value(
                    &mut encoder,
                    batch.column(column),
                    row,
                    batch.schema().field(column),
                    field,
                )
                .expect("encode");
            }
            out.extend_from_slice(&encoder.take_copy().data);
        }
        out
    }

    fn fast(batch: &RecordBatch, delimiter: u8, null: &[u8]) -> Vec<u8> {
        encode_rows(batch, delimiter, null)
            .expect("every column is handled")
            .concat()
    }

    fn sample() -> RecordBatch {
        let text = [
            Some("plain"),
            Some("tab\there, new\nline\r and \\ back|bar"),
            None,
            Some(""),
            Some("ünïcödé ✓"),
        ];
        let columns: Vec<(&str, ArrayRef)> = vec![
            (
                "i8",
                Arc::new(Int8Array::from(vec![
                    Some(-128),
                    Some(0),
                    None,
                    Some(7),
                    Some(127),
                ])),
            ),
            (
                "i16",
                Arc::new(Int16Array::from(vec![
                    Some(-32768),
                    Some(1),
                    None,
                    Some(2),
                    Some(3),
                ])),
            ),
            (
                "i32",
                Arc::new(Int32Array::from(vec![
                    Some(i32::MIN),
                    Some(0),
                    None,
                    Some(42),
                    Some(i32::MAX),
                ])),
            ),
            (
                "i64",
                Arc::new(Int64Array::from(vec![
                    Some(i64::MIN),
                    Some(-1),
                    None,
                    Some(0),
                    Some(i64::MAX),
                ])),
            ),
            (
                "u8",
                Arc::new(UInt8Array::from(vec![
                    Some(0),
                    Some(255),
                    None,
                    Some(1),
                    Some(2),
                ])),
            ),
            (
                "u16",
                Arc::new(UInt16Array::from(vec![
                    Some(0),
                    Some(65535),
                    None,
                    Some(1),
                    Some(2),
                ])),
            ),
            (
                "u32",
                Arc::new(UInt32Array::from(vec![
                    Some(0),
                    Some(u32::MAX),
                    None,
                    Some(1),
                    Some(2),
                ])),
            ),
            (
                "f32",
                Arc::new(Float32Array::from(vec![
                    Some(0.1),
                    Some(f32::NAN),
                    None,
                    Some(f32::INFINITY),
                    Some(-1.5e-7),
                ])),
            ),
            (
                "f64",
                Arc::new(Float64Array::from(vec![
                    Some(1.0 / 7.0),
                    Some(f64::NEG_INFINITY),
                    None,
                    Some(1e300),
                    Some(-0.0),
                ])),
            ),
            (
                "b",
                Arc::new(BooleanArray::from(vec![
                    Some(true),
                    Some(false),
                    None,
                    Some(true),
                    Some(false),
                ])),
            ),
            ("s", Arc::new(StringArray::from(text.to_vec()))),
            ("ls", Arc::new(LargeStringArray::from(text.to_vec()))),
            ("sv", Arc::new(StringViewArray::from(text.to_vec()))),
            (
                "d",
                Arc::new(Date32Array::from(vec![
                    Some(0),
                    Some(-719_162),
                    None,
                    Some(10_957),
                    Some(2_932_896),
                ])),
            ),
            (
                "ts_s",
                Arc::new(TimestampSecondArray::from(vec![
                    Some(0),
                    Some(-86_401),
                    None,
                    Some(1_700_000_000),
                    Some(253_402_300_799),
                ])),
            ),
            (
                "ts_ms",
                Arc::new(TimestampMillisecondArray::from(vec![
                    Some(1),
                    Some(-1),
                    None,
                    Some(1_700_000_000_123),
                    Some(0),
                ])),
            ),
            (
                "ts_us",
                Arc::new(TimestampMicrosecondArray::from(vec![
                    Some(1),
                    Some(-1),
                    None,
                    Some(1_577_836_860_000_000),
                    Some(123_456),
                ])),
            ),
            (
                "ts_ns",
                Arc::new(TimestampNanosecondArray::from(vec![
                    Some(1),
                    Some(-1_000),
                    None,
                    Some(1_700_000_000_123_456_789),
                    Some(999),
                ])),
            ),
            (
                "dec",
                Arc::new(
                    Decimal128Array::from(vec![
                        Some(7919),
                        Some(-5),
                        None,
                        Some(0),
                        Some(123_456_789_012),
                    ])
                    .with_precision_and_scale(38, 2)
                    .expect("decimal"),
                ),
            ),
            (
                "dec20",
                Arc::new(
                    Decimal128Array::from(vec![
                        Some(1),
                        Some(-7_919_000_000_000_000_000_000),
                        None,
                        Some(0),
                        Some(10),
                    ])
                    .with_precision_and_scale(38, 20)
                    .expect("decimal"),
                ),
            ),
            (
                "dec0",
                Arc::new(
                    Decimal128Array::from(vec![Some(1), Some(-12), None, Some(0), Some(99_999)])
                        .with_precision_and_scale(10, 0)
                        .expect("decimal"),
                ),
            ),
        ];
        let schema = Schema::new(
            columns
                .iter()
                .map(|(name, array)| Field::new(*name, array.data_type().clone(), true))
                .collect::<Vec<_>>(),
        );
        RecordBatch::try_new(
            Arc::new(schema),
            columns.into_iter().map(|(_, array)| array).collect(),
        )
        .expect("batch")
    }

    #[test]
    fn batch_text_is_byte_for_byte_the_general_encoders() {
        let batch = sample();
        let text = fast(&batch, b'\t', b"\\N");
        assert!(
            String::from_utf8_lossy(&text).contains("0001-01-01\t1969-12-30 23:59:59.000000"),
            "{}",
            String::from_utf8_lossy(&text)
        );
        assert_eq!(
            String::from_utf8_lossy(&fast(&batch, b'\t', b"\\N")),
            String::from_utf8_lossy(&general(&batch, "\t", "\\N"))
        );
        assert_eq!(
            String::from_utf8_lossy(&fast(&batch, b'|', b"")),
            String::from_utf8_lossy(&general(&batch, "|", "")),
            "another delimiter and NULL string"
        );
    }

    #[test]
    fn unknown_types_and_out_of_range_values_go_to_the_general_encoder() {
        let binary: ArrayRef = Arc::new(datafusion::arrow::array::BinaryArray::from(vec![
            b"x".as_ref(),
        ]));
        let batch = RecordBatch::try_from_iter(vec![("b", binary)]).expect("batch");
        assert!(encode_rows(&batch, b'\t', b"\\N").is_none());
        let huge: ArrayRef = Arc::new(
            Decimal128Array::from(vec![Some(i128::MAX)])
                .with_precision_and_scale(38, 0)
                .expect("decimal"),
        );
        let batch = RecordBatch::try_from_iter(vec![("d", huge)]).expect("batch");
        assert!(encode_rows(&batch, b'\t', b"\\N").is_none());
    }
}
