//! `kind = "files"`: Parquet, CSV and NDJSON files on local disk or object
//! storage. Every file or folder directly below the source's URL is a table.

mod format;
mod listing;
mod open;
mod schema;
mod store;

pub use format::{CsvOptions, FileFormatKind};
pub use schema::FilesSchema;
pub use store::local_path;

use std::collections::BTreeMap;
use std::fmt;

/// A files source, with every secret already resolved to its value.
#[derive(Clone)]
pub struct FilesSpec {
    pub name: String,
    /// `file://`, `s3://`, `gs://`, `az://`, `https://`, or a local path.
    pub url: String,
    /// `None`: decided per file by its extension.
    pub format: Option<FileFormatKind>,
    pub csv: CsvOptions,
    /// How many NDJSON records schema inference reads per file.
    pub json_infer_records: usize,
    /// Object store options (`endpoint`, `region`, `access_key_id`, …).
    pub options: BTreeMap<String, String>,
}

impl FilesSpec {
    /// The object store this source reads through, as DataFusion keys its
    /// registry (`s3://bucket`); `None` for local files, which need no
    /// settings. Two sources with one key share one store, and so must
    /// agree on its options.
    pub fn store_key(&self) -> Option<String> {
        let url = store::parse_url(self).ok()?;
        (url.scheme() != "file").then(|| format!("{}://{}", url.scheme(), url.authority()))
    }
}

// Option values can be credentials: Debug shows only their keys.
impl fmt::Debug for FilesSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FilesSpec")
            .field("name", &self.name)
            .field("url", &self.url)
            .field("format", &self.format)
            .field("csv", &self.csv)
            .field("json_infer_records", &self.json_infer_records)
            .field("options", &self.options.keys().collect::<Vec<_>>())
            .finish()
    }
}
