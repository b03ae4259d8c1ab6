//! A remote database as a DataFusion catalog: its schemas and tables, listed
//! when the gateway starts, again on a refresh interval and on demand, and
//! opened as providers when a query names them.
//!
//! A database that is down at start leaves the source empty but registered:
//! each query naming it tries to connect again and fails with class 08 if it
//! still cannot, so the source comes back without a restart.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use async_trait::async_trait;
use datafusion::catalog::{CatalogProvider, SchemaProvider, TableProvider};
use datafusion::common::{DataFusionError, Result};
use secrecy::{ExposeSecret, SecretString};

use super::DatabaseSpec;
use super::database::{self, Database, Listing};
use super::error::SourceError;
use super::keys::{Key, KeyKind};

pub struct RemoteSource {
    spec: DatabaseSpec,
    state: RwLock<State>,
    /// One connection attempt or listing at a time; others wait for it.
    opening: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct State {
    database: Option<Arc<dyn Database>>,
    /// Why the last attempt to open or list failed.
    failure: Option<SourceError>,
    /// Only what the include/exclude patterns expose.
    listing: Arc<Listing>,
    /// Keys of the exposed tables (foreign keys only between exposed tables).
    keys: Arc<Vec<Key>>,
    tables: HashMap<(String, String), Arc<dyn TableProvider>>,
    /// The password the open database logged in with, and the version of
    /// its origin then.
    login: Option<(SecretString, u64)>,
}

impl fmt::Debug for RemoteSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteSource")
            .field("spec", &self.spec)
            .finish_non_exhaustive()
    }
}

impl RemoteSource {
    /// Connects and lists the database (a failure is remembered, not
    /// returned), then keeps the listing fresh in the background.
    pub async fn open(spec: DatabaseSpec) -> Arc<Self> {
        let source = Arc::new(Self {
            spec,
            state: RwLock::new(State::default()),
            opening: tokio::sync::Mutex::new(()),
        });
        if let Err(error) = source.refresh().await {
            tracing::warn!(source = %source.spec.name, "{error}");
        }
        let weak = Arc::downgrade(&source);
        tokio::spawn(refresh_periodically(weak, source.spec.refresh_interval));
        source
    }

    pub fn name(&self) -> &str {
        &self.spec.name
    }

    pub fn spec(&self) -> &DatabaseSpec {
        &self.spec
    }

    fn read<R>(&self, f: impl FnOnce(&State) -> R) -> R {
        match self.state.read() {
            Ok(state) => f(&state),
            Err(poisoned) => f(&poisoned.into_inner()),
        }
    }

