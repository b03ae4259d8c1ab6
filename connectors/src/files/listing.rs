//! Which tables a files source has: every file or folder directly below its
//! URL, or one table for a glob.

use datafusion::common::{DataFusionError, Result};
use futures::TryStreamExt;
use object_store::path::Path;

use object_store::ObjectStoreExt;

use super::FilesSpec;
use super::format::FileFormatKind;
use super::store::SourceLocation;

/// One table of a files source, before its schema is known.
#[derive(Debug, Clone)]
pub(crate) struct TableEntry {
    pub name: String,
    /// A file, or a folder ending in `/`.
    pub url: String,
    /// Which files below `url` belong to the table (`*.parquet`).
    pub glob: Option<String>,
    pub format: FileFormatKind,
    /// Only files with this ending are read (so `_SUCCESS` and friends are not).
    pub extension: String,
}

pub(crate) async fn discover(
    spec: &FilesSpec,
    location: &SourceLocation,
) -> Result<Vec<TableEntry>> {
    if let Some(glob) = &location.glob {
        return Ok(vec![glob_table(spec, location, glob)?]);
    }
    let store = &location.store;
    let listing = store.list_with_delimiter(Some(&location.prefix)).await?;

    if listing.objects.is_empty() && listing.common_prefixes.is_empty() {
        // The URL names a single file.
        let meta = store
            .head(&location.prefix)
            .await
            .map_err(|error| match error {
                object_store::Error::NotFound { .. } => DataFusionError::Plan(format!(
                    "no files found at {}",
                    location.url_of(&location.prefix, false)
                )),
                other => other.into(),
            })?;
        let file_name = meta.location.filename().unwrap_or_default().to_owned();
        return Ok(file_table(spec, location, &meta.location, &file_name)
            .into_iter()
            .collect());
    }

    let mut tables = Vec::new();
    for object in &listing.objects {
        let file_name = object.location.filename().unwrap_or_default();
        if is_hidden(file_name) || object.size == 0 {
            continue;
        }
        match file_table(spec, location, &object.location, file_name) {
            Some(table) => tables.push(table),
            None => {
                tracing::debug!(source = %spec.name, file = %object.location, "skipped: not a known data file")
            }
        }
    }
    for folder in &listing.common_prefixes {
        let folder_name = folder.filename().unwrap_or_default();
        if is_hidden(folder_name) {
            continue;
        }
        match folder_table(spec, location, folder, folder_name).await? {
            Some(table) => tables.push(table),
            None => {
                tracing::debug!(source = %spec.name, folder = %folder, "skipped: no data files inside")
            }
        }
    }
    tables.sort_by(|a, b| a.name.cmp(&b.name));
    tables.dedup_by(|later, first| {
        let duplicate = later.name == first.name;
        if duplicate {
            tracing::warn!(source = %spec.name, table = %first.name, ignored = %later.url, "two entries map to one table name; keeping the first");
        }
        duplicate
    });
    Ok(tables)
}

/// Names starting with `.` or `_` are metadata (`_SUCCESS`, `.DS_Store`), as in Spark and Hive.
fn is_hidden(name: &str) -> bool {
    name.starts_with('.') || name.starts_with('_')
}

fn table_name(file_name: &str, extension: &str) -> String {
    let stem = if !extension.is_empty() && file_name.to_ascii_lowercase().ends_with(extension) {
        &file_name[..file_name.len() - extension.len()]
    } else {
        file_name
            .rsplit_once('.')
            .map_or(file_name, |(stem, _)| stem)
    };
    stem.to_lowercase()
}

/// The format a file is read in (the source's, else its extension's) and
/// the ending that selects such files; `None` for a file of unknown type.
fn read_as(spec: &FilesSpec, file_name: &str) -> Option<(FileFormatKind, String)> {
    let extension = FileFormatKind::from_file_name(file_name);
    match (spec.format, extension) {
        (Some(format), Some((_, ending))) => Some((format, ending.to_owned())),
        (Some(format), None) => Some((format, String::new())),
        (None, Some((format, ending))) => Some((format, ending.to_owned())),
        (None, None) => None,
    }
}

fn file_table(
    spec: &FilesSpec,
    location: &SourceLocation,
    path: &Path,
    file_name: &str,
) -> Option<TableEntry> {
    let (format, extension) = read_as(spec, file_name)?;
    Some(TableEntry {
        name: table_name(file_name, &extension),
        url: location.url_of(path, false),
        glob: None,
        format,
        extension,
    })
}

/// A folder is one table; its format is the source's, or that of the first
/// data file found inside it.
async fn folder_table(
    spec: &FilesSpec,
    location: &SourceLocation,
    folder: &Path,
    folder_name: &str,
) -> Result<Option<TableEntry>> {
    let mut files = location.store.list(Some(folder));
    while let Some(object) = files.try_next().await? {
        let file_name = object.location.filename().unwrap_or_default();
        if is_hidden(file_name) {
            continue;
        }
        if let Some((format, extension)) = read_as(spec, file_name) {
            return Ok(Some(TableEntry {
                name: folder_name.to_lowercase(),
                url: location.url_of(folder, true),
                glob: None,
                format,
                extension,
            }));
        }
    }
    Ok(None)
}

fn glob_table(spec: &FilesSpec, location: &SourceLocation, glob: &str) -> Result<TableEntry> {
    let (format, extension) = read_as(spec, glob).ok_or_else(|| {
        DataFusionError::Plan(format!(
            "source \"{}\": cannot tell the format of {glob:?}; set format = \"parquet\", \"csv\" or \"ndjson\"",
            spec.name
        ))
    })?;
    let name = location
        .prefix
        .filename()
        .map(str::to_lowercase)
        .unwrap_or_else(|| spec.name.clone());
    Ok(TableEntry {
        name,
        url: location.url_of(&location.prefix, true),
        glob: Some(glob.to_owned()),
        format,
        extension,
    })
}

#[cfg(test)]
mod tests {
    use super::table_name;

    #[test]
    fn table_names_drop_the_extension_and_lower_case() {
        assert_eq!(table_name("Orders.parquet", ".parquet"), "orders");
        assert_eq!(table_name("events.ndjson", ".ndjson"), "events");
        assert_eq!(table_name("data.v2.csv", ".csv"), "data.v2");
        assert_eq!(table_name("raw", ""), "raw");
    }
}
