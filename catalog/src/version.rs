//! `version()` as PostgreSQL clients expect it: SQLAlchemy and others parse
//! the leading `PostgreSQL <major>.<minor>` and refuse anything else.

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::logical_expr::{ColumnarValue, ScalarUDF, Volatility, create_udf};

pub fn server_version_string(emulated_version: &str) -> String {
    format!(
        "PostgreSQL {emulated_version} (Tributary {}, Apache DataFusion {}) on {}-{}, 64-bit",
        env!("CARGO_PKG_VERSION"),
        datafusion::DATAFUSION_VERSION,
        std::env::consts::ARCH,
        std::env::consts::OS,
    )
}

pub(crate) fn version_udf(emulated_version: &str) -> ScalarUDF {
    let text = server_version_string(emulated_version);
    create_udf(
        "version",
        vec![],
        DataType::Utf8,
        Volatility::Immutable,
        Arc::new(move |_| Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(text.clone()))))),
    )
}
