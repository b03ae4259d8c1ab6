//! `pg_constraint`, `pg_index` and the index rows of `pg_class`, from the
//! keys database sources declare (see `keys`), with the table oids and
//! column numbers the rest of the database's `pg_catalog` uses.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{
    Array, ArrayRef, BooleanArray, Int16Array, Int32Array, ListArray, RecordBatch, StringArray,
};
use datafusion::arrow::datatypes::{Int16Type, Int32Type, SchemaRef};
use datafusion::catalog::{MemTable, SchemaProvider, Session, TableProvider};
use datafusion::common::Result;
use datafusion::common::cast::as_boolean_array;
use datafusion::datasource::TableType;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;
use tributary_connectors::remote::KeyKind;

use crate::catalog_scan::{batch_column, batch_of, column_i32, relations};
use crate::keys::{DatabaseKeys, NamedKey};
use crate::pg_attribute::ColumnTypes;

/// PostgreSQL's btree access method, `pg_am.oid`.
const BTREE: i32 = 403;

/// The keys of one database, placed among its `pg_catalog` oids.
#[derive(Debug)]
pub(crate) struct KeyCatalog {
    keys: DatabaseKeys,
    /// The shipped pg_catalog, for `pg_class` and `pg_namespace`.
    catalog: Arc<dyn SchemaProvider>,
    columns: Arc<dyn ColumnTypes>,
}

/// A key whose table (and referenced table) the catalog lists.
struct PlacedKey {
    named: NamedKey,
    table_oid: i32,
    namespace_oid: i32,
    attnums: Vec<i16>,
    /// The referenced table's oid and column numbers, for a foreign key.
    referenced: Option<(i32, Vec<i16>)>,
}

impl KeyCatalog {
    pub(crate) fn new(
        keys: DatabaseKeys,
        catalog: Arc<dyn SchemaProvider>,
        columns: Arc<dyn ColumnTypes>,
    ) -> Self {
        Self {
            keys,
            catalog,
            columns,
        }
    }

    /// The keys whose tables and columns all resolve; a table that cannot
    /// be opened now drops its keys, not the query.
    async fn placed(&self, state: &dyn Session) -> Result<Vec<PlacedKey>> {
        if self.keys.is_empty() {
            return Ok(Vec::new());
        }
        let tables: HashMap<(String, String), (i32, i32)> = relations(self.catalog.as_ref(), state)
            .await?
            .into_iter()
            .map(|r| ((r.schema, r.name), (r.oid, r.namespace_oid)))
            .collect();
        let mut column_names: HashMap<(String, String), Option<Vec<String>>> = HashMap::new();
        let mut placed = Vec::new();
        for named in self.keys.keys() {
            let key = &named.key;
            let Some(&(table_oid, namespace_oid)) =
                tables.get(&(key.schema.clone(), key.table.clone()))
            else {
                continue;
            };
            let Some(attnums) = self
                .attnums(&mut column_names, &key.schema, &key.table, &key.columns)
                .await
            else {
                continue;
            };
            let referenced = match &key.kind {
                KeyKind::Foreign {
                    schema,
                    table,
                    columns,
                } => {
                    let Some(&(oid, _)) = tables.get(&(schema.clone(), table.clone())) else {
                        continue;
                    };
                    let Some(numbers) = self
                        .attnums(&mut column_names, schema, table, columns)
                        .await
                    else {
                        continue;
                    };
                    Some((oid, numbers))
                }
                KeyKind::Primary | KeyKind::Unique => None,
            };
            placed.push(PlacedKey {
                named,
                table_oid,
                namespace_oid,
                attnums,
                referenced,
            });
        }
        Ok(placed)
    }

    /// Column numbers as `pg_attribute` gives them: 1-based positions.
    async fn attnums(
        &self,
        known: &mut HashMap<(String, String), Option<Vec<String>>>,
        schema: &str,
        table: &str,
        columns: &[String],
    ) -> Option<Vec<i16>> {
        let id = (schema.to_owned(), table.to_owned());
        if !known.contains_key(&id) {
            let names = self.columns.column_types(schema, table).await.map(|s| {
                s.fields()
                    .iter()
                    .map(|f| f.name().clone())
                    .collect::<Vec<_>>()
            });
            known.insert(id.clone(), names);
        }
        let names = known.get(&id)?.as_ref()?;
        columns
            .iter()
            .map(|column| {
                let at = names.iter().position(|name| name == column)?;
                i16::try_from(at + 1).ok()
            })
            .collect()
    }
}

fn list_i16<'a>(lists: impl Iterator<Item = Option<&'a [i16]>>) -> ArrayRef {
    Arc::new(ListArray::from_iter_primitive::<Int16Type, _, _>(
        lists.map(|list| list.map(|values| values.iter().map(|v| Some(*v)).collect::<Vec<_>>())),
    ))
}

