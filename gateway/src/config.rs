//! `tributary.toml`: plain serde types that reject unknown keys, parsed raw
//! and then resolved (paths made absolute, secret references looked up)
//! into what the engine needs.

pub mod file_roots;

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use serde::{Deserialize, Serialize};
use toml::Spanned;
use tributary_catalog::SourceSpec;
use tributary_connectors::files::{CsvOptions, FileFormatKind, FilesSpec};
use tributary_connectors::remote::{
    DatabaseKind, DatabaseSpec, MssqlEncrypt, MssqlOptions, Password, SecretSource, TablePatterns,
    TlsMode,
};

use crate::cache::{CacheLimits, SourceCaching, SourcePolicy};
use crate::secrets::{FileSecret, StoreSecret};

/// A config file problem: names the file, the line and the key.
#[derive(Debug, thiserror::Error)]
#[error("{path}{}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct ConfigError {
    pub path: String,
    pub line: Option<usize>,
    pub message: String,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    pub server: RawServer,
    #[serde(default)]
    pub sources: Vec<RawSource>,
    #[serde(default)]
    pub cache: RawCache,
    #[serde(default)]
    pub limits: crate::limits::RawLimits,
}

/// `[cache]`: the result cache's memory.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawCache {
    /// All kept results together, e.g. "256MiB" (the default); "0" turns
    /// the cache off.
    pub max_bytes: Option<Spanned<String>>,
    /// One result, e.g. "16MiB" (the default): bigger ones are not kept.
    pub max_result_bytes: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    pub pg_addr: Option<String>,
    pub http_addr: Option<String>,
    pub data_dir: Option<PathBuf>,
    /// `tracing` filter for the server log, e.g. `info` or `tributary=debug`.
    pub log: Option<String>,
    /// Whether the HTTP API answers without a token. Default: false with a
    /// config file (every request needs `Authorization: Bearer`), true for
    /// the embedded default, which listens on loopback only.
    pub http_anonymous: Option<bool>,
    /// The folders local files sources may read (relative to the config
    /// file). Unset: the config's own files sources read where they point,
    /// and sources created through the API read no local files. See
    /// `file_roots.rs` and docs/security.md.
    pub file_roots: Option<Vec<Spanned<String>>>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawSource {
    pub name: Spanned<String>,
    pub kind: Spanned<String>,
    /// files: where the files are.
    pub url: Option<Spanned<String>>,
    /// files: parquet | csv | ndjson; by extension when absent.
    pub format: Option<Spanned<String>>,
    /// files, CSV: whether the first line names the columns (default true).
    pub header: Option<bool>,
    /// files, CSV: one character (default `,`).
    pub delimiter: Option<Spanned<String>>,
    /// files, NDJSON: how many records schema inference reads (default 1000).
    pub schema_infer_records: Option<usize>,
    /// Object store settings (endpoint, region, access_key_id, …).
    #[serde(default)]
    pub options: BTreeMap<String, Spanned<OptionValue>>,

    /// postgres, mysql: where the database listens.
    pub host: Option<Spanned<String>>,
    /// postgres, mysql: default 5432 / 3306.
    pub port: Option<Spanned<u16>>,
    /// postgres: the database; mysql: the default schema.
    pub database: Option<Spanned<String>>,
    pub user: Option<Spanned<String>>,
    /// A reference, `{ env = … }` or `{ file = … }`; never the value.
    pub password: Option<Spanned<OptionValue>>,
    /// postgres, mysql: disable | prefer (default) | require | verify-ca | verify-full.
    pub tls: Option<Spanned<String>>,
    /// mssql: off (only the login) | on (default) | required.
    pub encrypt: Option<Spanned<String>>,
    /// mssql: accept the server's certificate unverified (default false).
    pub trust_server_certificate: Option<bool>,
    /// mssql: a named instance, found through the SQL Browser service.
    pub instance: Option<Spanned<String>>,
    /// oracle: the service to connect to (in place of `database`).
    pub service_name: Option<Spanned<String>>,
    /// Connections kept to the database (default 10).
    pub pool_size: Option<Spanned<u32>>,
    /// e.g. "5s" (default) or "500ms".
    pub connect_timeout: Option<Spanned<String>>,
    /// e.g. "60s" (default): how often new tables are looked for.
    pub refresh_interval: Option<Spanned<String>>,
    /// `schema.table` glob patterns to expose (default: all).
    #[serde(default)]
    pub include: Vec<String>,
    /// `schema.table` glob patterns to hide.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// false: only column lists reach the database (default true).
    pub pushdown: Option<bool>,
    /// How long query results over this source are kept, e.g. "5m", or
    /// "off". Databases: off unless set. Files: kept until a file changes
    /// (each file's size, time and ETag are part of the key) unless set.
    pub cache_ttl: Option<Spanned<String>>,
    /// After `cache_ttl`, how long a result is still served while a fresh
    /// one is fetched in the background (stale-while-revalidate).
    pub cache_stale: Option<Spanned<String>>,
}

