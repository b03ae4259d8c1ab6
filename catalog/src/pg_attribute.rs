//! `pg_attribute` with type modifiers.
//!
//! datafusion-pg-catalog reports `atttypmod = -1` for every column, so a
//! `decimal(12,2)` column shows as bare `numeric` in psql's `\d`, as
//! `NUMERIC` without precision in SQLAlchemy, and with a column size of 0 in
//! JDBC's `getColumns` (which BI tools use to size and format values). The
//! modifier follows from the column's Arrow type; the table is found through
//! `pg_class` and `pg_namespace`, read from the same pg_catalog so that the
//! oids agree.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{Int32Array, RecordBatch};
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::catalog::{MemTable, SchemaProvider, Session, TableProvider};
use datafusion::common::Result;
use datafusion::common::cast::as_int16_array;
use datafusion::datasource::TableType;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;

use crate::catalog_scan::{batch_column, column_i32, read, relations};

/// PostgreSQL's `numeric(p, s)` modifier: `((p << 16) | s) + 4`.
pub(crate) fn numeric_typmod(data_type: &DataType) -> Option<i32> {
    match data_type {
        DataType::Decimal32(p, s)
        | DataType::Decimal64(p, s)
        | DataType::Decimal128(p, s)
        | DataType::Decimal256(p, s)
            if *s >= 0 =>
        {
            Some(((i32::from(*p) << 16) | i32::from(*s as u8)) + 4)
        }
        _ => None,
    }
}

/// Where a table's columns come from: the database's table schemas.
#[async_trait]
pub(crate) trait ColumnTypes: Send + Sync + std::fmt::Debug {
    async fn column_types(&self, schema: &str, table: &str) -> Option<SchemaRef>;
}

#[derive(Debug)]
pub(crate) struct AttributesWithTypmod {
    /// The pg_catalog `pg_attribute`, `pg_class` and `pg_namespace` are read from.
    catalog: Arc<dyn SchemaProvider>,
    tables: Arc<dyn ColumnTypes>,
    schema: SchemaRef,
}

impl AttributesWithTypmod {
    pub(crate) fn new(
        catalog: Arc<dyn SchemaProvider>,
        tables: Arc<dyn ColumnTypes>,
        schema: SchemaRef,
    ) -> Self {
        Self {
            catalog,
            tables,
            schema,
        }
    }
}

#[async_trait]
impl TableProvider for AttributesWithTypmod {
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
        let attributes = read(self.catalog.as_ref(), "pg_attribute", state).await?;
        let relations: HashMap<i32, (String, String)> = relations(self.catalog.as_ref(), state)
            .await?
            .into_iter()
            .map(|relation| (relation.oid, (relation.schema, relation.name)))
            .collect();
        let mut types: HashMap<i32, Option<SchemaRef>> = HashMap::new();
        let mut batches = Vec::with_capacity(attributes.len());
        for batch in attributes {
            let relids = column_i32(&batch, "attrelid")?;
            let numbers = batch_column(&batch, "attnum")?;
            let numbers = as_int16_array(&numbers)?;
            let current = column_i32(&batch, "atttypmod")?;
            let mut typmods = Vec::with_capacity(batch.num_rows());
            for row in 0..batch.num_rows() {
                let relid = relids.value(row);
                let table_types = match types.entry(relid) {
                    Entry::Occupied(known) => known.into_mut(),
                    Entry::Vacant(slot) => {
                        let found = match relations.get(&relid) {
                            Some((schema, table)) => self.tables.column_types(schema, table).await,
                            None => None,
                        };
                        slot.insert(found)
                    }
                };
                let typmod = table_types
                    .as_ref()
                    .and_then(|schema| {
                        let index = usize::try_from(numbers.value(row)).ok()?.checked_sub(1)?;
                        schema.fields().get(index).map(|f| f.data_type().clone())
                    })
                    .and_then(|data_type| numeric_typmod(&data_type));
                typmods.push(typmod.unwrap_or(current.value(row)));
            }
            let mut columns = batch.columns().to_vec();
            if let Ok(at) = batch.schema().index_of("atttypmod") {
                columns[at] = Arc::new(Int32Array::from(typmods));
            }
            batches.push(RecordBatch::try_new(self.schema.clone(), columns)?);
        }
        MemTable::try_new(self.schema.clone(), vec![batches])?
            .scan(state, projection, filters, limit)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_modifiers_match_postgres() {
        // PostgreSQL: numeric(12,2) has atttypmod 786438.
        assert_eq!(numeric_typmod(&DataType::Decimal128(12, 2)), Some(786_438));
        assert_eq!(numeric_typmod(&DataType::Int64), None);
    }
}
