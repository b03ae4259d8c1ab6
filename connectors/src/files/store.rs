//! Opening the object store behind a files source's URL.

use std::sync::Arc;
use std::time::Duration;

use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
use object_store::http::HttpBuilder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{BackoffConfig, ClientConfigKey, ObjectStore, RetryConfig};
use url::Url;

use super::FilesSpec;
use crate::ConnectorError;

/// Where a source's files live: the store, the URL of its root (what
/// DataFusion's object store registry is keyed by) and the prefix inside it.
pub(crate) struct SourceLocation {
    pub store: Arc<dyn ObjectStore>,
    /// `s3://bucket/`, `file:///`, `https://host/`: joined with object paths
    /// to make table URLs.
    pub root: Url,
    pub prefix: Path,
    /// The URL's last path segment holds a glob (`*.parquet`): one table.
    pub glob: Option<String>,
}

impl SourceLocation {
    /// The URL of an object or folder below the root.
    pub fn url_of(&self, path: &Path, is_folder: bool) -> String {
        let mut url = format!("{}{}", self.root, path.as_ref());
        if is_folder && !url.ends_with('/') {
            url.push('/');
        }
        url
    }
}

pub(crate) fn parse_url(spec: &FilesSpec) -> Result<Url, ConnectorError> {
    let invalid = |reason: String| ConnectorError::InvalidUrl {
        source_name: spec.name.clone(),
        url: spec.url.clone(),
        reason,
    };
    if spec.url.starts_with('/') {
        let path = std::path::Path::new(&spec.url);
        let url = if path.is_dir() {
            Url::from_directory_path(path)
        } else {
            Url::from_file_path(path)
        };
        return url.map_err(|()| invalid("not an absolute path".to_owned()));
    }
    Url::parse(&spec.url).map_err(|e| invalid(e.to_string()))
}

/// The local path a files source's URL reads, taken as [`parse_url`] and
/// `LocalFileSystem` take it: a plain absolute path as it is; a `file://`
/// URL's path with dot segments removed and percent-escapes decoded, whatever
/// host it names (the local store ignores the host). `None` for an object
/// store URL, and for one that does not parse (such a source opens nothing).
pub fn local_path(url: &str) -> Option<std::path::PathBuf> {
    if url.starts_with('/') {
        return Some(std::path::PathBuf::from(url));
    }
    let mut parsed = Url::parse(url).ok()?;
    if parsed.scheme() != "file" {
        return None;
    }
    // `to_file_path` refuses a host other than localhost, but the store reads
    // the path all the same: drop the host so that the path is still checked.
    let _ = parsed.set_host(None);
    Some(
        parsed
            .to_file_path()
            .unwrap_or_else(|()| std::path::PathBuf::from(parsed.path())),
    )
}