/// An option's value: a plain value, or a reference to a secret kept elsewhere.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
pub enum OptionValue {
    Text(String),
    Bool(bool),
    Integer(i64),
    Reference(SecretRef),
}

/// Where a secret's value comes from. Never the config file itself.
#[derive(Clone, Deserialize, Serialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum SecretRef {
    Env(String),
    File(PathBuf),
    Secret(String),
}

impl fmt::Debug for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Env(name) => write!(f, "{{ env = {name:?} }}"),
            Self::File(path) => write!(f, "{{ file = {path:?} }}"),
            Self::Secret(name) => write!(f, "{{ secret = {name:?} }}"),
        }
    }
}

impl SecretRef {
    /// The value now. A `{ secret = … }` is read from the credentials store
    /// in `data_dir`.
    pub fn resolve(&self, data_dir: &Path) -> Result<String, String> {
        match self {
            Self::Env(name) => std::env::var(name).map_err(|_| {
                format!("environment variable {name} (from {{ env = \"{name}\" }}) is not set")
            }),
            Self::File(path) => FileSecret { path: path.clone() }
                .current()
                .map(|value| value.expose_secret().to_owned()),
            Self::Secret(name) => StoreSecret::new(data_dir, name)
                .current()
                .map(|value| value.expose_secret().to_owned()),
        }
    }

    /// As a database password: a file or a stored secret is read again at
    /// every connection attempt, so that a changed one is picked up without
    /// a restart; an environment variable cannot change, so it is read once.
    pub fn password(&self, data_dir: &Path) -> Result<Password, String> {
        match self {
            Self::Env(_) => self
                .resolve(data_dir)
                .map(|value| Password::fixed(SecretString::from(value))),
            Self::File(path) => Ok(Password::looked_up(Arc::new(FileSecret {
                path: path.clone(),
            }))),
            Self::Secret(name) => Ok(Password::looked_up(Arc::new(StoreSecret::new(
                data_dir, name,
            )))),
        }
    }

    /// The stored secret this references, if it references one.
    pub fn secret_name(&self) -> Option<&str> {
        match self {
            Self::Secret(name) => Some(name),
            Self::Env(_) | Self::File(_) => None,
        }
    }
}

/// Option keys whose values are credentials: they must be references.
pub fn is_secret_option(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    [
        "secret",
        "token",
        "password",
        "account_key",
        "sas",
        "service_account_key",
        "credential",
    ]
    .iter()
    .any(|word| key.contains(word))
}

const RESERVED_NAMES: [&str; 4] = ["tributary", "public", "pg_catalog", "information_schema"];

/// A parsed config file, remembered with its text for line numbers.
#[derive(Debug)]
pub struct ConfigFile {
    pub path: PathBuf,
    text: String,
    pub raw: RawConfig,
}

