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
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{CatalogProviderList, MemTable, SchemaProvider, TableProvider};
use datafusion::common::{Column, DataFusionError, Result, ScalarValue};
use datafusion::datasource::TableType;
use datafusion::datasource::{ViewTable, provider_as_source};
use datafusion::logical_expr::{Expr, LogicalPlanBuilder, cast, col, lit};
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::catalog_info::CatalogInfo;

use crate::catalog_scan::batch_of;
use crate::key_tables::{ClassWithIndexes, KeyCatalog, KeyTable};
use crate::keys::DatabaseKeys;
use crate::pg_attribute::{AttributesWithTypmod, ColumnTypes};
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

#[async_trait]
impl ColumnTypes for OneDatabase {
    async fn column_types(&self, schema: &str, table: &str) -> Option<SchemaRef> {
        CatalogInfo::table_schema(self, &self.name, schema, table)
            .await
            .ok()
            .flatten()
    }
}

type CatalogSchema<C> = PgCatalogSchemaProvider<C, EmptyContextProvider>;

/// `pg_catalog` for the database `name`.
#[derive(Debug)]
pub(crate) struct DatabasePgCatalog {
    own: Arc<CatalogSchema<OneDatabase>>,
    database: OneDatabase,
    /// Every database: only `pg_database` is read from it.
    all: Arc<CatalogSchema<Arc<dyn CatalogProviderList>>>,
    /// `pg_index` and `pg_constraint`, by lower-case name.
    keys: Vec<(&'static str, Arc<dyn TableProvider>)>,
    key_catalog: Arc<KeyCatalog>,
}

/// The array columns of `pg_index` and `pg_constraint`, which the shipped
/// tables hold as text ("1 2"): clients `unnest` them and index them.
/// `indoption` stays text, PostgreSQL's int2vector output: SQLAlchemy's
/// `get_indexes` splits it on spaces.
fn array_column(name: &str) -> Option<DataType> {
    match name {
        "indkey" | "conkey" | "confkey" | "confdelsetcols" => Some(DataType::Int16),
        "indclass" | "indcollation" | "conpfeqop" | "conppeqop" | "conffeqop" | "conexclop" => {
            Some(DataType::Int32)
        }
        _ => None,
    }
}

/// The shipped schema of `pg_index` or `pg_constraint` with its array
/// columns as lists. (The rows shipped with datafusion-pg-catalog describe
/// PostgreSQL's own system tables, which Tributary does not have.)
fn with_array_columns(shipped: SchemaRef) -> SchemaRef {
    let fields: Vec<Field> = shipped
        .fields()
        .iter()
        .map(|field| match array_column(field.name()) {
            Some(element) => Field::new(field.name(), DataType::new_list(element, true), true),
            None => field.as_ref().clone(),
        })
        .collect();
    Arc::new(Schema::new(fields))
}

impl DatabasePgCatalog {
    pub(crate) fn new(
        catalogs: Arc<dyn CatalogProviderList>,
        name: &str,
        static_tables: Arc<PgCatalogStaticTables>,
        keys: DatabaseKeys,
    ) -> Result<Self> {
        let database = OneDatabase {
            catalogs: catalogs.clone(),
            name: name.to_owned(),
        };
        let own = Arc::new(PgCatalogSchemaProvider::try_new(
            database.clone(),
            static_tables.clone(),
            EmptyContextProvider,
        )?);
        let key_catalog = Arc::new(KeyCatalog::new(
            keys,
            own.clone(),
            Arc::new(database.clone()),
        ));
        let keys: Vec<(&'static str, Arc<dyn TableProvider>)> = vec![
            (
                "pg_index",
                Arc::new(KeyTable::indexes(
                    key_catalog.clone(),
                    with_array_columns(static_tables.pg_index.schema()),
                )),
            ),
            (
                "pg_constraint",
                Arc::new(KeyTable::constraints(
                    key_catalog.clone(),
                    with_array_columns(static_tables.pg_constraint.schema()),
                )),
            ),
        ];
        Ok(Self {
            database,
            keys,
            key_catalog,
            own,
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
        if let Some((_, table)) = self
            .keys
            .iter()
            .find(|(key, _)| name.eq_ignore_ascii_case(key))
        {
            return Ok(Some(table.clone()));
        }
        if name.eq_ignore_ascii_case("pg_attribute") {
            return match self.own.table(name).await? {
                Some(shipped) => Ok(Some(Arc::new(AttributesWithTypmod::new(
                    self.own.clone(),
                    Arc::new(self.database.clone()),
                    shipped.schema(),
                )))),
                None => Ok(None),
            };
        }
        if name.eq_ignore_ascii_case("pg_class") {
            return match self.own.table(name).await? {
                Some(shipped) => Ok(Some(Arc::new(ClassWithIndexes::new(
                    with_missing_class_columns(shipped)?,
                    self.key_catalog.clone(),
                )))),
                None => Ok(None),
            };
        }
        if name.eq_ignore_ascii_case("pg_settings") {
            return match self.own.table(name).await? {
                Some(shipped) => Ok(Some(fixed_settings(shipped.schema())?)),
                None => Ok(None),
            };
        }
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

/// Server settings clients read from `pg_settings` rather than with `SHOW`
/// (pgjdbc's `getImportedKeys` needs `max_index_keys`). The session's own
/// settings are answered by `SHOW` and `current_setting`.
const FIXED_SETTINGS: &[(&str, &str)] = &[
    ("block_size", "8192"),
    ("integer_datetimes", "on"),
    ("max_function_args", "100"),
    ("max_identifier_length", "63"),
    ("max_index_keys", "32"),
    ("server_encoding", "UTF8"),
    ("standard_conforming_strings", "on"),
];

fn fixed_settings(schema: SchemaRef) -> Result<Arc<dyn TableProvider>> {
    use datafusion::arrow::array::{ArrayRef, StringArray};
    let column = |values: Vec<&str>| Arc::new(StringArray::from(values)) as ArrayRef;
    let given = std::collections::HashMap::from([
        (
            "name",
            column(FIXED_SETTINGS.iter().map(|(n, _)| *n).collect()),
        ),
        (
            "setting",
            column(FIXED_SETTINGS.iter().map(|(_, v)| *v).collect()),
        ),
        (
            "reset_val",
            column(FIXED_SETTINGS.iter().map(|(_, v)| *v).collect()),
        ),
        (
            "context",
            column(FIXED_SETTINGS.iter().map(|_| "internal").collect()),
        ),
        (
            "source",
            column(FIXED_SETTINGS.iter().map(|_| "default").collect()),
        ),
    ]);
    let batch = batch_of(&schema, FIXED_SETTINGS.len(), given)?;
    Ok(Arc::new(MemTable::try_new(schema, vec![vec![batch]])?))
}

/// `pg_class` with the columns PostgreSQL has and the shipped one lacks,
/// which clients select (SQLAlchemy's `get_indexes` reads `reloptions`).
fn with_missing_class_columns(shipped: Arc<dyn TableProvider>) -> Result<Arc<dyn TableProvider>> {
    let mut columns: Vec<Expr> = shipped
        .schema()
        .fields()
        .iter()
        .map(|field| col(Column::from_name(field.name())))
        .collect();
    let none = || lit(ScalarValue::Int32(Some(0)));
    let text_array = || {
        cast(
            lit(ScalarValue::Null),
            DataType::new_list(DataType::Utf8, true),
        )
    };
    let present = shipped.schema();
    columns.extend(
        [
            none().alias("reltype"),
            none().alias("reloftype"),
            none().alias("reltoastrelid"),
            none().alias("relrewrite"),
            text_array().alias("relacl"),
            text_array().alias("reloptions"),
        ]
        .into_iter()
        .filter(|extra| {
            present
                .field_with_name(&extra.schema_name().to_string())
                .is_err()
        }),
    );
    let plan = LogicalPlanBuilder::scan("pg_class", provider_as_source(shipped), None)?
        .project(columns)?
        .build()?;
    Ok(Arc::new(ViewTable::new(plan, None)))
}
