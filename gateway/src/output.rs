//! Result output for `tributary query`: an aligned table for people, and
//! CSV, JSON, NDJSON, Arrow IPC and Parquet for programs.

use std::io::Write;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::ipc::writer::StreamWriter;
use datafusion::arrow::json::{ArrayWriter, LineDelimitedWriter};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::parquet::arrow::ArrowWriter;

use crate::cli::OutputFormat;

pub type Sink = Box<dyn Write + Send>;

/// Writes one statement's result in the chosen format, batch by batch
/// (the table format alone waits for all rows, to align the columns).
pub enum ResultWriter {
    Table {
        out: Sink,
        schema: SchemaRef,
        batches: Vec<RecordBatch>,
    },
    Csv(datafusion::arrow::csv::Writer<Sink>),
    Json(ArrayWriter<Sink>),
    Ndjson(LineDelimitedWriter<Sink>),
    Arrow(StreamWriter<Sink>),
    Parquet(ArrowWriter<Sink>),
}

impl ResultWriter {
    pub fn new(format: OutputFormat, out: Sink, schema: SchemaRef) -> Result<Self, ArrowError> {
        Ok(match format {
            OutputFormat::Table => Self::Table {
                out,
                schema,
                batches: Vec::new(),
            },
            OutputFormat::Csv => Self::Csv(
                datafusion::arrow::csv::WriterBuilder::new()
                    .with_header(true)
                    .build(out),
            ),
            OutputFormat::Json => Self::Json(ArrayWriter::new(out)),
            OutputFormat::Ndjson => Self::Ndjson(LineDelimitedWriter::new(out)),
            OutputFormat::Arrow => Self::Arrow(StreamWriter::try_new(out, &schema)?),
            OutputFormat::Parquet => Self::Parquet(
                ArrowWriter::try_new(out, schema, None)
                    .map_err(|e| ArrowError::ExternalError(Box::new(e)))?,
            ),
        })
    }

    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), ArrowError> {
        match self {
            Self::Table { batches, .. } => batches.push(batch.clone()),
            // CSV has no nested values: structs and lists are written as text.
            Self::Csv(writer) => writer.write(&flatten_nested(batch)?)?,
            Self::Json(writer) => writer.write(batch)?,
            Self::Ndjson(writer) => writer.write(batch)?,
            Self::Arrow(writer) => writer.write(batch)?,
            Self::Parquet(writer) => writer
                .write(batch)
                .map_err(|e| ArrowError::ExternalError(Box::new(e)))?,
        }
        Ok(())
    }

    pub fn finish(self) -> Result<(), ArrowError> {
        match self {
            Self::Table {
                mut out,
                schema,
                batches,
            } => {
                out.write_all(render_table(&schema, &batches)?.as_bytes())?;
                out.flush()?;
            }
            Self::Csv(writer) => writer.into_inner().flush()?,
            // arrow-json writes `[]` for no rows: still a JSON document.
            Self::Json(mut writer) => {
                writer.finish()?;
                let mut out = writer.into_inner();
                out.write_all(b"\n")?;
                out.flush()?;
            }
            Self::Ndjson(mut writer) => {
                writer.finish()?;
                writer.into_inner().flush()?;
            }
            Self::Arrow(mut writer) => {
                writer.finish()?;
                writer.into_inner()?.flush()?;
            }
            Self::Parquet(writer) => {
                writer
                    .close()
                    .map_err(|e| ArrowError::ExternalError(Box::new(e)))?;
            }
        }
        Ok(())
    }
}

fn is_nested(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Struct(_)
            | DataType::List(_)
            | DataType::LargeList(_)
            | DataType::FixedSizeList(_, _)
            | DataType::Map(_, _)
    )
}

fn flatten_nested(batch: &RecordBatch) -> Result<RecordBatch, ArrowError> {
    if !batch
        .schema()
        .fields()
        .iter()
        .any(|f| is_nested(f.data_type()))
    {
        return Ok(batch.clone());
    }
    let mut fields = Vec::with_capacity(batch.num_columns());
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(batch.num_columns());
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        if is_nested(field.data_type()) {
            fields.push(Field::new(field.name(), DataType::Utf8, true));
            columns.push(Arc::new(StringArray::from(format_column(
                column.as_ref(),
                None,
            )?)));
        } else {
            fields.push(field.as_ref().clone());
            columns.push(column.clone());
        }
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
}