impl ConfigFile {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            path: path.display().to_string(),
            line: None,
            message: format!("cannot read the config file: {e}"),
        })?;
        Self::parse(path, text)
    }

    pub fn parse(path: &Path, text: String) -> Result<Self, ConfigError> {
        let raw: RawConfig = toml::from_str(&text).map_err(|e| ConfigError {
            path: path.display().to_string(),
            line: e.span().map(|span| line_of(&text, span.start)),
            message: e.message().to_owned(),
        })?;
        let file = Self {
            path: path.to_owned(),
            text,
            raw,
        };
        file.validate()?;
        Ok(file)
    }

    fn error_at(&self, span: std::ops::Range<usize>, message: impl Into<String>) -> ConfigError {
        ConfigError {
            path: self.path.display().to_string(),
            line: Some(line_of(&self.text, span.start)),
            message: message.into(),
        }
    }

    /// Checks what serde cannot: names, kinds, formats, plain-text secrets.
    fn validate(&self) -> Result<(), ConfigError> {
        self.limits()?;
        if let Some(addr) = &self.raw.server.pg_addr {
            addr.parse::<SocketAddr>().map_err(|e| ConfigError {
                path: self.path.display().to_string(),
                line: None,
                message: format!(
                    "server.pg_addr {addr:?}: {e} (expected HOST:PORT, e.g. 127.0.0.1:5433)"
                ),
            })?;
        }
        for root in self.raw.server.file_roots.iter().flatten() {
            let text = root.get_ref();
            if text.trim().is_empty() || text.contains("://") {
                return Err(self.error_at(
                    root.span(),
                    format!("server.file_roots {text:?}: write a local folder (absolute, or relative to this file), not a URL"),
                ));
            }
        }
        for (key, value) in [
            ("max_bytes", &self.raw.cache.max_bytes),
            ("max_result_bytes", &self.raw.cache.max_result_bytes),
        ] {
            if let Some(value) = value {
                parse_bytes(value.get_ref())
                    .map_err(|e| self.error_at(value.span(), format!("cache.{key} {e}")))?;
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        for source in &self.raw.sources {
            let name = source.name.get_ref();
            if !is_valid_name(name) {
                return Err(self.error_at(
                    source.name.span(),
                    format!("sources.name {name:?}: use lower-case letters, digits and _ (starting with a letter)"),
                ));
            }
            if RESERVED_NAMES.contains(&name.as_str()) {
                return Err(self.error_at(
                    source.name.span(),
                    format!("sources.name {name:?} is reserved"),
                ));
            }
            if !seen.insert(name.clone()) {
                return Err(self.error_at(
                    source.name.span(),
                    format!("sources.name {name:?} is used twice"),
                ));
            }
            self.validate_cache(source)?;
            match source.kind.get_ref().as_str() {
                "files" => self.validate_files(source)?,
                "postgres" | "mysql" | "mssql" | "oracle" => self.validate_database(source)?,
                other => {
                    return Err(self.error_at(
                        source.kind.span(),
                        format!("sources.kind {other:?}: expected one of files, postgres, mysql, mssql, oracle"),
                    ));
                }
            }
        }
        Ok(())
    }

    fn validate_cache(&self, source: &RawSource) -> Result<(), ConfigError> {
        let ttl = match &source.cache_ttl {
            Some(ttl) if ttl.get_ref().trim() == "off" => None,
            Some(ttl) => Some(
                parse_duration(ttl.get_ref())
                    .map_err(|e| self.error_at(ttl.span(), format!("sources.cache_ttl {e}")))?,
            ),
            None => None,
        };
        if let Some(stale) = &source.cache_stale {
            parse_duration(stale.get_ref())
                .map_err(|e| self.error_at(stale.span(), format!("sources.cache_stale {e}")))?;
            if ttl.is_none() {
                return Err(self.error_at(
                    stale.span(),
                    "sources.cache_stale needs a cache_ttl (a result is stale once its time to live is over)",
                ));
            }
        }
        Ok(())
    }

    /// `[limits]` over the defaults (checked by `validate`).
    pub fn limits(&self) -> Result<crate::limits::Limits, ConfigError> {
        crate::limits::Limits::resolve(&self.raw.limits, parse_bytes, parse_duration)
            .map_err(|(span, message)| self.error_at(span, message))
    }

    /// `[cache]` with its defaults.
    pub fn cache_limits(&self) -> CacheLimits {
        let defaults = CacheLimits::default();
        let read = |value: &Option<Spanned<String>>, default: u64| {
            value
                .as_ref()
                .and_then(|v| parse_bytes(v.get_ref()).ok())
                .unwrap_or(default)
        };
        CacheLimits {
            max_bytes: read(&self.raw.cache.max_bytes, defaults.max_bytes),
            max_result_bytes: read(&self.raw.cache.max_result_bytes, defaults.max_result_bytes),
        }
    }

    fn validate_files(&self, source: &RawSource) -> Result<(), ConfigError> {
        if source.url.is_none() {
            return Err(self.error_at(
                source.name.span(),
                format!(
                    "source {:?} (kind = \"files\") needs a url",
                    source.name.get_ref()
                ),
            ));
        }
        if let Some(format) = &source.format
            && FileFormatKind::from_name(format.get_ref()).is_none()
        {
            return Err(self.error_at(
                format.span(),
                format!(
                    "sources.format {:?}: expected parquet, csv or ndjson",
                    format.get_ref()
                ),
            ));
        }
        if let Some(delimiter) = &source.delimiter
            && delimiter.get_ref().len() != 1
        {
            return Err(self.error_at(
                delimiter.span(),
                format!(
                    "sources.delimiter {:?}: must be exactly one ASCII character",
                    delimiter.get_ref()
                ),
            ));
        }
        for (key, value) in &source.options {
            let plain_secret = !matches!(value.get_ref(), OptionValue::Reference(_));
            if plain_secret && is_secret_option(key) {
                return Err(self.error_at(
                    value.span(),
                    format!(
                        "sources.options.{key} is a credential: write a reference, {{ secret = \"NAME\" }}, {{ env = \"NAME\" }} or {{ file = \"/path\" }}, not the value"
                    ),
                ));
            }
        }
        Ok(())
    }

    fn validate_database(&self, source: &RawSource) -> Result<(), ConfigError> {
        let name = source.name.get_ref();
        let kind = source.kind.get_ref();
        let (database_key, database) = match kind.as_str() {
            "oracle" => ("service_name", source.service_name.is_some()),
            _ => ("database", source.database.is_some()),
        };
        for (present, key) in [
            (source.host.is_some(), "host"),
            (database, database_key),
            (source.user.is_some(), "user"),
        ] {
            if !present {
                return Err(self.error_at(
                    source.name.span(),
                    format!("source {name:?} (kind = {kind:?}) needs {key}"),
                ));
            }
        }
        for (present, key) in [
            (source.url.is_some(), "url"),
            (source.format.is_some(), "format"),
            (!source.options.is_empty(), "options"),
        ] {
            if present {
                return Err(self.error_at(
                    source.name.span(),
                    format!("source {name:?}: {key} is for files sources, not {kind}"),
                ));
            }
        }
        let mssql = kind == "mssql";
        let oracle = kind == "oracle";
        for (present, key, owner) in [
            (
                source.tls.is_some() && (mssql || oracle),
                "tls",
                "postgres and mysql (SQL Server: encrypt)",
            ),
            (source.encrypt.is_some() && !mssql, "encrypt", "mssql"),
            (
                source.trust_server_certificate.is_some() && !mssql,
                "trust_server_certificate",
                "mssql",
            ),
            (source.instance.is_some() && !mssql, "instance", "mssql"),
            (
                source.service_name.is_some() && !oracle,
                "service_name",
                "oracle",
            ),
            (
                source.database.is_some() && oracle,
                "database",
                "postgres, mysql and mssql (Oracle: service_name)",
            ),
        ] {
            if present {
                return Err(self.error_at(
                    source.name.span(),
                    format!("source {name:?}: {key} is for {owner} sources, not {kind}"),
                ));
            }
        }
        if let Some(encrypt) = &source.encrypt
            && MssqlEncrypt::from_name(encrypt.get_ref()).is_none()
        {
            return Err(self.error_at(
                encrypt.span(),
                format!(
                    "sources.encrypt {:?}: expected one of {}",
                    encrypt.get_ref(),
                    MssqlEncrypt::NAMES.join(", ")
                ),
            ));
        }
        if let Some(password) = &source.password
            && !matches!(password.get_ref(), OptionValue::Reference(_))
        {
            return Err(self.error_at(
                password.span(),
                "sources.password is a credential: write a reference, { secret = \"NAME\" }, { env = \"NAME\" } or { file = \"/path\" }, not the value",
            ));
        }
        if let Some(tls) = &source.tls
            && TlsMode::from_name(tls.get_ref()).is_none()
        {
            return Err(self.error_at(
                tls.span(),
                format!(
                    "sources.tls {:?}: expected one of {}",
                    tls.get_ref(),
                    TlsMode::NAMES.join(", ")
                ),
            ));
        }
        for duration in [&source.connect_timeout, &source.refresh_interval]
            .into_iter()
            .flatten()
        {
            if let Err(message) = parse_duration(duration.get_ref()) {
                return Err(self.error_at(duration.span(), message));
            }
        }
        if let Some(size) = &source.pool_size
            && *size.get_ref() == 0
        {
            return Err(self.error_at(size.span(), "sources.pool_size must be at least 1"));
        }
        if let Err(message) = TablePatterns::new(&source.include, &source.exclude) {
            return Err(self.error_at(source.name.span(), format!("source {name:?}: {message}")));
        }
        Ok(())
    }

    fn base_dir(&self) -> PathBuf {
        self.path.parent().map(Path::to_owned).unwrap_or_default()
    }

    /// `[server] file_roots`, absolute; `None` when not set.
    pub fn file_roots(&self) -> Option<Vec<PathBuf>> {
        let roots = self.raw.server.file_roots.as_ref()?;
        let base = std::path::absolute(self.base_dir()).unwrap_or_else(|_| self.base_dir());
        Some(
            roots
                .iter()
                // `components` drops `.` and a trailing slash, so that a
                // root is shown as one path.
                .map(|root| base.join(root.get_ref()).components().collect())
                .collect(),
        )
    }

    /// Files holding keys that the config names: the `{ file = … }`
    /// references of its sources. Never readable as data by a files source.
    pub fn key_files(&self) -> Vec<PathBuf> {
        self.raw
            .sources
            .iter()
            .flat_map(|raw| raw.password.iter().chain(raw.options.values()))
            .filter_map(|value| match value.get_ref() {
                OptionValue::Reference(SecretRef::File(path)) => Some(path.clone()),
                _ => None,
            })
            .collect()
    }

    /// Every local files source of the config file against the file roots
    /// (see `file_roots.rs`): a refused one is a config error naming the
    /// source, its url and the rule.
    pub fn check_file_access(&self, data_dir: &Path) -> Result<(), ConfigError> {
        let roots = file_roots::FileRoots::new(Some(self), data_dir);
        for raw in &self.raw.sources {
            let Some(url) = raw.url.as_ref().filter(|_| raw.kind.get_ref() == "files") else {
                continue;
            };
            let location = absolute_location(url.get_ref(), &self.base_dir());
            if let Err(error) = roots.check_config_source(&location) {
                return Err(self.error_at(
                    url.span(),
                    format!("source {:?}: url {error}", raw.name.get_ref()),
                ));
            }
        }
        Ok(())
    }

    /// Sources ready for the engine. A source whose secret reference does not
    /// resolve becomes unavailable, not a start-up failure.
    pub fn sources(&self, data_dir: &Path) -> Vec<SourceSpec> {
        self.raw
            .sources
            .iter()
            .map(|raw| self.resolve_source(raw, data_dir))
            .collect()
    }

    /// (source, secret) for every `{ secret = … }` the sources hold.
    pub fn secret_references(&self) -> Vec<(String, String)> {
        let mut references = Vec::new();
        for raw in &self.raw.sources {
            let values = raw
                .password
                .iter()
                .chain(raw.options.values())
                .map(Spanned::get_ref);
            for value in values {
                if let OptionValue::Reference(reference) = value
                    && let Some(secret) = reference.secret_name()
                {
                    references.push((raw.name.get_ref().clone(), secret.to_owned()));
                }
            }
        }
        references
    }

    fn resolve_source(&self, raw: &RawSource, data_dir: &Path) -> SourceSpec {
        let name = raw.name.get_ref().clone();
        match raw.kind.get_ref().as_str() {
            "postgres" => return resolve_database(raw, DatabaseKind::Postgres, data_dir),
            "mysql" => return resolve_database(raw, DatabaseKind::Mysql, data_dir),
            "mssql" => return resolve_database(raw, DatabaseKind::Mssql, data_dir),
            "oracle" => return resolve_database(raw, DatabaseKind::Oracle, data_dir),
            _ => {}
        }
        let mut options = BTreeMap::new();
        for (key, value) in &raw.options {
            let resolved = match value.get_ref() {
                OptionValue::Text(text) => Ok(text.clone()),
                OptionValue::Bool(flag) => Ok(flag.to_string()),
                OptionValue::Integer(number) => Ok(number.to_string()),
                OptionValue::Reference(reference) => reference.resolve(data_dir),
            };
            match resolved {
                Ok(value) => {
                    options.insert(key.clone(), value);
                }
                Err(reason) => {
                    return SourceSpec::Unavailable {
                        name,
                        reason: format!("options.{key}: {reason}"),
                    };
                }
            }
        }
        let url = raw
            .url
            .as_ref()
            .map(|u| u.get_ref().clone())
            .unwrap_or_default();
        SourceSpec::Files(FilesSpec {
            name,
            url: absolute_location(&url, &self.base_dir()),
            format: raw
                .format
                .as_ref()
                .and_then(|f| FileFormatKind::from_name(f.get_ref())),
            csv: CsvOptions {
                has_header: raw.header.unwrap_or(true),
                delimiter: raw
                    .delimiter
                    .as_ref()
                    .and_then(|d| d.get_ref().bytes().next())
                    .unwrap_or(b','),
            },
            json_infer_records: raw.schema_infer_records.unwrap_or(1000),
            options,
        })
    }

    /// The effective config as TOML; references are shown as references,
    /// never resolved.
    pub fn effective_toml(&self, effective_server: &RawServer) -> String {
        #[derive(Serialize)]
        struct Effective<'a> {
            server: &'a RawServer,
            sources: &'a [RawSource],
        }
        toml::to_string_pretty(&Effective {
            server: effective_server,
            sources: &self.raw.sources,
        })
        .unwrap_or_else(|e| format!("# cannot print the effective config: {e}\n"))
    }
}

