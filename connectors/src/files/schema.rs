//! A files source as a DataFusion schema. Its tables are resolved when the
//! gateway starts; a source that could not be opened then (an object store
//! that was down, a corrupt file since replaced) is tried again when a query
//! names it, at most every few seconds.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use datafusion::catalog::{SchemaProvider, TableProvider};
use datafusion::common::{DataFusionError, Result};
use datafusion::execution::SessionState;
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::execution::session_state::SessionStateBuilder;

use super::FilesSpec;
use super::open::{Contents, TableSlot, one_line, open_source};

/// How long a failed source waits before a query may try it again.
const RETRY_AFTER: Duration = Duration::from_secs(5);

/// The tables of one files source. A table that cannot be opened (corrupt
/// file, wrong credentials) stays known and fails each query that names it
/// with the reason, instead of taking the gateway or its other tables down.
#[derive(Debug)]
pub struct FilesSchema {
    spec: FilesSpec,
    /// For reopening: the object stores live here (not the whole session
    /// state, which holds the catalogs that hold this schema).
    runtime: Arc<RuntimeEnv>,
    contents: RwLock<Arc<Contents>>,
    reopening: tokio::sync::Mutex<()>,
}

impl FilesSchema {
    pub async fn load(spec: &FilesSpec, state: &SessionState) -> Self {
        let contents = open_source(spec, state).await;
        Self {
            spec: spec.clone(),
            runtime: state.runtime_env().clone(),
            contents: RwLock::new(Arc::new(contents)),
            reopening: tokio::sync::Mutex::new(()),
        }
    }

    fn contents(&self) -> Arc<Contents> {
        match self.contents.read() {
            Ok(contents) => contents.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// What is wrong with the source or its tables, one line each.
    pub fn problems(&self) -> Vec<String> {
        let contents = self.contents();
        let mut problems: Vec<String> = contents.failure.iter().map(|e| one_line(e)).collect();
        for (name, slot) in &contents.tables {
            if let TableSlot::Failed(error) = slot {
                problems.push(format!("table {name}: {}", one_line(error)));
            }
        }
        problems
    }

    /// The current contents, reopened first if they are incomplete and the
    /// last attempt is old enough.
    async fn current(&self) -> Arc<Contents> {
        let due = |contents: &Contents| {
            !contents.is_complete() && contents.opened_at.elapsed() >= RETRY_AFTER
        };
        let contents = self.contents();
        if !due(&contents) {
            return contents;
        }
        // One query reopens; others arriving meanwhile wait for its result.
        let _reopening = self.reopening.lock().await;
        let contents = self.contents();
        if !due(&contents) {
            return contents;
        }
        tracing::info!(source = %self.spec.name, "trying the source again");
        let state = SessionStateBuilder::new()
            .with_runtime_env(self.runtime.clone())
            .build();
        let reopened = Arc::new(open_source(&self.spec, &state).await);
        match self.contents.write() {
            Ok(mut slot) => *slot = reopened.clone(),
            Err(poisoned) => *poisoned.into_inner() = reopened.clone(),
        }
        reopened
    }
}

#[async_trait]
impl SchemaProvider for FilesSchema {
    fn table_names(&self) -> Vec<String> {
        // Only tables that can be queried: catalog browsing (\dt, BI tools)
        // opens each listed table and must not fail on a broken one.
        self.contents()
            .tables
            .iter()
            .filter(|(_, slot)| matches!(slot, TableSlot::Ready(_)))
            .map(|(name, _)| name.clone())
            .collect()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        let contents = self.current().await;
        if let Some(failure) = &contents.failure {
            return Err(DataFusionError::Shared(failure.clone())
                .context(format!("source \"{}\" is unavailable", self.spec.name)));
        }
        match contents.tables.get(name) {
            Some(TableSlot::Ready(table)) => Ok(Some(table.clone())),
            Some(TableSlot::Failed(error)) => Err(DataFusionError::Shared(error.clone()).context(
                format!("table \"{}.{name}\" is unavailable", self.spec.name),
            )),
            None => Ok(None),
        }
    }

    fn table_exist(&self, name: &str) -> bool {
        let contents = self.contents();
        contents.failure.is_some() || contents.tables.contains_key(name)
    }
}