/// Each value as text; NULL as `None` unless `null_text` is given.
fn format_column(
    column: &dyn Array,
    null_text: Option<&str>,
) -> Result<Vec<Option<String>>, ArrowError> {
    let options = FormatOptions::default().with_null(null_text.unwrap_or(""));
    let formatter = ArrayFormatter::try_new(column, &options)?;
    Ok((0..column.len())
        .map(|row| {
            if column.is_null(row) && null_text.is_none() {
                None
            } else {
                Some(formatter.value(row).to_string())
            }
        })
        .collect())
}

/// psql's aligned format: centred headers, numbers right-aligned, text
/// left-aligned, NULL as nothing, then `(N rows)`.
pub fn render_table(schema: &Schema, batches: &[RecordBatch]) -> Result<String, ArrowError> {
    let fields = schema.fields();
    let mut cells: Vec<Vec<String>> = vec![Vec::new(); fields.len()];
    for batch in batches {
        for (index, column) in batch.columns().iter().enumerate() {
            let values = format_column(column.as_ref(), Some(""))?;
            cells[index].extend(values.into_iter().map(Option::unwrap_or_default));
        }
    }
    let rows = cells.first().map_or(0, Vec::len);
    let widths: Vec<usize> = fields
        .iter()
        .zip(&cells)
        .map(|(field, column)| {
            column
                .iter()
                .map(|value| value.chars().count())
                .chain(std::iter::once(field.name().chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();

    let mut text = String::new();
    let header: Vec<String> = fields
        .iter()
        .zip(&widths)
        .map(|(field, &width)| {
            let name = field.name();
            let pad = width - name.chars().count();
            format!(
                "{}{}{}",
                " ".repeat(pad / 2),
                name,
                " ".repeat(pad - pad / 2)
            )
        })
        .collect();
    text.push(' ');
    text.push_str(&header.join(" | "));
    text.push_str(" \n");
    let rule: Vec<String> = widths.iter().map(|&w| "-".repeat(w + 2)).collect();
    text.push_str(&rule.join("+"));
    text.push('\n');
    for row in 0..rows {
        let line: Vec<String> = fields
            .iter()
            .zip(&widths)
            .zip(&cells)
            .map(|((field, &width), column)| {
                let value = &column[row];
                let pad = " ".repeat(width - value.chars().count());
                if field.data_type().is_numeric() {
                    format!("{pad}{value}")
                } else {
                    format!("{value}{pad}")
                }
            })
            .collect();
        text.push(' ');
        text.push_str(line.join(" | ").trim_end());
        text.push('\n');
    }
    text.push_str(&format!(
        "({rows} {})\n",
        if rows == 1 { "row" } else { "rows" }
    ));
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::Int64Array;

    #[test]
    fn an_empty_json_result_is_one_empty_array() -> Result<(), ArrowError> {
        let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, false)]));
        let buffer = Arc::new(std::sync::Mutex::new(Vec::new()));
        struct Shared(Arc<std::sync::Mutex<Vec<u8>>>);
        impl Write for Shared {
            fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
                if let Ok(mut bytes) = self.0.lock() {
                    bytes.extend_from_slice(data);
                }
                Ok(data.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let writer =
            ResultWriter::new(OutputFormat::Json, Box::new(Shared(buffer.clone())), schema)?;
        writer.finish()?;
        let text = buffer.lock().map(|b| b.clone()).unwrap_or_default();
        assert_eq!(String::from_utf8_lossy(&text), "[]\n");
        Ok(())
    }

    #[test]
    fn table_is_aligned_like_psql() -> Result<(), ArrowError> {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, true),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(vec![1, 100])),
                Arc::new(StringArray::from(vec![Some("Ada"), None])),
            ],
        )?;
        let expected = " id  | name \n-----+------\n   1 | Ada\n 100 |\n(2 rows)\n";
        assert_eq!(render_table(&schema, &[batch])?, expected);
        Ok(())
    }
}