/// A validated postgres or mysql source, its password looked up.
fn resolve_database(raw: &RawSource, kind: DatabaseKind, data_dir: &Path) -> SourceSpec {
    let name = raw.name.get_ref().clone();
    let text = |field: &Option<Spanned<String>>| {
        field
            .as_ref()
            .map(|f| f.get_ref().clone())
            .unwrap_or_default()
    };
    let password = match raw.password.as_ref().map(|p| p.get_ref()) {
        Some(OptionValue::Reference(reference)) => match reference.password(data_dir) {
            Ok(password) => Some(password),
            Err(reason) => {
                return SourceSpec::Unavailable {
                    name,
                    reason: format!("password: {reason}"),
                };
            }
        },
        _ => None,
    };
    let duration = |field: &Option<Spanned<String>>, default: Duration| {
        field
            .as_ref()
            .and_then(|d| parse_duration(d.get_ref()).ok())
            .unwrap_or(default)
    };
    SourceSpec::Database(DatabaseSpec {
        host: text(&raw.host),
        port: raw
            .port
            .as_ref()
            .map(|p| *p.get_ref())
            .unwrap_or(kind.default_port()),
        database: match kind {
            DatabaseKind::Oracle => text(&raw.service_name),
            _ => text(&raw.database),
        },
        user: text(&raw.user),
        password,
        tls: raw
            .tls
            .as_ref()
            .and_then(|t| TlsMode::from_name(t.get_ref()))
            .unwrap_or_default(),
        pool_size: raw.pool_size.as_ref().map(|p| *p.get_ref()).unwrap_or(10),
        connect_timeout: duration(&raw.connect_timeout, Duration::from_secs(5)),
        refresh_interval: duration(&raw.refresh_interval, Duration::from_secs(60)),
        tables: TablePatterns::new(&raw.include, &raw.exclude).unwrap_or_default(),
        pushdown: raw.pushdown.unwrap_or(true),
        mssql: MssqlOptions {
            encrypt: raw
                .encrypt
                .as_ref()
                .and_then(|e| MssqlEncrypt::from_name(e.get_ref()))
                .unwrap_or_default(),
            trust_server_certificate: raw.trust_server_certificate.unwrap_or(false),
            instance: raw.instance.as_ref().map(|i| i.get_ref().clone()),
        },
        kind,
        name,
    })
}

