use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::{SchemaProvider, TableProvider};
use datafusion::common::{DataFusionError, Result};

/// Stands in for a source that could not be set up, so that queries naming
/// it say why instead of "relation does not exist".
#[derive(Debug)]
pub(crate) struct UnavailableSchema {
    message: String,
}

impl UnavailableSchema {
    pub(crate) fn new(source_name: &str, reason: &str) -> Self {
        Self {
            message: format!("source \"{source_name}\" is unavailable: {reason}"),
        }
    }
}

#[async_trait]
impl SchemaProvider for UnavailableSchema {
    fn table_names(&self) -> Vec<String> {
        Vec::new()
    }

    async fn table(&self, _name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        Err(DataFusionError::Plan(self.message.clone()))
    }

    fn table_exist(&self, _name: &str) -> bool {
        true
    }
}
