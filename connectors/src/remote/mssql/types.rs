//! SQL Server's types in Arrow: which Arrow type each column type becomes,
//! and how the values tiberius decodes are written into Arrow arrays.
//!
//! tiberius hands over raw values (days since 0001-01-01, 1/300 s ticks,
//! unscaled decimals); they are converted here exactly, without going
//! through text or chrono.

use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BinaryBuilder, BooleanBuilder, Date32Builder, Decimal128Builder, Float32Builder,
    Float64Builder, Int16Builder, Int32Builder, Int64Builder, StringBuilder,
    Time64NanosecondBuilder, TimestampMicrosecondBuilder,
};
use datafusion::arrow::datatypes::{DataType, SchemaRef, TimeUnit};
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::record_batch::RecordBatch;
use tiberius::ColumnData;
use tiberius::numeric::Numeric;
use tiberius::time::{Date, DateTime, DateTime2, SmallDateTime, Time};

/// The time zone of `datetimeoffset` values: instants, shown in UTC.
pub(crate) const UTC: &str = "+00:00";

/// Days from 0001-01-01 (SQL Server's `date` epoch) to 1970-01-01.
const DAYS_0001_TO_1970: i64 = 719_162;
/// Days from 1900-01-01 (the `datetime` epoch) to 1970-01-01.
const DAYS_1900_TO_1970: i64 = 25_567;
const MICROS_PER_DAY: i64 = 86_400_000_000;

/// The Arrow type of a column as `INFORMATION_SCHEMA.COLUMNS` describes it
/// (`DATA_TYPE`, `NUMERIC_PRECISION`, `NUMERIC_SCALE`); `None` for types
/// without a mapping (sql_variant, the CLR types), which are left out.
pub(crate) fn arrow_type(
    name: &str,
    precision: Option<u8>,
    scale: Option<i32>,
) -> Option<DataType> {
    Some(match name.to_ascii_lowercase().as_str() {
        // tinyint is 0..=255: it does not fit a signed byte.
        "tinyint" | "smallint" => DataType::Int16,
        "int" => DataType::Int32,
        "bigint" => DataType::Int64,
        "bit" => DataType::Boolean,
        "decimal" | "numeric" => {
            let precision = precision.unwrap_or(18).clamp(1, 38);
            let scale = scale.unwrap_or(0).clamp(0, i32::from(precision));
            DataType::Decimal128(precision, scale as i8)
        }
        "money" => DataType::Decimal128(19, 4),
        "smallmoney" => DataType::Decimal128(10, 4),
        // float(n) with n <= 24 is stored as real.
        "float" if precision.is_some_and(|p| p <= 24) => DataType::Float32,
        "float" => DataType::Float64,
        "real" => DataType::Float32,
        "date" => DataType::Date32,
        // time(7) counts 100 ns: microseconds would lose its last digit.
        "time" => DataType::Time64(TimeUnit::Nanosecond),
        // Microseconds, as PostgreSQL: nanoseconds in an i64 end in 2262,
        // and datetime2 reaches 9999.
        "datetime" | "datetime2" | "smalldatetime" => {
            DataType::Timestamp(TimeUnit::Microsecond, None)
        }
        "datetimeoffset" => DataType::Timestamp(TimeUnit::Microsecond, Some(Arc::from(UTC))),
        "char" | "varchar" | "text" | "nchar" | "nvarchar" | "ntext" | "sysname" | "xml"
        | "uniqueidentifier" => DataType::Utf8,
        "binary" | "varbinary" | "image" | "timestamp" | "rowversion" => DataType::Binary,
        _ => return None,
    })
}

/// Builds one Arrow column from SQL Server values.
enum ColumnBuilder {
    Boolean(BooleanBuilder),
    Int16(Int16Builder),
    Int32(Int32Builder),
    Int64(Int64Builder),
    Float32(Float32Builder),
    Float64(Float64Builder),
    Decimal(Decimal128Builder, i8),
    Utf8(StringBuilder),
    Binary(BinaryBuilder),
    Date(Date32Builder),
    Time(Time64NanosecondBuilder),
    Timestamp(TimestampMicrosecondBuilder),
}

/// A value that cannot be written as the column's type.
fn mismatch(value: &ColumnData<'_>, target: &DataType) -> ArrowError {
    ArrowError::CastError(format!(
        "cannot read the SQL Server value {} as {target}",
        kind_of(value)
    ))
}