/// `"5s"`, `"500ms"`, `"2m"`.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let digits = text.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = &text[digits.len()..];
    let number: u64 = digits
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a duration (write e.g. \"5s\" or \"500ms\")"))?;
    let duration = match unit {
        "ms" => Duration::from_millis(number),
        "s" => Duration::from_secs(number),
        "m" | "min" => Duration::from_secs(number * 60),
        "h" => Duration::from_secs(number * 3600),
        _ => {
            return Err(format!(
                "{text:?}: unknown unit {unit:?} (use ms, s, m or h)"
            ));
        }
    };
    if duration.is_zero() {
        return Err(format!("{text:?} must be longer than zero"));
    }
    Ok(duration)
}

/// What `cache_ttl` and `cache_stale` say about keeping results over `source`.
pub fn cache_policy(source: &RawSource) -> SourceCaching {
    let files = source.kind.get_ref() == "files";
    let fresh_for = match source.cache_ttl.as_ref().map(|t| t.get_ref().trim()) {
        Some("off") => return SourceCaching::Off,
        Some(ttl) => match parse_duration(ttl) {
            Ok(ttl) => Some(ttl),
            Err(_) => return SourceCaching::Off,
        },
        // Files are kept until one changes; databases only when asked.
        None if files => None,
        None => return SourceCaching::Unset,
    };
    let stale_for = source
        .cache_stale
        .as_ref()
        .and_then(|s| parse_duration(s.get_ref()).ok())
        .unwrap_or_default();
    SourceCaching::Keep(SourcePolicy {
        fresh_for,
        stale_for,
        files,
    })
}