    fn write<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        match self.state.write() {
            Ok(mut state) => f(&mut state),
            Err(poisoned) => f(&mut poisoned.into_inner()),
        }
    }

    /// Why the source cannot be queried now, if it cannot.
    pub fn problems(&self) -> Vec<String> {
        self.read(|s| s.failure.iter().map(ToString::to_string).collect())
    }

    /// Every exposed table as `schema.table`.
    pub fn table_names(&self) -> Vec<String> {
        self.read(|s| {
            s.listing
                .iter()
                .flat_map(|(schema, tables)| tables.iter().map(move |t| format!("{schema}.{t}")))
                .collect()
        })
    }

    /// Lists the database again (connecting first if it never was) and
    /// forgets the tables opened so far, so that changed columns are seen.
    /// Returns how many tables the source now exposes.
    pub async fn refresh(&self) -> Result<usize, SourceError> {
        self.forget_stale_login();
        let _opening = self.opening.lock().await;
        let database = match self.read(|s| s.database.clone()) {
            Some(database) => database,
            None => self.connect().await?,
        };
        match database.listing().await {
            Ok(listing) => {
                let listing = self.exposed(listing);
                let count = listing.values().map(Vec::len).sum();
                // Keys only inform browsing clients: without them the
                // source still answers queries.
                let keys = match database.keys().await {
                    Ok(keys) => self.exposed_keys(keys),
                    Err(error) => {
                        tracing::warn!(source = %self.spec.name, "keys not listed: {error}");
                        Vec::new()
                    }
                };
                self.write(|s| {
                    s.listing = Arc::new(listing);
                    s.keys = Arc::new(keys);
                    s.tables.clear();
                    s.failure = None;
                });
                Ok(count)
            }
            Err(error) => {
                self.write(|s| s.failure = Some(error.clone()));
                Err(error)
            }
        }
    }

    /// Opens the pool; the caller holds `opening`.
    async fn connect(&self) -> Result<Arc<dyn Database>, SourceError> {
        let login = match &self.spec.password {
            Some(password) => {
                let version = password.version();
                match password.current() {
                    Ok(value) => Some((value, version)),
                    Err(reason) => {
                        let error = SourceError::Unavailable {
                            source_name: self.spec.name.clone(),
                            reason: format!("password: {reason}"),
                        };
                        self.write(|s| s.failure = Some(error.clone()));
                        return Err(error);
                    }
                }
            }
            None => None,
        };
        let password = login.as_ref().map(|(value, _)| value.clone());
        match database::open(&self.spec, password).await {
            Ok(database) => {
                tracing::info!(source = %self.spec.name, "connected");
                self.write(|s| {
                    s.database = Some(database.clone());
                    s.failure = None;
                    s.login = login;
                });
                Ok(database)
            }
            Err(error) => {
                self.write(|s| s.failure = Some(error.clone()));
                Err(error)
            }
        }
    }

    /// The open database; tries to open it if it is not. (Queries arriving
    /// during an attempt wait for it rather than starting their own.)
    async fn database(&self) -> Result<Arc<dyn Database>, SourceError> {
        if let Some(database) = self.read(|s| s.database.clone()) {
            return Ok(database);
        }
        drop(self.refresh().await);
        self.read(|s| match (&s.database, &s.failure) {
            (Some(database), _) => Ok(database.clone()),
            (None, Some(failure)) => Err(self.unavailable(failure)),
            (None, None) => Err(self.unavailable_because(String::new())),
        })
    }

    /// A remembered failure as the query's error: a refused login keeps
    /// its class 28 (SQL Server's 18456, say); anything else is class 08.
    fn unavailable(&self, failure: &SourceError) -> SourceError {
        if failure.refuses_login() {
            return failure.clone();
        }
        self.unavailable_because(failure.to_string())
    }

    /// Rewraps a failure's text (it already names the source).
    fn unavailable_because(&self, failure: String) -> SourceError {
        let prefix = format!("source \"{}\" is unavailable: ", self.spec.name);
        SourceError::Unavailable {
            source_name: self.spec.name.clone(),
            reason: failure
                .strip_prefix(&prefix)
                .map(str::to_owned)
                .unwrap_or(failure),
        }
    }

    fn exposed(&self, listing: Listing) -> Listing {
        listing
            .into_iter()
            .filter_map(|(schema, tables)| {
                let tables: Vec<String> = tables
                    .into_iter()
                    .filter(|t| self.spec.tables.exposes(&schema, t))
                    .collect();
                (!tables.is_empty()).then_some((schema, tables))
            })
            .collect()
    }

    fn exposed_keys(&self, keys: Vec<Key>) -> Vec<Key> {
        let exposes = |schema: &str, table: &str| self.spec.tables.exposes(schema, table);
        keys.into_iter()
            .filter(|key| {
                exposes(&key.schema, &key.table)
                    && match &key.kind {
                        KeyKind::Foreign { schema, table, .. } => exposes(schema, table),
                        KeyKind::Primary | KeyKind::Unique => true,
                    }
            })
            .collect()
    }

    /// The keys of the exposed tables, as of the last listing.
    pub fn keys(&self) -> Arc<Vec<Key>> {
        self.read(|s| s.keys.clone())
    }

    fn schema_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.read(|s| s.listing.keys().cloned().collect());
        let default = self.spec.default_schema().into_owned();
        if !names.contains(&default) {
            names.push(default);
        }
        names
    }

    fn tables_in(&self, schema: &str) -> Vec<String> {
        self.read(|s| s.listing.get(schema).cloned().unwrap_or_default())
    }

    fn is_listed(&self, schema: &str, table: &str) -> bool {
        self.read(|s| {
            s.listing
                .get(schema)
                .is_some_and(|tables| tables.iter().any(|t| t == table))
        })
    }

    /// Whether the password changed since the database was opened with it:
    /// then the pool is dropped, and the next query logs in with the new one.
    /// A password that can no longer be read keeps the open pool.
    fn forget_stale_login(&self) {
        let Some(password) = &self.spec.password else {
            return;
        };
        let version = password.version();
        let Some((used, used_version)) = self.read(|s| s.login.clone()) else {
            return;
        };
        if version == used_version {
            return;
        }
        let changed = match password.current() {
            Ok(now) => now.expose_secret() != used.expose_secret(),
            Err(_) => false,
        };
        self.write(|s| {
            if changed {
                tracing::info!(source = %self.spec.name, "password changed: reconnecting");
                s.database = None;
                s.tables.clear();
                s.login = None;
            } else if let Some((_, known)) = s.login.as_mut() {
                *known = version;
            }
        });
    }

    async fn table(&self, schema: &str, table: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        self.forget_stale_login();
        let key = (schema.to_owned(), table.to_owned());
        if let Some(provider) = self.read(|s| s.tables.get(&key).cloned()) {
            return Ok(Some(provider));
        }
        if !self.spec.tables.exposes(schema, table) {
            return Ok(None);
        }
        let database = self.database().await.map_err(external)?;
        if !self.is_listed(schema, table) {
            // Perhaps created since the last listing: look before saying no.
            let listing = database.listing().await.map_err(external)?;
            let listing = self.exposed(listing);
            self.write(|s| s.listing = Arc::new(listing));
            if !self.is_listed(schema, table) {
                return Ok(None);
            }
        }
        let provider = database.table(schema, table).await.map_err(external)?;
        self.write(|s| s.tables.insert(key, provider.clone()));
        Ok(Some(provider))
    }
}