fn zeros_i32(lengths: impl Iterator<Item = usize>) -> ArrayRef {
    Arc::new(ListArray::from_iter_primitive::<Int32Type, _, _>(
        lengths.map(|n| Some(vec![Some(0); n])),
    ))
}

fn text<'a>(values: impl Iterator<Item = &'a str>) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(values))
}

fn text_owned(values: impl Iterator<Item = String>) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(values))
}

fn int32(values: impl Iterator<Item = i32>) -> ArrayRef {
    Arc::new(Int32Array::from_iter_values(values))
}

fn int16(values: impl Iterator<Item = i16>) -> ArrayRef {
    Arc::new(Int16Array::from_iter_values(values))
}

fn booleans(values: impl Iterator<Item = bool>) -> ArrayRef {
    Arc::new(BooleanArray::from(values.collect::<Vec<_>>()))
}

fn key_count(key: &PlacedKey) -> i16 {
    i16::try_from(key.attnums.len()).unwrap_or(i16::MAX)
}

fn constraint_rows(schema: &SchemaRef, keys: &[PlacedKey]) -> Result<RecordBatch> {
    let foreign = |k: &PlacedKey| k.referenced.is_some();
    let given: HashMap<&str, ArrayRef> = HashMap::from([
        ("oid", int32(keys.iter().map(|k| k.named.oid))),
        (
            "conname",
            text(keys.iter().map(|k| k.named.key.name.as_str())),
        ),
        ("connamespace", int32(keys.iter().map(|k| k.namespace_oid))),
        (
            "contype",
            text(keys.iter().map(|k| match k.named.key.kind {
                KeyKind::Primary => "p",
                KeyKind::Unique => "u",
                KeyKind::Foreign { .. } => "f",
            })),
        ),
        ("convalidated", booleans(keys.iter().map(|_| true))),
        ("conrelid", int32(keys.iter().map(|k| k.table_oid))),
        (
            "conindid",
            int32(keys.iter().map(|k| {
                k.named
                    .index_oid
                    .or(k.named.referenced_index_oid)
                    .unwrap_or(0)
            })),
        ),
        (
            "confrelid",
            int32(
                keys.iter()
                    .map(|k| k.referenced.as_ref().map_or(0, |(oid, _)| *oid)),
            ),
        ),
        // No action, simple match: what a plain REFERENCES declares.
        (
            "confupdtype",
            text(keys.iter().map(|k| if foreign(k) { "a" } else { " " })),
        ),
        (
            "confdeltype",
            text(keys.iter().map(|k| if foreign(k) { "a" } else { " " })),
        ),
        (
            "confmatchtype",
            text(keys.iter().map(|k| if foreign(k) { "s" } else { " " })),
        ),
        ("conislocal", booleans(keys.iter().map(|_| true))),
        ("connoinherit", booleans(keys.iter().map(|_| true))),
        (
            "conkey",
            list_i16(keys.iter().map(|k| Some(k.attnums.as_slice()))),
        ),
        (
            "confkey",
            list_i16(
                keys.iter()
                    .map(|k| k.referenced.as_ref().map(|(_, n)| n.as_slice())),
            ),
        ),
    ]);
    batch_of(schema, keys.len(), given)
}

fn index_rows(schema: &SchemaRef, keys: &[&PlacedKey], index_oids: &[i32]) -> Result<RecordBatch> {
    let given: HashMap<&str, ArrayRef> = HashMap::from([
        ("indexrelid", int32(index_oids.iter().copied())),
        ("indrelid", int32(keys.iter().map(|k| k.table_oid))),
        ("indnatts", int16(keys.iter().map(|k| key_count(k)))),
        ("indnkeyatts", int16(keys.iter().map(|k| key_count(k)))),
        ("indisunique", booleans(keys.iter().map(|_| true))),
        (
            "indisprimary",
            booleans(keys.iter().map(|k| k.named.key.kind == KeyKind::Primary)),
        ),
        ("indimmediate", booleans(keys.iter().map(|_| true))),
        ("indisvalid", booleans(keys.iter().map(|_| true))),
        ("indisready", booleans(keys.iter().map(|_| true))),
        ("indislive", booleans(keys.iter().map(|_| true))),
        (
            "indkey",
            list_i16(keys.iter().map(|k| Some(k.attnums.as_slice()))),
        ),
        (
            "indcollation",
            zeros_i32(keys.iter().map(|k| k.attnums.len())),
        ),
        ("indclass", zeros_i32(keys.iter().map(|k| k.attnums.len()))),
        // Ascending, NULLS LAST: 0 per column, as int2vector text.
        (
            "indoption",
            text_owned(keys.iter().map(|k| vec!["0"; k.attnums.len()].join(" "))),
        ),
    ]);
    batch_of(schema, keys.len(), given)
}