/// "256MiB", "64KiB", "1GiB", "10MB", "4096": bytes.
fn parse_bytes(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let digits = text.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = text[digits.len()..].to_ascii_lowercase();
    let number: u64 = digits
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a size (write e.g. \"256MiB\")"))?;
    let scale: u64 = match unit.as_str() {
        "" | "b" => 1,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        _ => {
            return Err(format!(
                "{text:?}: unknown unit {unit:?} (use B, KiB, MiB, GiB, kB, MB or GB)"
            ));
        }
    };
    number
        .checked_mul(scale)
        .ok_or_else(|| format!("{text:?} is too big"))
}

/// Relative paths in a config file are relative to the file, as in Cargo.
fn absolute_location(url: &str, base: &Path) -> String {
    if url.contains("://") || url.starts_with('/') {
        return url.to_owned();
    }
    let joined = base.join(url);
    let absolute = std::path::absolute(&joined).unwrap_or(joined);
    let mut text = absolute.display().to_string();
    if url.ends_with('/') && !text.ends_with('/') {
        text.push('/');
    }
    text
}

fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some('a'..='z'))
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ConfigFile, ConfigError> {
        ConfigFile::parse(Path::new("/etc/tributary.toml"), text.to_owned())
    }

    #[test]
    fn unknown_key_names_key_file_and_line() {
        let error = parse("[server]\npg_addr = \"127.0.0.1:5433\"\n\n[[sources]]\nname = \"lake\"\nkind = \"files\"\nurll = \"x\"\n")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(error.contains("/etc/tributary.toml:7"), "{error}");
        assert!(error.contains("urll"), "{error}");
    }

    #[test]
    fn wrong_type_names_line() {
        let error = parse(
            "[[sources]]\nname = \"lake\"\nkind = \"files\"\nurl = \"/tmp\"\nheader = \"yes\"\n",
        )
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(error.contains(":5"), "{error}");
    }

    #[test]
    fn plain_text_secret_is_refused() {
        let error = parse("[[sources]]\nname = \"lake\"\nkind = \"files\"\nurl = \"s3://b/\"\n[sources.options]\nsecret_access_key = \"hunter2\"\n")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(error.contains("secret_access_key"), "{error}");
        assert!(!error.contains("hunter2"), "{error}");
    }

    #[test]
    fn reference_resolves_from_env_and_debug_hides_nothing_secret() {
        let config = parse(
            "[[sources]]\nname = \"lake\"\nkind = \"files\"\nurl = \"s3://b/\"\n[sources.options]\nsecret_access_key = { env = \"TRIBUTARY_TEST_UNSET_VARIABLE\" }\n",
        );
        let sources = config
            .map(|c| c.sources(Path::new("/nonexistent")))
            .unwrap_or_default();
        assert!(
            matches!(&sources[..], [SourceSpec::Unavailable { reason, .. }] if reason.contains("TRIBUTARY_TEST_UNSET_VARIABLE")),
            "{sources:?}"
        );
    }

    #[test]
    fn relative_urls_are_relative_to_the_config_file() {
        assert_eq!(
            absolute_location("data/", Path::new("/etc/trib")),
            "/etc/trib/data/"
        );
        assert_eq!(absolute_location("s3://b/x", Path::new("/etc")), "s3://b/x");
    }

    const POSTGRES: &str = "[[sources]]\nname = \"sales\"\nkind = \"postgres\"\nhost = \"db\"\ndatabase = \"sales\"\nuser = \"reporting\"\n";

    fn error_of(text: &str) -> String {
        parse(text).err().map(|e| e.to_string()).unwrap_or_default()
    }

    #[test]
    fn a_database_source_resolves_with_defaults_and_a_hidden_password() {
        let secret_file =
            std::env::temp_dir().join(format!("tributary-config-test-{}", std::process::id()));
        std::fs::write(&secret_file, "s3cr3t-value\n").expect("write the secret file");
        let text = format!(
            "{POSTGRES}password = {{ file = {:?} }}\ninclude = [\"public.*\"]\nconnect_timeout = \"750ms\"\n",
            secret_file.display().to_string()
        );
        let sources = parse(&text).map(|c| c.sources(Path::new("/nonexistent")));
        let _ = std::fs::remove_file(&secret_file);
        let Ok([SourceSpec::Database(spec)]) = sources.as_deref() else {
            panic!("{sources:?}");
        };
        assert_eq!(spec.port, 5432);
        assert_eq!(spec.tls, TlsMode::Prefer);
        assert_eq!(spec.pool_size, 10);
        assert_eq!(spec.connect_timeout, Duration::from_millis(750));
        assert!(spec.pushdown);
        assert!(spec.tables.exposes("public", "orders"));
        assert!(!spec.tables.exposes("hr", "salaries"));
        let shown = format!("{spec:?}");
        assert!(!shown.contains("s3cr3t-value"), "{shown}");
    }

    #[test]
    fn debug_of_every_config_type_hides_resolved_values() {
        let dir = tempfile::tempdir().expect("temp dir");
        let secret_file = dir.path().join("value");
        std::fs::write(&secret_file, "Leak-Canary-4f1d\n").expect("write the secret file");
        let reference = format!("{{ file = {:?} }}", secret_file.display().to_string());
        let text = format!(
            "{POSTGRES}password = {reference}\n\n[[sources]]\nname = \"lake\"\nkind = \"files\"\nurl = \"s3://b/\"\n\
             [sources.options]\nsecret_access_key = {reference}\nsession_token = {{ secret = \"tok\" }}\n"
        );
        let Ok(config) = parse(&text) else {
            panic!("the config parses");
        };
        let sources = config.sources(dir.path());
        let password = match &sources[0] {
            SourceSpec::Database(spec) => spec.password.clone(),
            other => panic!("{other:?}"),
        };
        let shown = format!(
            "{config:?} {sources:?} {password:?} {:?} {}",
            config.secret_references(),
            config.effective_toml(&RawServer::default())
        );
        assert!(!shown.contains("Leak-Canary-4f1d"), "{shown}");
        assert!(shown.contains("tok"), "references are shown: {shown}");
        // The value is there, for the connection only.
        let value = password.map(|p| p.current().map(|v| v.expose_secret().to_owned()));
        assert_eq!(value, Some(Ok("Leak-Canary-4f1d".to_owned())));
    }

    #[test]
    fn a_database_password_must_be_a_reference() {
        let error = error_of(&format!("{POSTGRES}password = \"hunter2\"\n"));
        assert!(
            error.contains(":7") && error.contains("password"),
            "{error}"
        );
        assert!(!error.contains("hunter2"), "{error}");
    }

    #[test]
    fn database_source_mistakes_name_the_key() {
        let missing_host = POSTGRES.replace("host = \"db\"\n", "");
        assert!(error_of(&missing_host).contains("needs host"));
        let tls = error_of(&format!("{POSTGRES}tls = \"maybe\"\n"));
        assert!(tls.contains("verify-full") && tls.contains(":7"), "{tls}");
        let timeout = error_of(&format!("{POSTGRES}connect_timeout = \"soon\"\n"));
        assert!(timeout.contains("soon"), "{timeout}");
        let url = error_of(&format!("{POSTGRES}url = \"/tmp\"\n"));
        assert!(url.contains("files sources"), "{url}");
        let pattern = error_of(&format!("{POSTGRES}include = [\"public.[\"]\n"));
        assert!(pattern.contains("public.["), "{pattern}");
    }

    #[test]
    fn durations_take_units() {
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("5").is_err());
    }

    #[test]
    fn cache_settings_take_sizes_durations_and_off() {
        assert_eq!(parse_bytes("256MiB"), Ok(256 << 20));
        assert_eq!(parse_bytes("64 KiB"), Ok(64 << 10));
        assert_eq!(parse_bytes("10MB"), Ok(10_000_000));
        assert_eq!(parse_bytes("4096"), Ok(4096));
        assert!(parse_bytes("lots").is_err());
        let source = "[[sources]]\nname = \"db\"\nkind = \"postgres\"\nhost = \"h\"\n\
                      database = \"d\"\nuser = \"u\"\n";
        let policy = |extra: &str| {
            let config = parse(&format!("{source}{extra}")).expect("valid");
            cache_policy(&config.raw.sources[0])
        };
        assert_eq!(policy(""), SourceCaching::Unset);
        assert_eq!(policy("cache_ttl = \"off\""), SourceCaching::Off);
        assert_eq!(
            policy("cache_ttl = \"5m\"\ncache_stale = \"30s\""),
            SourceCaching::Keep(SourcePolicy {
                fresh_for: Some(Duration::from_secs(300)),
                stale_for: Duration::from_secs(30),
                files: false,
            })
        );
        let files =
            parse("[[sources]]\nname = \"f\"\nkind = \"files\"\nurl = \"/d/\"\n").expect("valid");
        assert_eq!(
            cache_policy(&files.raw.sources[0]),
            SourceCaching::Keep(SourcePolicy {
                fresh_for: None,
                stale_for: Duration::ZERO,
                files: true,
            })
        );
        assert!(error_of(&format!("{source}cache_ttl = \"soon\"")).contains("cache_ttl"));
        assert!(
            error_of(&format!("{source}cache_stale = \"1m\"")).contains("needs a cache_ttl"),
            "stale without a ttl"
        );
        assert!(error_of("[cache]\nmax_bytes = \"lots\"\n").contains("cache.max_bytes"));
        let limits = parse("[cache]\nmax_bytes = \"1MiB\"\n")
            .expect("valid")
            .cache_limits();
        assert_eq!(
            (limits.max_bytes, limits.max_result_bytes),
            (1 << 20, 16 << 20)
        );
    }
}

