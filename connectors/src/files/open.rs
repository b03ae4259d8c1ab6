//! Opening a files source: listing it, then opening each table (schema
//! inference, partition columns) with errors that name the file.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::catalog::TableProvider;
use datafusion::common::{DataFusionError, Result};
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::execution::SessionState;
use datafusion::parquet::errors::ParquetError;
use futures::TryStreamExt;

use super::FilesSpec;
use super::format::FileFormatKind;
use super::listing::{TableEntry, discover};
use super::store;

/// What one attempt to open a source found.
#[derive(Debug)]
pub(crate) struct Contents {
    pub tables: BTreeMap<String, TableSlot>,
    /// Set when the source as a whole could not be listed.
    pub failure: Option<Arc<DataFusionError>>,
    pub opened_at: Instant,
}

#[derive(Debug)]
pub(crate) enum TableSlot {
    Ready(Arc<dyn TableProvider>),
    Failed(Arc<DataFusionError>),
}

impl Contents {
    pub fn is_complete(&self) -> bool {
        self.failure.is_none()
            && self
                .tables
                .values()
                .all(|slot| matches!(slot, TableSlot::Ready(_)))
    }
}

/// Lists the source and opens each table. Never fails: what went wrong is
/// kept, to be reported when the source is queried.
pub(crate) async fn open_source(spec: &FilesSpec, state: &SessionState) -> Contents {
    let mut contents = Contents {
        tables: BTreeMap::new(),
        failure: None,
        opened_at: Instant::now(),
    };
    let location = match store::open(spec) {
        Ok(location) => location,
        Err(error) => {
            contents.failure = Some(Arc::new(DataFusionError::External(Box::new(error))));
            return contents;
        }
    };
    state
        .runtime_env()
        .register_object_store(&location.root, location.store.clone());

    let entries = match discover(spec, &location).await {
        Ok(entries) => entries,
        Err(error) => {
            tracing::warn!(source = %spec.name, "cannot list the source: {}", one_line(&error));
            contents.failure = Some(Arc::new(error));
            return contents;
        }
    };
    // Each table is opened in its own task: concurrently (an object store
    // answers slowly but in parallel), and so that a reader that panics on a
    // corrupt file fails that table, not the gateway.
    let state = Arc::new(state.clone());
    let opening: Vec<_> = entries
        .into_iter()
        .map(|entry| {
            let label = (entry.name.clone(), entry.url.clone(), entry.format);
            let (spec, state) = (spec.clone(), state.clone());
            let task = tokio::spawn(async move { open_table(&spec, &entry, &state).await });
            (label, task)
        })
        .collect();
    for ((name, url, format), task) in opening {
        let opened = match task.await {
            Ok(result) => result,
            Err(join_error) => Err(reader_crashed(&url, format, &join_error.to_string())),
        };
        let slot = match opened {
            Ok(table) => TableSlot::Ready(table),
            Err(error) => {
                tracing::warn!(source = %spec.name, table = %name, "table unavailable: {}", one_line(&error));
                TableSlot::Failed(Arc::new(error))
            }
        };
        contents.tables.insert(name, slot);
    }
    tracing::info!(source = %spec.name, tables = contents.tables.len(), "files source opened");
    contents
}

async fn open_table(
    spec: &FilesSpec,
    entry: &TableEntry,
    state: &SessionState,
) -> Result<Arc<dyn TableProvider>> {
    let url = table_url(entry)?;
    let format = entry.format.file_format(&spec.csv, spec.json_infer_records);
    let options = ListingOptions::new(format).with_file_extension(entry.extension.clone());
    // Hive-style `key=value/` folders become string columns; filters on them
    // prune whole folders before any file is opened.
    let partitions = options.infer_partitions(state, &url).await?;
    let options = options.with_table_partition_cols(
        partitions
            .into_iter()
            .map(|name| (name, DataType::Utf8))
            .collect(),
    );
    let file_schema = infer_schema_naming_file(&options, state, &url).await?;
    let config = ListingTableConfig::new(url)
        .with_listing_options(options)
        .with_schema(file_schema);
    Ok(Arc::new(ListingTable::try_new(config)?))
}

fn table_url(entry: &TableEntry) -> Result<ListingTableUrl> {
    let url = url::Url::parse(&entry.url).map_err(|e| DataFusionError::External(Box::new(e)))?;
    let glob = entry
        .glob
        .as_deref()
        .map(glob::Pattern::new)
        .transpose()
        .map_err(|e| DataFusionError::Plan(format!("invalid glob in {}: {e}", entry.url)))?;
    ListingTableUrl::try_new(url, glob)
}

/// Infers a table's schema; when that fails, finds the file to blame so that
/// the error names it rather than only the folder.
async fn infer_schema_naming_file(
    options: &ListingOptions,
    state: &SessionState,
    url: &ListingTableUrl,
) -> Result<SchemaRef> {
    let error = match options.infer_schema(state, url).await {
        Ok(schema) => return Ok(schema),
        Err(error) => error,
    };
    let store = state.runtime_env().object_store(url)?;
    let files: Vec<_> = url
        .list_all_files(state, store.as_ref(), &options.file_extension)
        .await?
        .try_collect()
        .await?;
    if files.len() <= 1 {
        return Err(error.context(format!("file {url}")));
    }
    for file in files {
        let result = options
            .format
            .infer_schema(state, &store, std::slice::from_ref(&file))
            .await;
        if let Err(file_error) = result {
            return Err(file_error.context(format!("file {}{}", root_of(url), file.location)));
        }
    }
    Err(error.context(format!("files under {url}")))
}

/// DataFusion renders context as `outer\ncaused by\ninner`: one log line
/// per event reads better.
pub(crate) fn one_line(error: &DataFusionError) -> String {
    error.to_string().replace("\ncaused by\n", ": ")
}

/// A reader that panics on a file (seen with truncated Parquet footers) has
/// met a file it cannot read: report that, naming the file, as an error.
fn reader_crashed(url: &str, format: FileFormatKind, panic: &str) -> DataFusionError {
    let message = format!(
        "file {url}: cannot read it as {}: the reader failed ({panic}); the file is probably corrupt",
        format.name()
    );
    match format {
        FileFormatKind::Parquet => {
            DataFusionError::ParquetError(Box::new(ParquetError::General(message)))
        }
        FileFormatKind::Csv | FileFormatKind::Ndjson => DataFusionError::Execution(message),
    }
}

/// `file:///`, `s3://bucket/`: what object paths are relative to.
fn root_of(url: &ListingTableUrl) -> String {
    url.object_store().as_str().to_owned()
}
