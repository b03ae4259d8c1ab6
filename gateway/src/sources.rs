//! The sources the gateway serves and where each is defined: the config
//! file and the embedded sample (fixed while the server runs), or the
//! catalog store (created, replaced and deleted through the HTTP API, kept
//! across restarts). A change takes effect at once in every session.
//!
//! An API definition has the fields of a config file entry, as JSON, and
//! goes through the same validation. A secret sent as a plain value is put
//! into the credentials store as `source.<name>.<field>` and the definition
//! keeps a `{"secret": …}` reference in its place.
//!
//! A source and its secrets live in two files (catalog.db and
//! credentials.json), so no single write covers both. Instead catalog.db
//! keeps a journal, `pending_secrets`: a secret's name is committed there
//! before the secret is written, and the source row that references it (or,
//! for a replaced or deleted source, stops referencing it) is committed
//! after. Settling the journal removes every pending secret that no source
//! references. It runs after each change and at start, so a process killed
//! between the two writes leaves at most a pending secret that the next
//! start removes, never an orphan no one knows about. (Keeping the sealed
//! value in the catalog row would make it one write, but every other
//! secret is in the credentials store, where `tributary secrets`, key
//! rotation and the connectors' lookups find it.)

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use datafusion::prelude::SessionContext;
use secrecy::SecretString;
use serde_json::{Map, Value, json};
use tributary_catalog::{
    CatalogStore, LiveSources, SourceSpec, SourceStatus, StoredSource, build_session,
};
use tributary_connectors::files::{CsvOptions, FilesSpec};
use tributary_credentials::STORE_FILE as CREDENTIALS_FILE;

use crate::cache::{ResultCache, SourceCaching, SourcePolicy};
use crate::config::file_roots::FileRoots;
use crate::config::{ConfigFile, cache_policy, is_secret_option};
use crate::engine::Settings;
use crate::{sample, secrets, state};

/// Where a source is defined.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    Config,
    Sample,
    Api,
}

