use std::sync::Arc;

use datafusion::common::{DataFusionError, Result};
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::optimizer::Optimizer;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion_federation::{FederatedQueryPlanner, FederationOptimizerRule};
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::PgCatalogStaticTables;
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::context::EmptyContextProvider;
use datafusion_postgres::datafusion_pg_catalog::setup_pg_catalog;
use tributary_connectors::files::FilesSpec;
use tributary_connectors::remote::DatabaseSpec;

use crate::functions::{register_catalog_functions, register_rewrite_helpers, register_to_regtype};
use crate::key_functions::key_definition_functions;
use crate::keys::DatabaseKeys;
use crate::partitions::register_partition_functions;
use crate::pg_catalog::DatabasePgCatalog;
use crate::refresh::refresh_udf;
use crate::registry::{Registry, SourceCatalogs};
use crate::sources::LiveSources;
use crate::version::version_udf;

/// The catalog every session starts in; it holds one schema per source.
pub const DEFAULT_CATALOG: &str = "tributary";
/// The schema unqualified names resolve in, as in PostgreSQL.
pub const DEFAULT_SCHEMA: &str = "public";

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
/// PostgreSQL version `version()` reports. The returned [`LiveSources`] adds
/// and removes sources later, in every session at once.
pub async fn build_session(
    sources: &[SourceSpec],
    emulated_version: &str,
) -> Result<(SessionContext, LiveSources)> {
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
    let catalogs = Arc::new(SourceCatalogs::default());
    let state = SessionStateBuilder::new()
        .with_config(config)
        .with_catalog_list(catalogs.clone())
        .with_default_features()
        .with_optimizer_rules(rules)
        .with_query_planner(Arc::new(FederatedQueryPlanner::new()))
        .build();
    let context = SessionContext::new_with_state(state);
    let default_catalog = context
        .catalog(DEFAULT_CATALOG)
        .ok_or_else(|| DataFusionError::Internal("the default catalog was not created".into()))?;

    // Functions, the oid type planner, and a pg_catalog in the default
    // catalog that is then replaced with one that sees only its own
    // database; each source's catalog gets one too when it is added, for
    // clients connected with dbname=<source>.
    setup_pg_catalog(&context, DEFAULT_CATALOG, EmptyContextProvider).map_err(|e| *e)?;
    register_catalog_functions(&context, std::time::SystemTime::now());
    register_rewrite_helpers(&context);
    register_partition_functions(&context);
    let static_tables = Arc::new(PgCatalogStaticTables::try_new()?);
    register_to_regtype(&context, static_tables.pg_type.data());
    let registry = Arc::new(Registry::default());
    let pg_catalog = DatabasePgCatalog::new(
        catalogs.clone(),
        DEFAULT_CATALOG,
        static_tables.clone(),
        DatabaseKeys::of(DEFAULT_CATALOG, registry.clone()),
    )?;
    default_catalog.register_schema("pg_catalog", Arc::new(pg_catalog))?;
    context.register_udf(refresh_udf(registry.clone()));
    for function in key_definition_functions(registry.clone()) {
        context.register_udf(function);
    }
    context.register_udf(version_udf(emulated_version));

    let live = LiveSources::new(
        registry,
        catalogs,
        default_catalog,
        static_tables,
        context.state(),
    );
    live.add_all(sources).await?;
    Ok((context, live))
}