#[cfg(test)]
mod kind_tests {
    use std::path::Path;

    use tributary_catalog::SourceSpec;
    use tributary_connectors::remote::{DatabaseKind, MssqlEncrypt};

    use super::ConfigFile;

    fn parse(text: &str) -> Result<ConfigFile, String> {
        ConfigFile::parse(Path::new("/etc/tributary.toml"), text.to_owned())
            .map_err(|e| e.to_string())
    }

    const MSSQL: &str = "[[sources]]\nname = \"erp\"\nkind = \"mssql\"\nhost = \"sql\"\ndatabase = \"erp\"\nuser = \"reporting\"\n";
    const ORACLE: &str = "[[sources]]\nname = \"hr\"\nkind = \"oracle\"\nhost = \"ora\"\nservice_name = \"FREEPDB1\"\nuser = \"hr\"\n";

    #[test]
    fn sql_server_and_oracle_sources_resolve_with_their_own_keys() {
        let text = format!(
            "{MSSQL}encrypt = \"required\"\ntrust_server_certificate = true\ninstance = \"SQLEXPRESS\"\n\n{ORACLE}"
        );
        let sources = parse(&text).map(|c| c.sources(Path::new("/nonexistent")));
        let Ok([SourceSpec::Database(mssql), SourceSpec::Database(oracle)]) = sources.as_deref()
        else {
            panic!("{sources:?}");
        };
        assert_eq!(mssql.kind, DatabaseKind::Mssql);
        assert_eq!(mssql.port, 1433);
        assert_eq!(mssql.mssql.encrypt, MssqlEncrypt::Required);
        assert!(mssql.mssql.trust_server_certificate);
        assert_eq!(mssql.mssql.instance.as_deref(), Some("SQLEXPRESS"));
        assert_eq!(mssql.default_schema(), "dbo");
        assert_eq!(oracle.kind, DatabaseKind::Oracle);
        assert_eq!(oracle.port, 1521);
        assert_eq!(oracle.database, "FREEPDB1");
        assert_eq!(oracle.default_schema(), "hr");
        // SQL Server encrypts by default, as its own drivers do.
        let plain = parse(MSSQL).map(|c| c.sources(Path::new("/nonexistent")));
        assert!(
            matches!(plain.as_deref(), Ok([SourceSpec::Database(s)]) if s.mssql.encrypt == MssqlEncrypt::On && !s.mssql.trust_server_certificate),
            "{plain:?}"
        );
    }