impl Origin {
    pub fn name(self) -> &'static str {
        match self {
            Self::Config => "config",
            Self::Sample => "sample",
            Self::Api => "api",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("source \"{0}\" does not exist")]
    NotFound(String),
    #[error("source \"{0}\" already exists")]
    Exists(String),
    #[error("source \"{0}\" is defined in {1}: change it there")]
    Fixed(String, String),
    #[error("{0}")]
    Invalid(String),
    /// A local path the file roots do not allow (SQLSTATE 42501).
    #[error("{0}")]
    Forbidden(String),
    #[error(
        "a plain secret value needs the credentials store: start the gateway with TRIBUTARY_MASTER_KEY or TRIBUTARY_MASTER_KEY_FILE set, or send a reference {{\"secret\": \"NAME\"}} ({0})"
    )]
    NoCredentials(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// A source fixed for the life of the process.
#[derive(Debug)]
struct FixedSource {
    origin: Origin,
    /// Its config entry as JSON, secrets as references.
    definition: Value,
    spec: SourceSpec,
    /// How long results over it are kept.
    cache: SourceCaching,
}

#[derive(Debug)]
pub struct Sources {
    pub live: LiveSources,
    store: CatalogStore,
    data_dir: PathBuf,
    /// Shown in errors about fixed sources.
    config_path: String,
    fixed: BTreeMap<String, FixedSource>,
    /// Where sources created through the API may read local files.
    file_roots: FileRoots,
    /// One change at a time, so that the store and the engine agree.
    changing: tokio::sync::Mutex<()>,
    /// What `/readyz` last found of the credentials store.
    credentials_checked: Mutex<CredentialsChecked>,
    /// Results kept for the sources (used by `serve`).
    pub cache: Arc<ResultCache>,
}

/// A source as the API shows it.
pub struct SourceView {
    pub origin: Origin,
    pub definition: Value,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
    pub status: Option<SourceStatus>,
}

impl SourceView {
    fn stored(stored: StoredSource, status: Option<SourceStatus>) -> Self {
        Self {
            origin: Origin::Api,
            definition: serde_json::from_str(&stored.definition).unwrap_or(Value::Null),
            created_at: Some(stored.created_at),
            updated_at: Some(stored.updated_at),
            status,
        }
    }

    pub fn to_json(&self) -> Value {
        let mut view = json!({
            "name": self.definition.get("name"),
            "origin": self.origin.name(),
            "definition": self.definition,
        });
        if let Some(created) = &self.created_at {
            view["created_at"] = json!(created);
        }
        if let Some(updated) = &self.updated_at {
            view["updated_at"] = json!(updated);
        }
        if let Some(status) = &self.status {
            view["status"] = status_json(status);
        }
        view
    }
}

pub fn status_json(status: &SourceStatus) -> Value {
    json!({
        "default_schema": status.default_schema,
        "tables": status.tables.len(),
        "problems": status.problems,
    })
}

impl Sources {
    /// Opens the catalog store and builds the engine over every source.
    pub async fn open(settings: &Settings) -> anyhow::Result<(SessionContext, Arc<Self>)> {
        std::fs::create_dir_all(&settings.data_dir).with_context(|| {
            format!("cannot create the data dir {}", settings.data_dir.display())
        })?;
        let store = CatalogStore::open(&settings.data_dir)?;
        let fixed = fixed_sources(settings)?;
        // A change killed between its two writes is finished here.
        let lock = store.lock_changes()?;
        settle_pending_secrets(&store, &fixed, &settings.data_dir);
        drop(lock);
        // The config's own sources were checked when it was loaded.
        let file_roots = FileRoots::new(settings.config.as_ref(), &settings.data_dir);
        let cache = ResultCache::new(
            settings
                .config
                .as_ref()
                .map(ConfigFile::cache_limits)
                .unwrap_or_default(),
        );
        for (name, fixed) in &fixed {
            cache.set_policy(name, Some(fixed.cache));
        }
        let mut specs: Vec<SourceSpec> = fixed.values().map(|f| f.spec.clone()).collect();
        for stored in store.sources()? {
            if fixed.contains_key(&stored.name) {
                tracing::warn!(
                    source = %stored.name,
                    "the config file defines this source too: the config file's definition is served, the one created through the API is not"
                );
                continue;
            }
            let definition = serde_json::from_str::<Value>(&stored.definition);
            if let Ok(definition) = &definition {
                cache.set_policy(&stored.name, policy_of(&stored.name, definition));
            }
            let spec = definition
                .map_err(|e| {
                    SourceError::Invalid(format!("its stored definition is not valid: {e}"))
                })
                .and_then(|definition| {
                    resolve_stored(&stored.name, &definition, &settings.data_dir, &file_roots)
                })
                .unwrap_or_else(|error| SourceSpec::Unavailable {
                    name: stored.name.clone(),
                    reason: error.to_string(),
                });
            specs.push(spec);
        }
        let (context, live) = build_session(&specs, tributary_pgwire::EMULATED_SERVER_VERSION)
            .await
            .context("cannot set up the query engine")?;

        let sources = Self {
            live,
            store,
            data_dir: settings.data_dir.clone(),
            config_path: settings
                .config
                .as_ref()
                .map(|c| c.path.display().to_string())
                .unwrap_or_else(|| "the embedded default".to_owned()),
            fixed,
            file_roots,
            changing: tokio::sync::Mutex::new(()),
            credentials_checked: Mutex::new(CredentialsChecked {
                seen: settings.data_dir.join(CREDENTIALS_FILE).exists(),
                sound: None,
            }),
            cache,
        };
        Ok((context, Arc::new(sources)))
    }

    pub fn store(&self) -> &CatalogStore {
        &self.store
    }

    /// Whether both stores can be read (for `/readyz`), cheaply: the
    /// catalog's file, header and one query; the credentials store read
    /// whole only when its file changed since it was last found sound.
    pub fn ready(&self) -> Result<(), NotReady> {
        self.store.check().map_err(|e| NotReady {
            store: e.path().to_owned(),
            reason: e.to_string(),
        })?;
        let path = self.data_dir.join(CREDENTIALS_FILE);
        let not_ready = |reason: String| NotReady {
            store: path.clone(),
            reason,
        };
        let mut checked = self
            .credentials_checked
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let version = match std::fs::metadata(&path) {
            Ok(metadata) => file_version(&metadata),
            // The gateway never removes the file once it exists.
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return if checked.seen {
                    Err(not_ready(format!(
                        "the credentials store {} was removed while the server runs: the secrets it held are gone",
                        path.display()
                    )))
                } else {
                    Ok(())
                };
            }
            Err(error) => {
                return Err(not_ready(format!(
                    "the credentials store {}: {error}",
                    path.display()
                )));
            }
        };
        checked.seen = true;
        if checked.sound == Some(version) {
            return Ok(());
        }
        state::check_credentials(&self.data_dir).map_err(|e| not_ready(e.to_string()))?;
        checked.sound = Some(version);
        Ok(())
    }

    pub fn list(&self) -> Result<Vec<SourceView>, SourceError> {
        let statuses: BTreeMap<String, SourceStatus> = self
            .live
            .statuses()
            .into_iter()
            .map(|s| (s.name.clone(), s))
            .collect();
        let mut views: Vec<SourceView> = self
            .fixed
            .iter()
            .map(|(name, fixed)| SourceView {
                origin: fixed.origin,
                definition: fixed.definition.clone(),
                created_at: None,
                updated_at: None,
                status: statuses.get(name).cloned(),
            })
            .collect();
        for stored in self.store.sources().map_err(anyhow::Error::from)? {
            if self.fixed.contains_key(&stored.name) {
                continue;
            }
            let status = statuses.get(&stored.name).cloned();
            views.push(SourceView::stored(stored, status));
        }
        views.sort_by(|a, b| name_of(&a.definition).cmp(name_of(&b.definition)));
        Ok(views)
    }

    pub fn get(&self, name: &str) -> Result<SourceView, SourceError> {
        if let Some(fixed) = self.fixed.get(name) {
            return Ok(SourceView {
                origin: fixed.origin,
                definition: fixed.definition.clone(),
                created_at: None,
                updated_at: None,
                status: self.live.status(name),
            });
        }
        let stored = self
            .store
            .source(name)
            .map_err(anyhow::Error::from)?
            .ok_or_else(|| SourceError::NotFound(name.to_owned()))?;
        Ok(SourceView::stored(stored, self.live.status(name)))
    }

    /// `POST /v1/sources` (`replace` false) and `PUT /v1/sources/{name}`
    /// (`replace` true: creates or replaces). True when created.
    pub async fn define(
        &self,
        name: &str,
        body: Value,
        replace: bool,
    ) -> Result<(bool, SourceView), SourceError> {
        if self.fixed.contains_key(name) {
            return Err(if replace {
                SourceError::Fixed(name.to_owned(), self.config_path.clone())
            } else {
                SourceError::Exists(name.to_owned())
            });
        }
        let (definition, plain_secrets) = take_plain_secrets(name, body)?;
        check_definition(name, &definition)?;
        // Before anything is stored: a refused source leaves no trace.
        if let Some(url) = definition.get("url").and_then(Value::as_str) {
            self.file_roots
                .check_api_source(url)
                .map_err(|e| SourceError::Forbidden(format!("source \"{name}\": url {e}")))?;
        }
        let _changing = self.changing.lock().await;
        let old = self.store.source(name).map_err(anyhow::Error::from)?;
        let exists = old.is_some();
        if exists && !replace {
            return Err(SourceError::Exists(name.to_owned()));
        }
        let old_definition =
            old.and_then(|old| serde_json::from_str::<Value>(&old.definition).ok());
        let referenced = referenced_secrets(&definition);
        let unused: Vec<String> = self
            .owned_secrets(name, old_definition.as_ref())
            .into_iter()
            .filter(|secret| !referenced.contains(secret))
            .collect();
        let lock = self.store.lock_changes().map_err(anyhow::Error::from)?;
        let written = (|| {
            if !plain_secrets.is_empty() {
                let store = secrets::store(&self.data_dir)
                    .map_err(|e| SourceError::NoCredentials(e.to_string()))?;
                // Journal first, so that a secret on disk is always either
                // referenced or pending.
                let names: Vec<String> = plain_secrets.iter().map(|(n, _)| n.clone()).collect();
                self.store
                    .add_pending_secrets(&names)
                    .map_err(anyhow::Error::from)?;
                for (secret, value) in &plain_secrets {
                    store
                        .set(secret, value)
                        .map_err(|e| SourceError::Internal(anyhow::anyhow!(e)))?;
                }
            }
            // After the secrets: a files source reads its keys now. A
            // definition refused here leaves its secrets pending, and so
            // removed below.
            let spec = resolve(name, &definition, &self.data_dir).map_err(SourceError::Invalid)?;
            self.store
                .put_source(name, &definition.to_string(), &unused)
                .map_err(anyhow::Error::from)?;
            Ok::<_, SourceError>(spec)
        })();
        // Whether or not the source was written: what no source references
        // now goes.
        settle_pending_secrets(&self.store, &self.fixed, &self.data_dir);
        drop(lock);
        let spec = written?;
        self.live
            .put(&spec)
            .await
            .map_err(|e| SourceError::Internal(anyhow::anyhow!(e)))?;
        // Results read from the old definition are dropped with it.
        self.cache.set_policy(name, policy_of(name, &definition));
        tracing::info!(source = %name, "source {} through the API", if exists { "replaced" } else { "created" });
        Ok((!exists, self.get(name)?))
    }

    pub async fn delete(&self, name: &str) -> Result<(), SourceError> {
        if self.fixed.contains_key(name) {
            return Err(SourceError::Fixed(
                name.to_owned(),
                self.config_path.clone(),
            ));
        }
        let _changing = self.changing.lock().await;
        let old_definition = self
            .store
            .source(name)
            .map_err(anyhow::Error::from)?
            .and_then(|old| serde_json::from_str::<Value>(&old.definition).ok());
        let owned = self.owned_secrets(name, old_definition.as_ref());
        let lock = self.store.lock_changes().map_err(anyhow::Error::from)?;
        if !self
            .store
            .delete_source(name, &owned)
            .map_err(anyhow::Error::from)?
        {
            return Err(SourceError::NotFound(name.to_owned()));
        }
        self.live.remove(name);
        self.cache.set_policy(name, None);
        settle_pending_secrets(&self.store, &self.fixed, &self.data_dir);
        drop(lock);
        tracing::info!(source = %name, "source deleted through the API");
        Ok(())
    }

    /// Opens the source afresh, apart from the one being served: connects,
    /// lists its tables, and says what failed.
    pub async fn test(&self, name: &str) -> Result<SourceStatus, SourceError> {
        let spec = match self.fixed.get(name) {
            Some(fixed) => fixed.spec.clone(),
            None => {
                let stored = self
                    .store
                    .source(name)
                    .map_err(anyhow::Error::from)?
                    .ok_or_else(|| SourceError::NotFound(name.to_owned()))?;
                let definition: Value = serde_json::from_str(&stored.definition)
                    .map_err(|e| SourceError::Invalid(e.to_string()))?;
                resolve_stored(name, &definition, &self.data_dir, &self.file_roots)?
            }
        };
        self.live
            .probe(&spec)
            .await
            .map_err(|e| SourceError::Internal(anyhow::anyhow!(e)))
    }

    /// The secrets that belong to source `name`, as the API named them
    /// (`source.<name>.<field>`): those `definition` references, and any
    /// other the credentials store holds under that prefix (left by an
    /// earlier definition).
    fn owned_secrets(&self, name: &str, definition: Option<&Value>) -> Vec<String> {
        let prefix = format!("source.{name}.");
        let mut owned: BTreeSet<String> = definition
            .map(referenced_secrets)
            .unwrap_or_default()
            .into_iter()
            .filter(|secret| secret.starts_with(&prefix))
            .collect();
        if let Ok(store) = secrets::store(&self.data_dir) {
            match store.list() {
                Ok(listed) => owned.extend(
                    listed
                        .into_iter()
                        .map(|info| info.name)
                        .filter(|secret| secret.starts_with(&prefix)),
                ),
                Err(error) => {
                    tracing::warn!(source = %name, "cannot list stored secrets to find unused ones: {error}");
                }
            }
        }
        owned.into_iter().collect()
    }
}

