//! Opening sources and adding them to, or removing them from, a running
//! engine. Catalogs are shared by every session (each session's state holds
//! the same catalog list), so a source added here is seen by every session's
//! next query, over the pg wire and HTTP alike.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::catalog::{
    CatalogProvider, CatalogProviderList, MemoryCatalogProvider, SchemaProvider,
};
use datafusion::common::Result;
use datafusion::execution::SessionState;
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::PgCatalogStaticTables;
use tributary_connectors::files::{FilesSchema, FilesSpec};
use tributary_connectors::remote::{Key, RemoteCatalog, RemoteSchema, RemoteSource};

use crate::keys::DatabaseKeys;
use crate::pg_catalog::DatabasePgCatalog;
use crate::registry::{Registry, SourceCatalogs, remote_status};
use crate::unavailable::UnavailableSchema;
use crate::{SourceSpec, SourceStatus};

/// A source's default schema inside its own catalog.
const SOURCE_DEFAULT_SCHEMA: &str = "public";

/// The running engine's sources: add, replace, remove, list.
#[derive(Clone, Debug)]
pub struct LiveSources {
    registry: Arc<Registry>,
    catalogs: Arc<SourceCatalogs>,
    /// `tributary`, which holds one schema per source.
    default_catalog: Arc<dyn CatalogProvider>,
    static_tables: Arc<PgCatalogStaticTables>,
    /// For opening files sources: object stores register in its runtime,
    /// which every session shares.
    state: SessionState,
}

impl LiveSources {
    pub(crate) fn new(
        registry: Arc<Registry>,
        catalogs: Arc<SourceCatalogs>,
        default_catalog: Arc<dyn CatalogProvider>,
        static_tables: Arc<PgCatalogStaticTables>,
        state: SessionState,
    ) -> Self {
        Self {
            registry,
            catalogs,
            default_catalog,
            static_tables,
            state,
        }
    }

    /// Every source's status, by name.
    pub fn statuses(&self) -> Vec<SourceStatus> {
        self.registry.statuses()
    }

    pub fn status(&self, name: &str) -> Option<SourceStatus> {
        self.statuses().into_iter().find(|s| s.name == name)
    }