/// The keys that have an index (primary and unique), with its oid.
fn indexed(keys: &[PlacedKey]) -> (Vec<&PlacedKey>, Vec<i32>) {
    keys.iter()
        .filter_map(|k| k.named.index_oid.map(|oid| (k, oid)))
        .unzip()
}

/// `pg_constraint` or `pg_index`.
#[derive(Debug)]
pub(crate) struct KeyTable {
    keys: Arc<KeyCatalog>,
    schema: SchemaRef,
    indexes: bool,
}

impl KeyTable {
    pub(crate) fn constraints(keys: Arc<KeyCatalog>, schema: SchemaRef) -> Self {
        Self {
            keys,
            schema,
            indexes: false,
        }
    }

    pub(crate) fn indexes(keys: Arc<KeyCatalog>, schema: SchemaRef) -> Self {
        Self {
            keys,
            schema,
            indexes: true,
        }
    }
}

#[async_trait]
impl TableProvider for KeyTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let placed = self.keys.placed(state).await?;
        let batch = if self.indexes {
            let (keys, oids) = indexed(&placed);
            index_rows(&self.schema, &keys, &oids)?
        } else {
            constraint_rows(&self.schema, &placed)?
        };
        MemTable::try_new(self.schema.clone(), vec![vec![batch]])?
            .scan(state, projection, filters, limit)
            .await
    }
}

/// `pg_class` with a row per key index, and `relhasindex` and
/// `relhastriggers` set on keyed tables (psql's `\d` looks for indexes and
/// foreign keys only where they are set; PostgreSQL enforces foreign keys
/// with triggers).
#[derive(Debug)]
pub(crate) struct ClassWithIndexes {
    inner: Arc<dyn TableProvider>,
    keys: Arc<KeyCatalog>,
}

impl ClassWithIndexes {
    pub(crate) fn new(inner: Arc<dyn TableProvider>, keys: Arc<KeyCatalog>) -> Self {
        Self { inner, keys }
    }
}

fn flag_rows(batch: &RecordBatch, column: &str, oids: &HashSet<i32>) -> Result<RecordBatch> {
    let Ok(at) = batch.schema().index_of(column) else {
        return Ok(batch.clone());
    };
    let rel_oids = column_i32(batch, "oid")?;
    let current = batch_column(batch, column)?;
    let current = as_boolean_array(&current)?;
    let flagged: BooleanArray = (0..batch.num_rows())
        .map(|row| {
            Some(
                (current.is_valid(row) && current.value(row))
                    || (rel_oids.is_valid(row) && oids.contains(&rel_oids.value(row))),
            )
        })
        .collect();
    let mut columns = batch.columns().to_vec();
    columns[at] = Arc::new(flagged);
    Ok(RecordBatch::try_new(batch.schema(), columns)?)
}

#[async_trait]
impl TableProvider for ClassWithIndexes {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let placed = self.keys.placed(state).await?;
        if placed.is_empty() {
            return self.inner.scan(state, projection, filters, limit).await;
        }
        let schema = self.inner.schema();
        let plan = self.inner.scan(state, None, &[], None).await?;
        let batches = datafusion::physical_plan::collect(plan, state.task_ctx()).await?;
        let indexed_tables: HashSet<i32> = placed
            .iter()
            .filter(|k| k.named.index_oid.is_some())
            .map(|k| k.table_oid)
            .collect();
        let foreign_tables: HashSet<i32> = placed
            .iter()
            .filter_map(|k| k.referenced.as_ref().map(|(oid, _)| [k.table_oid, *oid]))
            .flatten()
            .collect();
        let mut rows = Vec::with_capacity(batches.len() + 1);
        for batch in &batches {
            let batch = flag_rows(batch, "relhasindex", &indexed_tables)?;
            rows.push(flag_rows(&batch, "relhastriggers", &foreign_tables)?);
        }
        let (keys, oids) = indexed(&placed);
        let given: HashMap<&str, ArrayRef> = HashMap::from([
            ("oid", int32(oids.iter().copied())),
            (
                "relname",
                text(keys.iter().map(|k| k.named.key.name.as_str())),
            ),
            ("relnamespace", int32(keys.iter().map(|k| k.namespace_oid))),
            ("relowner", int32(keys.iter().map(|_| 10))),
            ("relam", int32(keys.iter().map(|_| BTREE))),
            ("relfilenode", int32(oids.iter().copied())),
            ("relpersistence", text(keys.iter().map(|_| "p"))),
            ("relkind", text(keys.iter().map(|_| "i"))),
            ("relnatts", int16(keys.iter().map(|k| key_count(k)))),
            ("relispopulated", booleans(keys.iter().map(|_| true))),
            ("relreplident", text(keys.iter().map(|_| "n"))),
        ]);
        rows.push(batch_of(&schema, keys.len(), given)?);
        MemTable::try_new(schema, vec![rows])?
            .scan(state, projection, filters, limit)
            .await
    }
}