/// The credentials store as `/readyz` last found it.
#[derive(Debug)]
struct CredentialsChecked {
    /// Its file has existed while the server ran.
    seen: bool,
    /// The file's version when it was last found sound.
    sound: Option<(std::time::SystemTime, u64, u64)>,
}

/// A store `/readyz` cannot read.
#[derive(Debug)]
pub struct NotReady {
    pub store: PathBuf,
    pub reason: String,
}

/// When a file changed, its size and inode: a new version on every write,
/// whether in place or by rename.
fn file_version(metadata: &std::fs::Metadata) -> (std::time::SystemTime, u64, u64) {
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(metadata);
    #[cfg(not(unix))]
    let inode = 0;
    (
        metadata.modified().unwrap_or(std::time::UNIX_EPOCH),
        metadata.len(),
        inode,
    )
}

/// Settles the catalog's pending secrets: one that no source (stored or
/// fixed) references is removed from the credentials store, then its name
/// leaves the journal. Best effort, logged: what cannot be settled now
/// stays pending for the next change or start. The caller holds
/// `lock_changes`, so no other process is between its two writes.
fn settle_pending_secrets(
    store: &CatalogStore,
    fixed: &BTreeMap<String, FixedSource>,
    data_dir: &Path,
) {
    let pending = match store.pending_secrets() {
        Ok(pending) if pending.is_empty() => return,
        Ok(pending) => pending,
        Err(error) => {
            tracing::warn!("cannot read the pending secrets: {error}");
            return;
        }
    };
    let mut referenced: BTreeSet<String> = fixed
        .values()
        .flat_map(|fixed| referenced_secrets(&fixed.definition))
        .collect();
    let stored = match store.sources() {
        Ok(stored) => stored,
        Err(error) => {
            tracing::warn!("cannot read the stored sources to settle pending secrets: {error}");
            return;
        }
    };
    for source in stored {
        match serde_json::from_str::<Value>(&source.definition) {
            Ok(definition) => referenced.extend(referenced_secrets(&definition)),
            // Its references are unknown: remove nothing.
            Err(_) => {
                tracing::warn!(source = %source.name, "its stored definition is not valid JSON: pending secrets are kept until it is replaced or deleted");
                return;
            }
        }
    }
    let mut credentials = None;
    for name in pending {
        if !referenced.contains(&name) {
            let opened = credentials.get_or_insert_with(|| secrets::store(data_dir));
            let removed = match opened {
                Ok(credentials) => credentials.remove(&name),
                Err(error) => {
                    tracing::warn!(secret = %name, "cannot remove a secret no source uses: {error}");
                    continue;
                }
            };
            match removed {
                Ok(true) => {
                    tracing::info!(secret = %name, "removed a secret no source uses (from a change that was replaced, deleted or did not finish)")
                }
                Ok(false) => {}
                Err(error) => {
                    tracing::warn!(secret = %name, "cannot remove a secret no source uses: {error}");
                    continue;
                }
            }
        }
        if let Err(error) = store.settle_pending_secret(&name) {
            tracing::warn!(secret = %name, "cannot settle a pending secret: {error}");
        }
    }
}

