use std::sync::Arc;

use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::csv::CsvFormat;
use datafusion::datasource::file_format::json::JsonFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;

/// The file formats a files source reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileFormatKind {
    Parquet,
    Csv,
    Ndjson,
}

impl FileFormatKind {
    pub const ALL: [FileFormatKind; 3] = [Self::Parquet, Self::Csv, Self::Ndjson];

    pub fn name(self) -> &'static str {
        match self {
            Self::Parquet => "parquet",
            Self::Csv => "csv",
            Self::Ndjson => "ndjson",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "parquet" => Some(Self::Parquet),
            "csv" => Some(Self::Csv),
            "ndjson" | "json" | "jsonl" => Some(Self::Ndjson),
            _ => None,
        }
    }

    /// The format a file name's extension implies, and that extension.
    pub fn from_file_name(file_name: &str) -> Option<(Self, &'static str)> {
        let lower = file_name.to_ascii_lowercase();
        [
            (Self::Parquet, ".parquet"),
            (Self::Parquet, ".parq"),
            (Self::Csv, ".csv"),
            (Self::Ndjson, ".ndjson"),
            (Self::Ndjson, ".jsonl"),
            (Self::Ndjson, ".json"),
        ]
        .into_iter()
        .find(|(_, extension)| lower.ends_with(extension))
    }

    pub(crate) fn file_format(
        self,
        csv: &CsvOptions,
        json_infer_records: usize,
    ) -> Arc<dyn FileFormat> {
        match self {
            Self::Parquet => Arc::new(ParquetFormat::default()),
            Self::Csv => Arc::new(
                CsvFormat::default()
                    .with_has_header(csv.has_header)
                    .with_delimiter(csv.delimiter),
            ),
            Self::Ndjson => {
                Arc::new(JsonFormat::default().with_schema_infer_max_rec(json_infer_records))
            }
        }
    }
}

/// How CSV files are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CsvOptions {
    pub has_header: bool,
    pub delimiter: u8,
}

impl Default for CsvOptions {
    fn default() -> Self {
        Self {
            has_header: true,
            delimiter: b',',
        }
    }
}