fn kind_of(value: &ColumnData<'_>) -> &'static str {
    match value {
        ColumnData::U8(_) => "tinyint",
        ColumnData::I16(_) => "smallint",
        ColumnData::I32(_) => "int",
        ColumnData::I64(_) => "bigint",
        ColumnData::F32(_) => "real",
        ColumnData::F64(_) => "float",
        ColumnData::Bit(_) => "bit",
        ColumnData::String(_) => "string",
        ColumnData::Guid(_) => "uniqueidentifier",
        ColumnData::Binary(_) => "binary",
        ColumnData::Numeric(_) => "numeric",
        ColumnData::Xml(_) => "xml",
        ColumnData::DateTime(_) => "datetime",
        ColumnData::SmallDateTime(_) => "smalldatetime",
        ColumnData::Time(_) => "time",
        ColumnData::Date(_) => "date",
        ColumnData::DateTime2(_) => "datetime2",
        ColumnData::DateTimeOffset(_) => "datetimeoffset",
    }
}

fn is_null(value: &ColumnData<'_>) -> bool {
    match value {
        ColumnData::U8(v) => v.is_none(),
        ColumnData::I16(v) => v.is_none(),
        ColumnData::I32(v) => v.is_none(),
        ColumnData::I64(v) => v.is_none(),
        ColumnData::F32(v) => v.is_none(),
        ColumnData::F64(v) => v.is_none(),
        ColumnData::Bit(v) => v.is_none(),
        ColumnData::String(v) => v.is_none(),
        ColumnData::Guid(v) => v.is_none(),
        ColumnData::Binary(v) => v.is_none(),
        ColumnData::Numeric(v) => v.is_none(),
        ColumnData::Xml(v) => v.is_none(),
        ColumnData::DateTime(v) => v.is_none(),
        ColumnData::SmallDateTime(v) => v.is_none(),
        ColumnData::Time(v) => v.is_none(),
        ColumnData::Date(v) => v.is_none(),
        ColumnData::DateTime2(v) => v.is_none(),
        ColumnData::DateTimeOffset(v) => v.is_none(),
    }
}

/// Any integer value, as the widest integer.
fn integer(value: &ColumnData<'_>) -> Option<i64> {
    match value {
        ColumnData::U8(Some(v)) => Some(i64::from(*v)),
        ColumnData::I16(Some(v)) => Some(i64::from(*v)),
        ColumnData::I32(Some(v)) => Some(i64::from(*v)),
        ColumnData::I64(Some(v)) => Some(*v),
        ColumnData::Bit(Some(v)) => Some(i64::from(*v)),
        _ => None,
    }
}

/// A numeric value at `scale`, rounded half away from zero where it had
/// more digits (SQL Server's own rounding).
fn decimal_at(value: &ColumnData<'_>, scale: i8) -> Option<i128> {
    let (unscaled, from) = match value {
        ColumnData::Numeric(Some(n)) => (n.value(), i32::from(n.scale())),
        // money arrives as float; it has four decimals.
        ColumnData::F64(Some(f)) => {
            return Some((f * 10f64.powi(i32::from(scale))).round() as i128);
        }
        ColumnData::F32(Some(f)) => {
            return Some((f64::from(*f) * 10f64.powi(i32::from(scale))).round() as i128);
        }
        other => (i128::from(integer(other)?), 0),
    };
    let to = i32::from(scale);
    if from <= to {
        unscaled.checked_mul(10i128.checked_pow((to - from) as u32)?)
    } else {
        let divisor = 10i128.checked_pow((from - to) as u32)?;
        let (quotient, remainder) = (unscaled / divisor, unscaled % divisor);
        Some(if remainder.abs() * 2 >= divisor {
            quotient + unscaled.signum()
        } else {
            quotient
        })
    }
}

pub(crate) fn date_days(date: Date) -> i32 {
    (i64::from(date.days()) - DAYS_0001_TO_1970) as i32
}

/// Nanoseconds since midnight.
pub(crate) fn time_nanos(time: Time) -> i64 {
    let increments = time.increments() as i64;
    increments * 10i64.pow(9 - u32::from(time.scale().min(9)))
}

/// `datetime` ticks are 1/300 s; SQL Server shows them rounded to the
/// millisecond (.000, .003, .007), and so do we.
pub(crate) fn datetime_micros(value: DateTime) -> i64 {
    let millis = (i64::from(value.seconds_fragments()) * 10 + 1) / 3;
    (i64::from(value.days()) - DAYS_1900_TO_1970) * MICROS_PER_DAY + millis * 1_000
}

pub(crate) fn smalldatetime_micros(value: SmallDateTime) -> i64 {
    (i64::from(value.days()) - DAYS_1900_TO_1970) * MICROS_PER_DAY
        + i64::from(value.seconds_fragments()) * 60_000_000
}

/// datetime2's 100 ns (at scale 7) are cut to microseconds.
pub(crate) fn datetime2_micros(value: DateTime2) -> i64 {
    i64::from(date_days(value.date())) * MICROS_PER_DAY + time_nanos(value.time()) / 1_000
}

impl ColumnBuilder {
    fn new(data_type: &DataType, capacity: usize) -> Result<Self, ArrowError> {
        Ok(match data_type {
            DataType::Boolean => Self::Boolean(BooleanBuilder::with_capacity(capacity)),
            DataType::Int16 => Self::Int16(Int16Builder::with_capacity(capacity)),
            DataType::Int32 => Self::Int32(Int32Builder::with_capacity(capacity)),
            DataType::Int64 => Self::Int64(Int64Builder::with_capacity(capacity)),
            DataType::Float32 => Self::Float32(Float32Builder::with_capacity(capacity)),
            DataType::Float64 => Self::Float64(Float64Builder::with_capacity(capacity)),
            DataType::Decimal128(precision, scale) => Self::Decimal(
                Decimal128Builder::with_capacity(capacity)
                    .with_precision_and_scale(*precision, *scale)?,
                *scale,
            ),
            DataType::Utf8 => Self::Utf8(StringBuilder::with_capacity(capacity, capacity * 16)),
            DataType::Binary => Self::Binary(BinaryBuilder::with_capacity(capacity, capacity * 16)),
            DataType::Date32 => Self::Date(Date32Builder::with_capacity(capacity)),
            DataType::Time64(TimeUnit::Nanosecond) => {
                Self::Time(Time64NanosecondBuilder::with_capacity(capacity))
            }
            DataType::Timestamp(TimeUnit::Microsecond, tz) => Self::Timestamp(
                TimestampMicrosecondBuilder::with_capacity(capacity).with_timezone_opt(tz.clone()),
            ),
            other => {
                return Err(ArrowError::NotYetImplemented(format!(
                    "SQL Server values cannot be read as {other}"
                )));
            }
        })
    }

    fn append(&mut self, value: &ColumnData<'_>, target: &DataType) -> Result<(), ArrowError> {
        if is_null(value) {
            self.append_null();
            return Ok(());
        }
        let wrong = || mismatch(value, target);
        match self {
            Self::Boolean(b) => match value {
                ColumnData::Bit(Some(v)) => b.append_value(*v),
                other => b.append_value(integer(other).ok_or_else(wrong)? != 0),
            },
            Self::Int16(b) => {
                let v = integer(value).ok_or_else(wrong)?;
                b.append_value(i16::try_from(v).map_err(|_| wrong())?);
            }
            Self::Int32(b) => {
                let v = integer(value).ok_or_else(wrong)?;
                b.append_value(i32::try_from(v).map_err(|_| wrong())?);
            }
            Self::Int64(b) => match value {
                // count_big, or a bigint computed as numeric(19, 0).
                ColumnData::Numeric(Some(n)) if n.scale() == 0 => {
                    b.append_value(i64::try_from(n.value()).map_err(|_| wrong())?)
                }
                other => b.append_value(integer(other).ok_or_else(wrong)?),
            },
            Self::Float32(b) => match value {
                ColumnData::F32(Some(v)) => b.append_value(*v),
                ColumnData::F64(Some(v)) => b.append_value(*v as f32),
                other => b.append_value(integer(other).ok_or_else(wrong)? as f32),
            },
            Self::Float64(b) => match value {
                ColumnData::F64(Some(v)) => b.append_value(*v),
                ColumnData::F32(Some(v)) => b.append_value(f64::from(*v)),
                ColumnData::Numeric(Some(n)) => b.append_value(numeric_f64(*n)),
                other => b.append_value(integer(other).ok_or_else(wrong)? as f64),
            },
            Self::Decimal(b, scale) => b.append_value(decimal_at(value, *scale).ok_or_else(wrong)?),
            Self::Utf8(b) => match value {
                ColumnData::String(Some(s)) => b.append_value(s),
                ColumnData::Guid(Some(g)) => b.append_value(g.to_string()),
                ColumnData::Xml(Some(x)) => b.append_value(x.as_ref()),
                _ => return Err(wrong()),
            },
            Self::Binary(b) => match value {
                ColumnData::Binary(Some(bytes)) => b.append_value(bytes),
                _ => return Err(wrong()),
            },
            Self::Date(b) => match value {
                ColumnData::Date(Some(d)) => b.append_value(date_days(*d)),
                _ => return Err(wrong()),
            },
            Self::Time(b) => match value {
                ColumnData::Time(Some(t)) => b.append_value(time_nanos(*t)),
                _ => return Err(wrong()),
            },
            Self::Timestamp(b) => b.append_value(match value {
                ColumnData::DateTime(Some(v)) => datetime_micros(*v),
                ColumnData::SmallDateTime(Some(v)) => smalldatetime_micros(*v),
                ColumnData::DateTime2(Some(v)) => datetime2_micros(*v),
                // The date and time of a datetimeoffset are UTC already.
                ColumnData::DateTimeOffset(Some(v)) => datetime2_micros(v.datetime2()),
                ColumnData::Date(Some(d)) => i64::from(date_days(*d)) * MICROS_PER_DAY,
                _ => return Err(wrong()),
            }),
        }
        Ok(())
    }

    fn append_null(&mut self) {
        match self {
            Self::Boolean(b) => b.append_null(),
            Self::Int16(b) => b.append_null(),
            Self::Int32(b) => b.append_null(),
            Self::Int64(b) => b.append_null(),
            Self::Float32(b) => b.append_null(),
            Self::Float64(b) => b.append_null(),
            Self::Decimal(b, _) => b.append_null(),
            Self::Utf8(b) => b.append_null(),
            Self::Binary(b) => b.append_null(),
            Self::Date(b) => b.append_null(),
            Self::Time(b) => b.append_null(),
            Self::Timestamp(b) => b.append_null(),
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            Self::Boolean(b) => Arc::new(b.finish()),
            Self::Int16(b) => Arc::new(b.finish()),
            Self::Int32(b) => Arc::new(b.finish()),
            Self::Int64(b) => Arc::new(b.finish()),
            Self::Float32(b) => Arc::new(b.finish()),
            Self::Float64(b) => Arc::new(b.finish()),
            Self::Decimal(b, _) => Arc::new(b.finish()),
            Self::Utf8(b) => Arc::new(b.finish()),
            Self::Binary(b) => Arc::new(b.finish()),
            Self::Date(b) => Arc::new(b.finish()),
            Self::Time(b) => Arc::new(b.finish()),
            Self::Timestamp(b) => Arc::new(b.finish()),
        }
    }
}

fn numeric_f64(n: Numeric) -> f64 {
    n.value() as f64 / 10f64.powi(i32::from(n.scale()))
}

/// Rows of one result set into batches of the expected schema, column by
/// position (SQL Server names computed columns `''`).
pub(crate) struct BatchBuilder {
    schema: SchemaRef,
    columns: Vec<ColumnBuilder>,
    rows: usize,
}

impl BatchBuilder {
    pub fn new(schema: SchemaRef, capacity: usize) -> Result<Self, ArrowError> {
        let columns = schema
            .fields()
            .iter()
            .map(|f| ColumnBuilder::new(f.data_type(), capacity))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            schema,
            columns,
            rows: 0,
        })
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    /// One row's values, in column order.
    pub fn push<'a>(
        &mut self,
        values: impl IntoIterator<Item = ColumnData<'a>>,
    ) -> Result<(), ArrowError> {
        let mut count = 0;
        for (i, value) in values.into_iter().enumerate() {
            let (Some(column), Some(field)) =
                (self.columns.get_mut(i), self.schema.fields().get(i))
            else {
                return Err(self.width_error());
            };
            column
                .append(&value, field.data_type())
                .map_err(|e| ArrowError::CastError(format!("column \"{}\": {e}", field.name())))?;
            count += 1;
        }
        if count != self.columns.len() {
            return Err(self.width_error());
        }
        self.rows += 1;
        Ok(())
    }

    fn width_error(&self) -> ArrowError {
        ArrowError::SchemaError(format!(
            "SQL Server returned a row that does not have the {} columns expected",
            self.columns.len()
        ))
    }

    /// The rows so far as a batch; the builder starts again empty.
    pub fn finish(&mut self) -> Result<RecordBatch, ArrowError> {
        let arrays: Vec<ArrayRef> = self.columns.iter_mut().map(ColumnBuilder::finish).collect();
        self.rows = 0;
        RecordBatch::try_new(Arc::clone(&self.schema), arrays)
    }
}