fn name_of(definition: &Value) -> &str {
    definition.get("name").and_then(Value::as_str).unwrap_or("")
}

/// The config file's sources (or the sample), with their entries as JSON.
fn fixed_sources(settings: &Settings) -> anyhow::Result<BTreeMap<String, FixedSource>> {
    let mut fixed = BTreeMap::new();
    match &settings.config {
        Some(config) => {
            for (raw, spec) in config
                .raw
                .sources
                .iter()
                .zip(config.sources(&settings.data_dir))
            {
                let definition =
                    serde_json::to_value(raw).context("cannot show a config source as JSON")?;
                fixed.insert(
                    spec.name().to_owned(),
                    FixedSource {
                        origin: Origin::Config,
                        definition,
                        spec,
                        cache: cache_policy(raw),
                    },
                );
            }
        }
        None => {
            let dir = sample::ensure_sample(&settings.data_dir)?;
            let url = format!("{}/", dir.display());
            fixed.insert(
                "sample".to_owned(),
                FixedSource {
                    origin: Origin::Sample,
                    definition: json!({"name": "sample", "kind": "files", "url": url}),
                    spec: SourceSpec::Files(FilesSpec {
                        name: "sample".to_owned(),
                        url,
                        format: None,
                        csv: CsvOptions::default(),
                        json_infer_records: 1000,
                        options: Default::default(),
                    }),
                    cache: SourceCaching::Keep(SourcePolicy {
                        fresh_for: None,
                        stale_for: std::time::Duration::ZERO,
                        files: true,
                    }),
                },
            );
        }
    }
    Ok(fixed)
}

