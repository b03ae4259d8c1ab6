//! `SELECT tributary_refresh('source')`: lists a source's schemas and tables
//! again now, instead of at the next refresh interval, and returns how many
//! tables it exposes. Files sources are read once at start; refreshing one
//! says so.

use std::sync::Arc;

use crate::registry::Registry;
use async_trait::async_trait;
use datafusion::arrow::array::{Array, AsArray, Int64Builder};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{DataFusionError, Result, exec_err, plan_err};
use datafusion::logical_expr::async_udf::{AsyncScalarUDF, AsyncScalarUDFImpl};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

#[derive(Debug)]
pub(crate) struct RefreshFunction {
    signature: Signature,
    registry: Arc<Registry>,
}

// There is one per engine.
impl PartialEq for RefreshFunction {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for RefreshFunction {}

impl std::hash::Hash for RefreshFunction {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        "tributary_refresh".hash(state);
    }
}

pub(crate) fn refresh_udf(registry: Arc<Registry>) -> ScalarUDF {
    let function = RefreshFunction {
        signature: Signature::exact(vec![DataType::Utf8], Volatility::Volatile),
        registry,
    };
    AsyncScalarUDF::new(Arc::new(function)).into_scalar_udf()
}

impl ScalarUDFImpl for RefreshFunction {
    fn name(&self) -> &str {
        "tributary_refresh"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int64)
    }

    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        // Only reached if the planner does not run it as an async function.
        exec_err!("tributary_refresh runs only as a query of its own")
    }
}

#[async_trait]
impl AsyncScalarUDFImpl for RefreshFunction {
    async fn invoke_async_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let names = match args.args.first() {
            Some(ColumnarValue::Scalar(value)) => {
                let name = value.try_as_str().flatten().map(str::to_owned);
                vec![name; rows.max(1)]
            }
            Some(ColumnarValue::Array(array)) => {
                let array = datafusion::arrow::compute::cast(array, &DataType::Utf8)?;
                let strings = array.as_string::<i32>();
                (0..strings.len())
                    .map(|i| (!strings.is_null(i)).then(|| strings.value(i).to_owned()))
                    .collect()
            }
            None => return plan_err!("tributary_refresh(source) needs the source's name"),
        };
        let mut counts = Int64Builder::with_capacity(names.len());
        for name in names {
            match name {
                Some(name) => counts.append_value(self.refresh(&name).await?),
                None => counts.append_null(),
            }
        }
        let counts = counts.finish();
        if matches!(args.args.first(), Some(ColumnarValue::Scalar(_))) {
            let value = datafusion::common::ScalarValue::try_from_array(&counts, 0)?;
            return Ok(ColumnarValue::Scalar(value));
        }
        Ok(ColumnarValue::Array(Arc::new(counts)))
    }
}

impl RefreshFunction {
    async fn refresh(&self, name: &str) -> Result<i64> {
        if let Some(source) = self.registry.remote_source(name) {
            let count = source
                .refresh()
                .await
                .map_err(|e| DataFusionError::External(Box::new(e)))?;
            return Ok(i64::try_from(count).unwrap_or(i64::MAX));
        }
        if self.registry.is_files(name) {
            return plan_err!(
                "source \"{name}\" is a files source: its tables are read when the gateway starts"
            );
        }
        plan_err!("there is no source named \"{name}\"")
    }
}
