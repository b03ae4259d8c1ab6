use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use datafusion::catalog::{CatalogProvider, MemoryCatalogProvider, SchemaProvider};
use datafusion::common::{DataFusionError, Result};
use datafusion::execution::SessionState;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::optimizer::Optimizer;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion_federation::{FederatedQueryPlanner, FederationOptimizerRule};
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::PgCatalogStaticTables;
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::context::EmptyContextProvider;
use datafusion_postgres::datafusion_pg_catalog::setup_pg_catalog;
use tributary_connectors::files::{FilesSchema, FilesSpec};
use tributary_connectors::remote::{DatabaseSpec, RemoteCatalog, RemoteSchema, RemoteSource};

use crate::functions::{register_catalog_functions, register_rewrite_helpers, register_to_regtype};
use crate::key_functions::key_definition_functions;
use crate::keys::DatabaseKeys;
use crate::partitions::register_partition_functions;
use crate::pg_catalog::DatabasePgCatalog;
use crate::refresh::refresh_udf;
use crate::unavailable::UnavailableSchema;
use crate::version::version_udf;

/// The catalog every session starts in; it holds one schema per source.
pub const DEFAULT_CATALOG: &str = "tributary";
/// The schema unqualified names resolve in, as in PostgreSQL.
pub const DEFAULT_SCHEMA: &str = "public";
/// A source's default schema inside its own catalog.
const SOURCE_DEFAULT_SCHEMA: &str = "public";

/// A source, ready to be opened (secrets resolved).
#[derive(Debug, Clone)]
pub enum SourceSpec {
    Files(FilesSpec),
    /// PostgreSQL or MySQL/MariaDB.
    Database(DatabaseSpec),
    /// A source whose definition could not be completed (a secret reference
    /// that does not resolve, say): every query naming it fails with `reason`.
    Unavailable {
        name: String,
        reason: String,
    },
}

impl SourceSpec {
    pub fn name(&self) -> &str {
        match self {
            Self::Files(spec) => &spec.name,
            Self::Database(spec) => &spec.name,
            Self::Unavailable { name, .. } => name,
        }
    }
}

/// How a source came up, for the start-up log and `config check`.
#[derive(Debug, Clone)]
pub struct SourceStatus {
    pub name: String,
    /// Where unqualified names resolve for a client connected with
    /// `dbname=<source>`.
    pub default_schema: String,
    pub tables: Vec<String>,
    /// Why the source, or some of its tables, cannot be queried.
    pub problems: Vec<String>,
}

/// Builds the engine every session runs on: sources as catalogs, the default
/// catalog, PostgreSQL's catalog emulation. `emulated_version` is the
/// PostgreSQL version `version()` reports.
pub async fn build_session(
    sources: &[SourceSpec],
    emulated_version: &str,
) -> Result<(SessionContext, Vec<SourceStatus>)> {
    let config = SessionConfig::new()
        .with_information_schema(true)
        .with_default_catalog_and_schema(DEFAULT_CATALOG, DEFAULT_SCHEMA)
        .set_str("datafusion.sql_parser.dialect", "PostgreSQL");
    // Federation: sub-plans over tables of one database leave as one SQL
    // statement. Its rule runs where the library puts it, right after
    // scalar subqueries become joins, before filters and limits are pushed
    // down: the shapes those rules make (filters inside scans under
    // aliases, limits under filters) are ones the SQL unparser writes wrong,
    // as the differential tests showed when it ran later. The price: in a
    // join of a database table with another source, a filter above the join
    // stays in the gateway (see the closing note of issue 4).
    let mut rules = Optimizer::new().rules;
    let after = rules
        .iter()
        .position(|rule| rule.name() == "scalar_subquery_to_join")
        .map_or(rules.len(), |at| at + 1);
    rules.insert(after, Arc::new(FederationOptimizerRule::new()));
    let state = SessionStateBuilder::new()
        .with_config(config)
        .with_default_features()
        .with_optimizer_rules(rules)
        .with_query_planner(Arc::new(FederatedQueryPlanner::new()))
        .build();
    let context = SessionContext::new_with_state(state);
    let default_catalog = context
        .catalog(DEFAULT_CATALOG)
        .ok_or_else(|| DataFusionError::Internal("the default catalog was not created".into()))?;

    let sources = refuse_conflicting_stores(sources);
    // Sources open concurrently: one slow object store does not hold up the rest.
    let state = context.state();
    let opened =
        futures::future::join_all(sources.iter().map(|source| open_source(source, &state))).await;
    let mut statuses = Vec::with_capacity(sources.len());
    let mut remote = BTreeMap::new();
    let mut other = Vec::new();
    for (source, opened) in sources.iter().zip(opened) {
        let opened = opened?;
        default_catalog.register_schema(source.name(), opened.default_schema)?;
        context.register_catalog(source.name(), opened.catalog);
        match opened.remote {
            Some(database) => remote.insert(source.name().to_owned(), database),
            None => {
                other.push(source.name().to_owned());
                None
            }
        };
        statuses.push(opened.status);
    }
    context.register_udf(refresh_udf(remote.clone(), other));

    // Functions, the oid type planner, and a pg_catalog in the default
    // catalog that the loop below replaces with one that sees only its own
    // database; each source's catalog gets one too, for clients connected
    // with dbname=<source>.
    setup_pg_catalog(&context, DEFAULT_CATALOG, EmptyContextProvider).map_err(|e| *e)?;
    register_catalog_functions(&context, std::time::SystemTime::now());
    register_rewrite_helpers(&context);
    register_partition_functions(&context);
    let static_tables = Arc::new(PgCatalogStaticTables::try_new()?);
    register_to_regtype(&context, static_tables.pg_type.data());
    let catalogs = context.state().catalog_list().clone();
    let mut all_keys = Vec::new();
    for name in context.catalog_names() {
        if let Some(catalog) = context.catalog(&name) {
            let keys = DatabaseKeys::of(&name, &remote);
            all_keys.push(keys.clone());
            let pg_catalog =
                DatabasePgCatalog::new(catalogs.clone(), &name, static_tables.clone(), keys)?;
            catalog.register_schema("pg_catalog", Arc::new(pg_catalog))?;
        }
    }
    for function in key_definition_functions(all_keys) {
        context.register_udf(function);
    }
    context.register_udf(version_udf(emulated_version));
    Ok((context, statuses))
}

/// DataFusion keeps one object store per bucket. Two sources on one bucket
/// with different settings (say, credentials) would silently share whichever
/// registered last: the later one is refused instead, saying why.
fn refuse_conflicting_stores(sources: &[SourceSpec]) -> Vec<SourceSpec> {
    let mut first_by_store: HashMap<String, &FilesSpec> = HashMap::new();
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
            let status = SourceStatus {
                name: spec.name.clone(),
                default_schema: spec.default_schema().to_owned(),
                tables: database.table_names(),
                problems: database.problems(),
            };
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
        let checked = refuse_conflicting_stores(&sources);
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