/// Moves plain secret values out of `body`: `password`, and options whose
/// names say they are credentials. Returns the definition with references
/// in their place, and (secret name, value) to store.
fn take_plain_secrets(
    name: &str,
    body: Value,
) -> Result<(Value, Vec<(String, SecretString)>), SourceError> {
    let Value::Object(mut body) = body else {
        return Err(SourceError::Invalid(
            "a source is a JSON object with the fields of a config file entry".to_owned(),
        ));
    };
    match body.get("name") {
        None => {
            body.insert("name".to_owned(), json!(name));
        }
        Some(Value::String(given)) if given == name => {}
        Some(other) => {
            return Err(SourceError::Invalid(format!(
                "the body names source {other} but the path names \"{name}\""
            )));
        }
    }
    body.retain(|_, value| !value.is_null());
    let mut secrets = Vec::new();
    let mut take = |field: &str, value: &mut Value| -> Result<(), SourceError> {
        let plain = match value {
            Value::String(text) => text.clone(),
            Value::Number(number) => number.to_string(),
            Value::Object(reference) => return check_reference(field, reference),
            _ => {
                return Err(SourceError::Invalid(format!(
                    "{field}: a string, or a reference {{\"secret\": \"NAME\"}}"
                )));
            }
        };
        let secret = format!("source.{name}.{field}");
        *value = json!({ "secret": secret });
        secrets.push((secret, SecretString::from(plain)));
        Ok(())
    };
    if let Some(password) = body.get_mut("password") {
        take("password", password)?;
    }
    if let Some(Value::Object(options)) = body.get_mut("options") {
        options.retain(|_, value| !value.is_null());
        for (key, value) in options.iter_mut() {
            if is_secret_option(key) {
                take(&format!("options.{key}"), value)?;
            }
        }
    }
    Ok((Value::Object(body), secrets))
}