pub(crate) fn open(spec: &FilesSpec) -> Result<SourceLocation, ConnectorError> {
    let url = parse_url(spec)?;
    let store_error = |error: object_store::Error| ConnectorError::ObjectStore {
        source_name: spec.name.clone(),
        reason: error.to_string(),
    };
    let unknown = |key: &str| ConnectorError::UnknownOption {
        source_name: spec.name.clone(),
        key: key.to_owned(),
        scheme: url.scheme().to_owned(),
    };

    let store: Arc<dyn ObjectStore> = match url.scheme() {
        "file" => {
            if let Some(key) = spec.options.keys().next() {
                return Err(unknown(key));
            }
            Arc::new(LocalFileSystem::new())
        }
        "s3" | "s3a" => {
            // from_env: without options, the usual AWS_* variables and
            // instance credentials apply, as with every other S3 client.
            let mut builder = AmazonS3Builder::from_env()
                .with_url(url.as_str())
                .with_retry(retry_config());
            for (key, value) in &spec.options {
                let key_parsed: AmazonS3ConfigKey = key.parse().map_err(|_| unknown(key))?;
                builder = builder.with_config(key_parsed, value);
            }
            Arc::new(builder.build().map_err(store_error)?)
        }
        "gs" => {
            let mut builder = GoogleCloudStorageBuilder::from_env()
                .with_url(url.as_str())
                .with_retry(retry_config());
            for (key, value) in &spec.options {
                let key_parsed: GoogleConfigKey = key.parse().map_err(|_| unknown(key))?;
                builder = builder.with_config(key_parsed, value);
            }
            Arc::new(builder.build().map_err(store_error)?)
        }
        "az" | "abfs" | "abfss" | "adl" | "azure" => {
            let mut builder = MicrosoftAzureBuilder::from_env()
                .with_url(url.as_str())
                .with_retry(retry_config());
            for (key, value) in &spec.options {
                let key_parsed: AzureConfigKey = key.parse().map_err(|_| unknown(key))?;
                builder = builder.with_config(key_parsed, value);
            }
            Arc::new(builder.build().map_err(store_error)?)
        }
        "http" | "https" => {
            let root = &url[..url::Position::BeforePath];
            let mut builder = HttpBuilder::new().with_url(root).with_retry(retry_config());
            for (key, value) in &spec.options {
                let key_parsed: ClientConfigKey = key.parse().map_err(|_| unknown(key))?;
                builder = builder.with_config(key_parsed, value);
            }
            Arc::new(builder.build().map_err(store_error)?)
        }
        other => {
            return Err(ConnectorError::InvalidUrl {
                source_name: spec.name.clone(),
                url: spec.url.clone(),
                reason: format!("unsupported scheme {other}:// (use file, s3, gs, az or https)"),
            });
        }
    };

    let mut root = url.clone();
    root.set_path("/");
    root.set_query(None);
    root.set_fragment(None);

    let (prefix, glob) = split_glob(url.path());
    let prefix = Path::from_url_path(prefix).map_err(|e| ConnectorError::InvalidUrl {
        source_name: spec.name.clone(),
        url: spec.url.clone(),
        reason: e.to_string(),
    })?;
    Ok(SourceLocation {
        store,
        root,
        prefix,
        glob,
    })
}

/// Fewer and shorter retries than object_store's default (10 retries over up
/// to 3 minutes): a query on a source that is down should fail within
/// seconds with a clear error, not hang; the gateway tries again later.
fn retry_config() -> RetryConfig {
    RetryConfig {
        backoff: BackoffConfig::default(),
        max_retries: 3,
        retry_timeout: Duration::from_secs(20),
    }
}

/// `/data/2024/*.parquet` → (`/data/2024/`, `Some("*.parquet")`).
fn split_glob(path: &str) -> (&str, Option<String>) {
    let is_glob = |segment: &str| segment.contains(['*', '?', '[']);
    match path.rfind('/') {
        Some(slash) if is_glob(&path[slash + 1..]) && !is_glob(&path[..slash]) => {
            (&path[..=slash], Some(path[slash + 1..].to_owned()))
        }
        _ => (path, None),
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::{local_path, split_glob};

    #[test]
    fn local_paths_are_read_as_the_local_store_reads_them() {
        let local = |url: &str| local_path(url).map(|p| p.display().to_string());
        assert_eq!(local("/srv/lake/"), Some("/srv/lake/".to_owned()));
        assert_eq!(
            local("file:///srv/lake/x.csv"),
            Some("/srv/lake/x.csv".to_owned())
        );
        // Dot segments, escaped or not, are gone once the URL is parsed.
        assert_eq!(
            local("file:///srv/lake/../etc/"),
            Some("/srv/etc/".to_owned())
        );
        assert_eq!(
            local("file:///srv/lake/%2e%2e/etc/"),
            Some("/srv/etc/".to_owned())
        );
        assert_eq!(local("file:///srv/a%20b/"), Some("/srv/a b/".to_owned()));
        // A host is no way around the check: the store ignores it.
        assert_eq!(local("file://elsewhere/etc/"), Some("/etc/".to_owned()));
        assert_eq!(local("FILE:///etc/"), Some("/etc/".to_owned()));
        for remote in [
            "s3://b/x/",
            "gs://b/",
            "az://c/d/",
            "https://h/f.csv",
            "not a url",
        ] {
            assert_eq!(local_path(remote), None, "{remote}");
        }
        assert_eq!(local_path("/a/*.csv"), Some(PathBuf::from("/a/*.csv")));
    }

    #[test]
    fn glob_in_last_segment_is_split_off() {
        assert_eq!(
            split_glob("/a/b/*.csv"),
            ("/a/b/", Some("*.csv".to_owned()))
        );
        assert_eq!(split_glob("/a/b/"), ("/a/b/", None));
        assert_eq!(split_glob("/a/b/c.csv"), ("/a/b/c.csv", None));
    }
}
