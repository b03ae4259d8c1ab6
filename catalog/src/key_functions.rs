//! `pg_get_constraintdef(oid [, pretty])` and `pg_get_indexdef(oid [,
//! column, pretty])` for the keys of database sources. SQLAlchemy reads a
//! foreign key's columns and target from the constraint's text; psql's
//! `\d` prints both texts. Any other oid gives NULL.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use datafusion::arrow::array::{Array, StringArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::cast::as_int64_array;
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature,
    Volatility,
};

use crate::keys::{DatabaseKeys, constraint_definition, index_definition, quote_ident};
use crate::registry::Registry;

#[derive(Debug)]
struct KeyDefinition {
    name: &'static str,
    indexes: bool,
    signature: Signature,
    registry: Arc<Registry>,
}

// Two instances are the same function when they have the same name: there
// is one of each per session.
impl PartialEq for KeyDefinition {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}
impl Eq for KeyDefinition {}
impl Hash for KeyDefinition {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

/// The two functions, over the keys of every database.
pub(crate) fn key_definition_functions(registry: Arc<Registry>) -> [ScalarUDF; 2] {
    let signature = |arities: &[usize]| {
        Signature::one_of(
            arities.iter().map(|n| TypeSignature::Any(*n)).collect(),
            Volatility::Stable,
        )
    };
    [
        ScalarUDF::new_from_impl(KeyDefinition {
            name: "pg_get_constraintdef",
            indexes: false,
            signature: signature(&[1, 2]),
            registry: registry.clone(),
        }),
        ScalarUDF::new_from_impl(KeyDefinition {
            name: "pg_get_indexdef",
            indexes: true,
            signature: signature(&[1, 3]),
            registry,
        }),
    ]
}

impl KeyDefinition {
    /// oid → (the whole definition, the column names).
    fn definitions(&self) -> HashMap<i64, (String, Vec<String>)> {
        let mut definitions = HashMap::new();
        for database in DatabaseKeys::of_every_database(&self.registry) {
            for named in database.keys() {
                let (oid, text) = if self.indexes {
                    match named.index_oid {
                        Some(oid) => (oid, index_definition(&named.key)),
                        None => continue,
                    }
                } else {
                    (named.oid, constraint_definition(&named.key))
                };
                definitions.insert(i64::from(oid), (text, named.key.columns));
            }
        }
        definitions
    }
}

impl ScalarUDFImpl for KeyDefinition {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let all_scalar = args
            .args
            .iter()
            .all(|arg| matches!(arg, ColumnarValue::Scalar(_)));
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let oids = datafusion::arrow::compute::cast(&arrays[0], &DataType::Int64)?;
        let oids = as_int64_array(&oids)?;
        // pg_get_indexdef(oid, n, pretty) with n > 0 is the n-th column.
        let column = match arrays.get(1) {
            Some(column) if self.indexes => {
                Some(datafusion::arrow::compute::cast(column, &DataType::Int64)?)
            }
            _ => None,
        };
        let column = column.as_deref().map(as_int64_array).transpose()?;
        let definitions = self.definitions();
        let texts: StringArray = (0..oids.len())
            .map(|row| {
                if oids.is_null(row) {
                    return None;
                }
                let (whole, columns) = definitions.get(&oids.value(row))?;
                match column {
                    Some(column) if column.is_valid(row) && column.value(row) > 0 => {
                        let at = usize::try_from(column.value(row) - 1).ok()?;
                        columns.get(at).map(|name| quote_ident(name))
                    }
                    _ => Some(whole.clone()),
                }
            })
            .collect();
        if all_scalar {
            return Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(
                &texts, 0,
            )?));
        }
        Ok(ColumnarValue::Array(Arc::new(texts)))
    }
}