/// Through the API a secret is a value or a stored secret's name. `env` and
/// `file` references are refused: they would let an API caller send the
/// server's environment or files, as a password, to a host of its choosing.
fn check_reference(field: &str, reference: &Map<String, Value>) -> Result<(), SourceError> {
    match reference.get("secret") {
        Some(Value::String(_)) if reference.len() == 1 => Ok(()),
        _ => Err(SourceError::Invalid(format!(
            "{field}: through the API a secret is a plain value (stored encrypted) or {{\"secret\": \"NAME\"}}; env and file references belong in the config file"
        ))),
    }
}

fn referenced_secrets(definition: &Value) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut visit = |value: &Value| {
        if let Some(Value::String(secret)) = value.get("secret") {
            names.insert(secret.clone());
        }
    };
    if let Some(password) = definition.get("password") {
        visit(password);
    }
    if let Some(Value::Object(options)) = definition.get("options") {
        options.values().for_each(visit);
    }
    names
}

/// The definition as a config file of one source, validated as one.
fn parse_definition(name: &str, definition: &Value) -> Result<ConfigFile, String> {
    let entry = toml::Value::try_from(definition).map_err(|e| e.to_string())?;
    let mut document = toml::Table::new();
    document.insert("sources".to_owned(), toml::Value::Array(vec![entry]));
    let text = toml::to_string(&document).map_err(|e| e.to_string())?;
    ConfigFile::parse(Path::new(&format!("source \"{name}\"")), text).map_err(|e| e.message)
}

