//! One `pg_catalog` per database, as in PostgreSQL.
//!
//! datafusion-pg-catalog builds `pg_namespace`, `pg_class` and
//! `pg_attribute` from every catalog of the session: a client connected to
//! `tributary` saw each source's `public` schema beside the `tributary`
//! schemas, twice-listed tables in `\dt` and duplicate schemas in JDBC's
//! `getSchemas`. Here each catalog (database) gets a `pg_catalog` that sees
//! only itself; `pg_database` alone still lists every database, for `\l`.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{CatalogProviderList, SchemaProvider, TableProvider};
use datafusion::common::{DataFusionError, Result};
use datafusion::datasource::TableType;
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::catalog_info::CatalogInfo;
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::context::EmptyContextProvider;
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::{
    PgCatalogSchemaProvider, PgCatalogStaticTables,
};

/// The catalogs of a session, seen from inside one of them.
#[derive(Clone, Debug)]
struct OneDatabase {
    catalogs: Arc<dyn CatalogProviderList>,
    name: String,
}

impl OneDatabase {
    fn owns(&self, catalog: &str) -> bool {
        catalog == self.name
    }
}

#[async_trait]
impl CatalogInfo for OneDatabase {
    async fn catalog_names(&self) -> Result<Vec<String>, DataFusionError> {
        Ok(vec![self.name.clone()])
    }

    async fn schema_names(&self, catalog: &str) -> Result<Option<Vec<String>>, DataFusionError> {
        if !self.owns(catalog) {
            return Ok(None);
        }
        CatalogInfo::schema_names(&self.catalogs, catalog).await
    }

    async fn table_names(
        &self,
        catalog: &str,
        schema: &str,
    ) -> Result<Option<Vec<String>>, DataFusionError> {
        if !self.owns(catalog) {
            return Ok(None);
        }
        CatalogInfo::table_names(&self.catalogs, catalog, schema).await
    }

    async fn table_schema(
        &self,
        catalog: &str,
        schema: &str,
        table: &str,
    ) -> Result<Option<SchemaRef>, DataFusionError> {
        if !self.owns(catalog) {
            return Ok(None);
        }
        // A table that cannot be opened (a source gone down since it was
        // listed) must not make the whole catalog unreadable: it is left out.
        match CatalogInfo::table_schema(&self.catalogs, catalog, schema, table).await {
            Ok(found) => Ok(found),
            Err(error) => {
                tracing::debug!(catalog, schema, table, "left out of pg_catalog: {error}");
                Ok(None)
            }
        }
    }

    async fn table_type(
        &self,
        catalog: &str,
        schema: &str,
        table: &str,
    ) -> Result<Option<TableType>, DataFusionError> {
        if !self.owns(catalog) {
            return Ok(None);
        }
        match CatalogInfo::table_type(&self.catalogs, catalog, schema, table).await {
            Ok(found) => Ok(found),
            Err(error) => {
                tracing::debug!(catalog, schema, table, "left out of pg_catalog: {error}");
                Ok(None)
            }
        }
    }
}

type CatalogSchema<C> = PgCatalogSchemaProvider<C, EmptyContextProvider>;

/// `pg_catalog` for the database `name`.
#[derive(Debug)]
pub(crate) struct DatabasePgCatalog {
    own: Arc<CatalogSchema<OneDatabase>>,
    /// Every database: only `pg_database` is read from it.
    all: Arc<CatalogSchema<Arc<dyn CatalogProviderList>>>,
}

impl DatabasePgCatalog {
    pub(crate) fn new(
        catalogs: Arc<dyn CatalogProviderList>,
        name: &str,
        static_tables: Arc<PgCatalogStaticTables>,
    ) -> Result<Self> {
        let own = OneDatabase {
            catalogs: catalogs.clone(),
            name: name.to_owned(),
        };
        Ok(Self {
            own: Arc::new(PgCatalogSchemaProvider::try_new(
                own,
                static_tables.clone(),
                EmptyContextProvider,
            )?),
            all: Arc::new(PgCatalogSchemaProvider::try_new(
                catalogs,
                static_tables,
                EmptyContextProvider,
            )?),
        })
    }
}

#[async_trait]
impl SchemaProvider for DatabasePgCatalog {
    fn table_names(&self) -> Vec<String> {
        self.own.table_names()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        if name.eq_ignore_ascii_case("pg_database") {
            self.all.table(name).await
        } else {
            self.own.table(name).await
        }
    }

    fn table_exist(&self, name: &str) -> bool {
        self.own.table_exist(name)
    }
}