fn external(error: SourceError) -> DataFusionError {
    DataFusionError::External(Box::new(error))
}

async fn refresh_periodically(source: Weak<RemoteSource>, interval: Duration) {
    loop {
        tokio::time::sleep(interval).await;
        let Some(source) = source.upgrade() else {
            return;
        };
        if let Err(error) = source.refresh().await {
            tracing::debug!(source = %source.spec.name, "refresh failed: {error}");
        }
    }
}

/// The catalog `<source>`: the database's schemas, and schemas of the
/// gateway's own registered beside them (`pg_catalog`, for clients that
/// connect with `dbname=<source>`).
#[derive(Debug)]
pub struct RemoteCatalog {
    source: Arc<RemoteSource>,
    local: RwLock<HashMap<String, Arc<dyn SchemaProvider>>>,
}

impl RemoteCatalog {
    pub fn new(source: Arc<RemoteSource>) -> Self {
        Self {
            source,
            local: RwLock::new(HashMap::new()),
        }
    }

    fn local(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        match self.local.read() {
            Ok(local) => local.get(name).cloned(),
            Err(poisoned) => poisoned.into_inner().get(name).cloned(),
        }
    }
}

impl CatalogProvider for RemoteCatalog {
    fn schema_names(&self) -> Vec<String> {
        let mut names = self.source.schema_names();
        match self.local.read() {
            Ok(local) => names.extend(local.keys().cloned()),
            Err(poisoned) => names.extend(poisoned.into_inner().keys().cloned()),
        }
        names
    }

    fn register_schema(
        &self,
        name: &str,
        schema: Arc<dyn SchemaProvider>,
    ) -> Result<Option<Arc<dyn SchemaProvider>>> {
        let mut local = match self.local.write() {
            Ok(local) => local,
            Err(poisoned) => poisoned.into_inner(),
        };
        Ok(local.insert(name.to_owned(), schema))
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        if let Some(local) = self.local(name) {
            return Some(local);
        }
        let known = self.source.schema_names().iter().any(|s| s == name);
        // While the database is unreachable its schemas are unknown: let the
        // query reach the table lookup, which says why.
        let unreachable = self.source.read(|s| s.database.is_none());
        (known || unreachable).then(|| {
            Arc::new(RemoteSchema::new(self.source.clone(), name)) as Arc<dyn SchemaProvider>
        })
    }
}

/// One schema of a remote database.
#[derive(Debug)]
pub struct RemoteSchema {
    source: Arc<RemoteSource>,
    schema: String,
}

impl RemoteSchema {
    pub fn new(source: Arc<RemoteSource>, schema: &str) -> Self {
        Self {
            source,
            schema: schema.to_owned(),
        }
    }

    /// `tributary.<source>`: the source's default schema.
    pub fn default_of(source: Arc<RemoteSource>) -> Self {
        let schema = source.spec.default_schema().into_owned();
        Self { source, schema }
    }
}

#[async_trait]
impl SchemaProvider for RemoteSchema {
    fn table_names(&self) -> Vec<String> {
        self.source.tables_in(&self.schema)
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        self.source.table(&self.schema, name).await
    }

    fn table_exist(&self, name: &str) -> bool {
        self.source.is_listed(&self.schema, name) || self.source.read(|s| s.database.is_none())
    }
}