fn check_definition(name: &str, definition: &Value) -> Result<(), SourceError> {
    parse_definition(name, definition).map_err(SourceError::Invalid)?;
    if let Some(url) = definition.get("url").and_then(Value::as_str)
        && !url.contains("://")
        && !url.starts_with('/')
    {
        return Err(SourceError::Invalid(format!(
            "url {url:?}: through the API, write an absolute path or a URL"
        )));
    }
    Ok(())
}

/// How long results over the source a definition describes are kept.
fn policy_of(name: &str, definition: &Value) -> Option<SourceCaching> {
    let config = parse_definition(name, definition).ok()?;
    config.raw.sources.first().map(cache_policy)
}

/// The engine's source for a stored or submitted definition.
fn resolve(name: &str, definition: &Value, data_dir: &Path) -> Result<SourceSpec, String> {
    parse_definition(name, definition)?
        .sources(data_dir)
        .into_iter()
        .next()
        .ok_or_else(|| "no source in the definition".to_owned())
}

/// A definition from the catalog store, as the engine serves it: refused
/// (the reason says why) when invalid or outside the file roots, which may
/// have changed since it was stored.
fn resolve_stored(
    name: &str,
    definition: &Value,
    data_dir: &Path,
    file_roots: &FileRoots,
) -> Result<SourceSpec, SourceError> {
    let spec = resolve(name, definition, data_dir).map_err(|reason| {
        SourceError::Invalid(format!("its stored definition is not valid: {reason}"))
    })?;
    if let SourceSpec::Files(files) = &spec {
        file_roots
            .check_api_source(&files.url)
            .map_err(|e| SourceError::Forbidden(format!("not served: url {e}")))?;
    }
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    #[test]
    fn plain_secrets_become_references_and_others_stay() {
        let body = json!({
            "kind": "postgres", "host": "db", "database": "d", "user": "u",
            "password": "Leak-Canary-91",
            "port": null,
        });
        let Ok((definition, secrets)) = take_plain_secrets("sales", body) else {
            panic!("the body is valid");
        };
        assert_eq!(
            definition["password"],
            json!({"secret": "source.sales.password"})
        );
        assert_eq!(definition["name"], json!("sales"));
        assert!(definition.get("port").is_none());
        assert!(!definition.to_string().contains("Leak-Canary-91"));
        let values: Vec<(&str, &str)> = secrets
            .iter()
            .map(|(n, v)| (n.as_str(), v.expose_secret()))
            .collect();
        assert_eq!(values, [("source.sales.password", "Leak-Canary-91")]);
        assert!(check_definition("sales", &definition).is_ok());
    }

    #[test]
    fn env_and_file_references_and_mismatched_names_are_refused() {
        for body in [
            json!({"kind": "postgres", "password": {"env": "HOME"}}),
            json!({"kind": "files", "url": "s3://b/", "options": {"secret_access_key": {"file": "/etc/shadow"}}}),
            json!({"name": "other", "kind": "files", "url": "/tmp"}),
            json!(["not", "an", "object"]),
        ] {
            assert!(
                matches!(
                    take_plain_secrets("sales", body.clone()),
                    Err(SourceError::Invalid(_))
                ),
                "{body}"
            );
        }
    }

    #[test]
    fn definitions_are_validated_like_config_entries() {
        let error = |definition: Value| match check_definition("s", &definition) {
            Err(SourceError::Invalid(message)) => message,
            other => panic!("{definition}: {other:?}"),
        };
        assert!(error(json!({"name": "s", "kind": "postgres", "hots": "x"})).contains("hots"));
        assert!(error(json!({"name": "s", "kind": "files"})).contains("needs a url"));
        assert!(error(json!({"name": "s", "kind": "files", "url": "data/"})).contains("absolute"));
        assert!(error(json!({"name": "S!", "kind": "files", "url": "/d"})).contains("lower-case"));
    }
}
