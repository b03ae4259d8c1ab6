//! `pg_partition_ancestors(relation)`: a relation and the partitioned tables
//! above it. Tributary's tables are never partitions, so the answer is the
//! relation itself. psql's `\d` reads foreign keys through it, as a table
//! function (`FROM pg_constraint, pg_partition_ancestors('16385')`) and as a
//! set-returning call in a select list ("Referenced by").

use std::sync::Arc;

use datafusion::arrow::array::{Int32Array, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::catalog::{MemTable, TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::{Result, ScalarValue, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::prelude::SessionContext;

const NAME: &str = "pg_partition_ancestors";

#[derive(Debug)]
struct AncestorsTable;

/// The oid a constant argument names: `'16385'`, `16385`, or either cast.
fn constant_oid(expr: &Expr) -> Option<i32> {
    match expr {
        Expr::Literal(value, _) => value.cast_to(&DataType::Int32).ok().and_then(|v| match v {
            ScalarValue::Int32(oid) => oid,
            _ => None,
        }),
        Expr::Cast(cast) => constant_oid(&cast.expr),
        Expr::TryCast(cast) => constant_oid(&cast.expr),
        _ => None,
    }
}

impl TableFunctionImpl for AncestorsTable {
    /// Columns `relid` and `depth` (PostgreSQL's, with ORDINALITY). An
    /// argument that is not a constant (psql's trigger query correlates it
    /// with `pg_trigger`, which is empty) gives no rows.
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let [argument] = args.exprs() else {
            return plan_err!("{NAME} takes one argument");
        };
        let oids: Vec<i32> = constant_oid(argument).into_iter().collect();
        let schema = Arc::new(Schema::new(vec![
            Field::new("relid", DataType::Int32, false),
            Field::new("depth", DataType::Int32, false),
        ]));
        let depths = vec![1; oids.len()];
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int32Array::from(oids)),
                Arc::new(Int32Array::from(depths)),
            ],
        )?;
        Ok(Arc::new(MemTable::try_new(schema, vec![vec![batch]])?))
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct AncestorsScalar {
    signature: Signature,
}

impl ScalarUDFImpl for AncestorsScalar {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int32)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        match args.args.into_iter().next() {
            Some(argument) => argument.cast_to(&DataType::Int32, None),
            None => plan_err!("{NAME} takes one argument"),
        }
    }
}

pub(crate) fn register_partition_functions(context: &SessionContext) {
    context.register_udtf(NAME, Arc::new(AncestorsTable));
    context.register_udf(ScalarUDF::new_from_impl(AncestorsScalar {
        signature: Signature::any(1, Volatility::Immutable),
    }));
}
