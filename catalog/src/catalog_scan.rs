//! Reading the tables of a `pg_catalog` from inside another of its tables:
//! the wrappers that add what datafusion-pg-catalog lacks (type modifiers,
//! keys) find tables by the oids that pg_catalog gave them.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, Int32Array, RecordBatch};
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::catalog::{SchemaProvider, Session};
use datafusion::common::cast::{as_int32_array, as_string_array};
use datafusion::common::{DataFusionError, Result, ScalarValue};

/// Every row of the pg_catalog table `name`.
pub(crate) async fn read(
    catalog: &dyn SchemaProvider,
    name: &str,
    state: &dyn Session,
) -> Result<Vec<RecordBatch>> {
    let table = catalog
        .table(name)
        .await?
        .ok_or_else(|| DataFusionError::Internal(format!("pg_catalog.{name} is missing")))?;
    let plan = table.scan(state, None, &[], None).await?;
    datafusion::physical_plan::collect(plan, state.task_ctx()).await
}

pub(crate) fn batch_column(batch: &RecordBatch, name: &str) -> Result<ArrayRef> {
    batch
        .column_by_name(name)
        .cloned()
        .ok_or_else(|| DataFusionError::Internal(format!("pg_catalog column {name} is missing")))
}

/// An oid column, whichever integer type the builder gave it.
pub(crate) fn column_i32(batch: &RecordBatch, name: &str) -> Result<Int32Array> {
    let column = batch_column(batch, name)?;
    let column = datafusion::arrow::compute::cast(&column, &DataType::Int32)?;
    Ok(as_int32_array(&column)?.clone())
}

/// A relation listed in `pg_class`, with its schema's name.
#[derive(Clone, Debug)]
pub(crate) struct Relation {
    pub oid: i32,
    pub namespace_oid: i32,
    pub schema: String,
    pub name: String,
}

/// The relations of `pg_class` whose schema is in `pg_namespace`.
pub(crate) async fn relations(
    catalog: &dyn SchemaProvider,
    state: &dyn Session,
) -> Result<Vec<Relation>> {
    let mut namespaces = HashMap::new();
    for batch in read(catalog, "pg_namespace", state).await? {
        let oids = column_i32(&batch, "oid")?;
        let names = batch_column(&batch, "nspname")?;
        let names = as_string_array(&names)?;
        for row in 0..batch.num_rows() {
            if oids.is_valid(row) && names.is_valid(row) {
                namespaces.insert(oids.value(row), names.value(row).to_owned());
            }
        }
    }
    let mut relations = Vec::new();
    for batch in read(catalog, "pg_class", state).await? {
        let oids = column_i32(&batch, "oid")?;
        let namespace_oids = column_i32(&batch, "relnamespace")?;
        let names = batch_column(&batch, "relname")?;
        let names = as_string_array(&names)?;
        for row in 0..batch.num_rows() {
            let Some(schema) = namespaces.get(&namespace_oids.value(row)) else {
                continue;
            };
            if oids.is_valid(row) && names.is_valid(row) {
                relations.push(Relation {
                    oid: oids.value(row),
                    namespace_oid: namespace_oids.value(row),
                    schema: schema.clone(),
                    name: names.value(row).to_owned(),
                });
            }
        }
    }
    Ok(relations)
}

/// A batch of `rows` rows of `schema`: the given columns (cast to the
/// schema's types), NULL where a column is nullable, its type's default
/// (zero, false, empty) where it is not.
pub(crate) fn batch_of(
    schema: &SchemaRef,
    rows: usize,
    mut given: HashMap<&str, ArrayRef>,
) -> Result<RecordBatch> {
    let mut columns = Vec::with_capacity(schema.fields().len());
    for field in schema.fields() {
        let column = match given.remove(field.name().as_str()) {
            Some(column) => datafusion::arrow::compute::cast(&column, field.data_type())?,
            None if field.is_nullable() => {
                datafusion::arrow::array::new_null_array(field.data_type(), rows)
            }
            None => ScalarValue::new_default(field.data_type())?.to_array_of_size(rows)?,
        };
        columns.push(column);
    }
    Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
}