    #[test]
    fn keys_of_another_kind_are_refused_by_name() {
        for (text, words) in [
            (format!("{MSSQL}tls = \"require\"\n"), ["tls", "encrypt"]),
            (
                format!("{MSSQL}encrypt = \"yes\"\n"),
                ["sources.encrypt", "off, on, required"],
            ),
            (
                format!("{MSSQL}service_name = \"x\"\n"),
                ["service_name", "oracle"],
            ),
            (
                format!("{ORACLE}database = \"x\"\n"),
                ["database", "service_name"],
            ),
            (format!("{ORACLE}encrypt = \"on\"\n"), ["encrypt", "mssql"]),
            (
                "[[sources]]\nname = \"hr\"\nkind = \"oracle\"\nhost = \"ora\"\nuser = \"hr\"\n"
                    .to_owned(),
                ["needs service_name", "hr"],
            ),
            (
                format!(
                    "{}trust_server_certificate = true\n",
                    MSSQL.replace("mssql", "postgres")
                ),
                ["trust_server_certificate", "mssql"],
            ),
        ] {
            let error = parse(&text).err().unwrap_or_default();
            for word in words {
                assert!(error.contains(word), "{text}\n{error}");
            }
            assert!(error.contains("/etc/tributary.toml:"), "{error}");
        }
    }
}