    /// The primary, unique and foreign keys of a database source's table,
    /// in the source's own schema names; none for files.
    pub fn keys(&self, source: &str, schema: &str, table: &str) -> Vec<Key> {
        self.registry
            .remote_source(source)
            .map(|remote| {
                remote
                    .keys()
                    .iter()
                    .filter(|key| key.schema == schema && key.table == table)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Opens the sources at start: concurrently, so that one slow object
    /// store or database does not hold up the rest.
    pub(crate) async fn add_all(&self, sources: &[SourceSpec]) -> Result<()> {
        let sources = refuse_conflicting_stores(&[], sources);
        let opened = futures::future::join_all(
            sources
                .iter()
                .map(|source| open_source(source, &self.state)),
        )
        .await;
        for (source, opened) in sources.iter().zip(opened) {
            self.register(source, opened?)?;
        }
        Ok(())
    }

    /// Opens `source` and serves it, replacing a source of the same name.
    /// A source that cannot connect is still added: its problems are in the
    /// returned status, and its queries fail until it can.
    pub async fn put(&self, source: &SourceSpec) -> Result<SourceStatus> {
        let others: Vec<FilesSpec> = self
            .registry
            .files()
            .into_iter()
            .filter(|spec| spec.name != source.name())
            .collect();
        let checked = refuse_conflicting_stores(&others, std::slice::from_ref(source));
        let source = checked.into_iter().next().unwrap_or_else(|| source.clone());
        let opened = open_source(&source, &self.state).await?;
        let status = opened.status.clone();
        self.remove(source.name());
        self.register(&source, opened)?;
        Ok(self.status(source.name()).unwrap_or(status))
    }

    /// Stops serving `name`; queries already running finish. True when it
    /// was served.
    pub fn remove(&self, name: &str) -> bool {
        let _ = self.default_catalog.deregister_schema(name, true);
        self.catalogs.remove(name);
        self.registry.remove(name)
    }

    /// Opens `source` without serving it, to see whether it works: a
    /// database is connected to and listed.
    pub async fn probe(&self, source: &SourceSpec) -> Result<SourceStatus> {
        Ok(open_source(source, &self.state).await?.status)
    }

    fn register(&self, source: &SourceSpec, opened: OpenedSource) -> Result<()> {
        let name = source.name();
        self.default_catalog
            .register_schema(name, opened.default_schema)?;
        let pg_catalog = DatabasePgCatalog::new(
            self.catalogs.clone() as Arc<dyn CatalogProviderList>,
            name,
            self.static_tables.clone(),
            DatabaseKeys::of(name, self.registry.clone()),
        )?;
        opened
            .catalog
            .register_schema("pg_catalog", Arc::new(pg_catalog))?;
        self.catalogs
            .register_catalog(name.to_owned(), opened.catalog);
        match opened.remote {
            Some(database) => self.registry.insert_remote(database),
            None => {
                let files = match source {
                    SourceSpec::Files(spec) => Some(spec.clone()),
                    _ => None,
                };
                self.registry.insert_fixed(opened.status, files);
            }
        }
        Ok(())
    }
}

/// DataFusion keeps one object store per bucket. Two sources on one bucket
/// with different settings (say, credentials) would silently share whichever
/// registered last: the later one is refused instead, saying why.
fn refuse_conflicting_stores(served: &[FilesSpec], sources: &[SourceSpec]) -> Vec<SourceSpec> {
    let mut first_by_store: HashMap<String, &FilesSpec> = served
        .iter()
        .filter_map(|spec| spec.store_key().map(|key| (key, spec)))
        .collect();
    sources
        .iter()
        .map(|source| {
            let SourceSpec::Files(spec) = source else {
                return source.clone();
            };
            let Some(key) = spec.store_key() else {
                return source.clone();
            };
            match first_by_store.get(&key) {
                Some(first) if first.options != spec.options => SourceSpec::Unavailable {
                    name: spec.name.clone(),
                    reason: format!(
                        "it reads {key} like source \"{}\" but with other options; sources on one bucket must share its settings",
                        first.name
                    ),
                },
                Some(_) => source.clone(),
                None => {
                    first_by_store.insert(key, spec);
                    source.clone()
                }
            }
        })
        .collect()
}

/// A source as the session registers it.
struct OpenedSource {
    /// `tributary.<source>`.
    default_schema: Arc<dyn SchemaProvider>,
    /// The catalog `<source>`.
    catalog: Arc<dyn CatalogProvider>,
    remote: Option<Arc<RemoteSource>>,
    status: SourceStatus,
}

/// A catalog whose only schema is `public`: files sources have no others.
fn single_schema_catalog(schema: Arc<dyn SchemaProvider>) -> Result<Arc<dyn CatalogProvider>> {
    let catalog = MemoryCatalogProvider::new();
    catalog.register_schema(SOURCE_DEFAULT_SCHEMA, schema)?;
    Ok(Arc::new(catalog))
}

async fn open_source(source: &SourceSpec, state: &SessionState) -> Result<OpenedSource> {
    Ok(match source {
        SourceSpec::Files(spec) => {
            let schema = Arc::new(FilesSchema::load(spec, state).await);
            let status = files_status(spec, &schema);
            OpenedSource {
                default_schema: schema.clone(),
                catalog: single_schema_catalog(schema)?,
                remote: None,
                status,
            }
        }
        SourceSpec::Database(spec) => {
            let database = RemoteSource::open(spec.clone()).await;
            let status = remote_status(&database);
            OpenedSource {
                default_schema: Arc::new(RemoteSchema::default_of(database.clone())),
                catalog: Arc::new(RemoteCatalog::new(database.clone())),
                remote: Some(database),
                status,
            }
        }
        SourceSpec::Unavailable { name, reason } => {
            let status = SourceStatus {
                name: name.clone(),
                default_schema: SOURCE_DEFAULT_SCHEMA.to_owned(),
                tables: Vec::new(),
                problems: vec![reason.clone()],
            };
            let schema: Arc<dyn SchemaProvider> = Arc::new(UnavailableSchema::new(name, reason));
            OpenedSource {
                default_schema: schema.clone(),
                catalog: single_schema_catalog(schema)?,
                remote: None,
                status,
            }
        }
    })
}

fn files_status(spec: &FilesSpec, schema: &FilesSchema) -> SourceStatus {
    SourceStatus {
        name: spec.name.clone(),
        default_schema: SOURCE_DEFAULT_SCHEMA.to_owned(),
        tables: schema.table_names(),
        problems: schema.problems(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use tributary_connectors::files::CsvOptions;

    use super::*;

    fn s3(name: &str, url: &str, key_id: &str) -> SourceSpec {
        SourceSpec::Files(FilesSpec {
            name: name.to_owned(),
            url: url.to_owned(),
            format: None,
            csv: CsvOptions::default(),
            json_infer_records: 1000,
            options: BTreeMap::from([("access_key_id".to_owned(), key_id.to_owned())]),
        })
    }

    #[test]
    fn one_bucket_with_two_sets_of_credentials_is_refused() {
        let sources = [
            s3("sales", "s3://lake/sales/", "AKIA1"),
            s3("hr", "s3://lake/hr/", "AKIA2"),
            s3("ops", "s3://lake/ops/", "AKIA1"),
            s3("other", "s3://elsewhere/", "AKIA2"),
        ];
        let checked = refuse_conflicting_stores(&[], &sources);
        let unavailable: Vec<&str> = checked
            .iter()
            .filter_map(|s| match s {
                SourceSpec::Unavailable { name, reason } => {
                    assert!(
                        reason.contains("sales") && !reason.contains("AKIA"),
                        "{reason}"
                    );
                    Some(name.as_str())
                }
                _ => None,
            })
            .collect();
        assert_eq!(unavailable, ["hr"]);
    }
}
