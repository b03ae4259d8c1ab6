//! The sources the gateway serves and where each is defined: the config
//! file and the embedded sample (fixed while the server runs), or the
//! catalog store (created, replaced and deleted through the HTTP API, kept
//! across restarts). A change takes effect at once in every session.
//!
//! An API definition has the fields of a config file entry, as JSON, and
//! goes through the same validation. A secret sent as a plain value is put
//! into the credentials store as `source.<name>.<field>` and the definition
//! keeps a `{"secret": …}` reference in its place.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use datafusion::prelude::SessionContext;
use secrecy::SecretString;
use serde_json::{Map, Value, json};
use tributary_catalog::{
    CatalogStore, LiveSources, SourceSpec, SourceStatus, StoredSource, build_session,
};
use tributary_connectors::files::{CsvOptions, FilesSpec};

use crate::cache::{ResultCache, SourceCaching, SourcePolicy};
use crate::config::{ConfigFile, cache_policy, is_secret_option};
use crate::engine::Settings;
use crate::{sample, secrets};

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
    /// One change at a time, so that the store and the engine agree.
    changing: tokio::sync::Mutex<()>,
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
                .map_err(|e| e.to_string())
                .and_then(|definition| resolve(&stored.name, &definition, &settings.data_dir))
                .unwrap_or_else(|reason| SourceSpec::Unavailable {
                    name: stored.name.clone(),
                    reason: format!("its stored definition is not valid: {reason}"),
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
            changing: tokio::sync::Mutex::new(()),
            cache,
        };
        Ok((context, Arc::new(sources)))
    }

    pub fn store(&self) -> &CatalogStore {
        &self.store
    }

    /// Whether the catalog store answers.
    pub fn ready(&self) -> Result<(), String> {
        self.store.check().map_err(|e| e.to_string())
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
        let _changing = self.changing.lock().await;
        let exists = self
            .store
            .source(name)
            .map_err(anyhow::Error::from)?
            .is_some();
        if exists && !replace {
            return Err(SourceError::Exists(name.to_owned()));
        }
        if !plain_secrets.is_empty() {
            let store = secrets::store(&self.data_dir)
                .map_err(|e| SourceError::NoCredentials(e.to_string()))?;
            for (secret, value) in &plain_secrets {
                store
                    .set(secret, value)
                    .map_err(|e| SourceError::Internal(anyhow::anyhow!(e)))?;
            }
        }
        let spec = resolve(name, &definition, &self.data_dir).map_err(SourceError::Invalid)?;
        self.store
            .put_source(name, &definition.to_string())
            .map_err(anyhow::Error::from)?;
        self.forget_unused_secrets(name, &definition);
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
        if !self
            .store
            .delete_source(name)
            .map_err(anyhow::Error::from)?
        {
            return Err(SourceError::NotFound(name.to_owned()));
        }
        self.live.remove(name);
        self.cache.set_policy(name, None);
        self.forget_unused_secrets(name, &Value::Null);
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
                resolve(name, &definition, &self.data_dir).map_err(SourceError::Invalid)?
            }
        };
        self.live
            .probe(&spec)
            .await
            .map_err(|e| SourceError::Internal(anyhow::anyhow!(e)))
    }

    /// Removes the secrets this source's earlier definitions put in the
    /// store that `definition` no longer references. Best effort: a store
    /// that cannot be opened keeps them, and says so in the log.
    fn forget_unused_secrets(&self, name: &str, definition: &Value) {
        let prefix = format!("source.{name}.");
        let Ok(store) = secrets::store(&self.data_dir) else {
            return;
        };
        let referenced = referenced_secrets(definition);
        let listed = match store.list() {
            Ok(listed) => listed,
            Err(error) => {
                tracing::warn!(source = %name, "cannot list stored secrets to remove unused ones: {error}");
                return;
            }
        };
        for info in listed {
            if info.name.starts_with(&prefix)
                && !referenced.contains(&info.name)
                && let Err(error) = store.remove(&info.name)
            {
                tracing::warn!(source = %name, secret = %info.name, "cannot remove an unused secret: {error}");
            }
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
