//! The sources the engine serves now. Sources come and go while the server
//! runs (the HTTP API creates, replaces and deletes them), so every part that
//! lists sources (catalogs, keys, `tributary_refresh`) reads this registry
//! when it is asked, not a copy taken at start.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use datafusion::catalog::{CatalogProvider, CatalogProviderList};
use tributary_connectors::files::FilesSpec;
use tributary_connectors::remote::RemoteSource;

use crate::SourceStatus;

/// What is registered per source, beside its catalogs.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    remote: RwLock<BTreeMap<String, Arc<RemoteSource>>>,
    /// Files sources by name, to refuse a second set of options for a bucket.
    files: RwLock<BTreeMap<String, FilesSpec>>,
    /// Files and unavailable sources: their status is fixed when opened.
    fixed_statuses: RwLock<BTreeMap<String, SourceStatus>>,
}

/// A poisoned lock only means another thread panicked while holding it; the
/// maps stay consistent because each write is a single insert or remove.
fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Registry {
    pub(crate) fn remote(&self) -> BTreeMap<String, Arc<RemoteSource>> {
        read(&self.remote).clone()
    }

    pub(crate) fn remote_source(&self, name: &str) -> Option<Arc<RemoteSource>> {
        read(&self.remote).get(name).cloned()
    }

    pub(crate) fn is_files(&self, name: &str) -> bool {
        read(&self.files).contains_key(name)
    }

    pub(crate) fn files(&self) -> Vec<FilesSpec> {
        read(&self.files).values().cloned().collect()
    }

    pub(crate) fn insert_remote(&self, source: Arc<RemoteSource>) {
        write(&self.remote).insert(source.name().to_owned(), source);
    }

    pub(crate) fn insert_fixed(&self, status: SourceStatus, files: Option<FilesSpec>) {
        if let Some(spec) = files {
            write(&self.files).insert(spec.name.clone(), spec);
        }
        write(&self.fixed_statuses).insert(status.name.clone(), status);
    }

    /// Forgets `name`; true when it was registered.
    pub(crate) fn remove(&self, name: &str) -> bool {
        let remote = write(&self.remote).remove(name).is_some();
        write(&self.files).remove(name);
        let fixed = write(&self.fixed_statuses).remove(name).is_some();
        remote || fixed
    }

    /// Every source's status now, by name. A database source's tables and
    /// problems are read live: its listing refreshes in the background.
    pub(crate) fn statuses(&self) -> Vec<SourceStatus> {
        let mut statuses: BTreeMap<String, SourceStatus> = read(&self.fixed_statuses).clone();
        for (name, source) in read(&self.remote).iter() {
            statuses.insert(name.clone(), remote_status(source));
        }
        statuses.into_values().collect()
    }
}

pub(crate) fn remote_status(source: &RemoteSource) -> SourceStatus {
    SourceStatus {
        name: source.name().to_owned(),
        default_schema: source.spec().default_schema().into_owned(),
        tables: source.table_names(),
        problems: source.problems(),
    }
}

/// The engine's catalogs: like DataFusion's in-memory list, but a catalog
/// can also be removed (DataFusion's list only registers).
#[derive(Debug, Default)]
pub(crate) struct SourceCatalogs {
    catalogs: RwLock<BTreeMap<String, Arc<dyn CatalogProvider>>>,
}

impl SourceCatalogs {
    pub(crate) fn remove(&self, name: &str) -> Option<Arc<dyn CatalogProvider>> {
        write(&self.catalogs).remove(name)
    }
}

impl CatalogProviderList for SourceCatalogs {
    fn register_catalog(
        &self,
        name: String,
        catalog: Arc<dyn CatalogProvider>,
    ) -> Option<Arc<dyn CatalogProvider>> {
        write(&self.catalogs).insert(name, catalog)
    }

    fn catalog_names(&self) -> Vec<String> {
        read(&self.catalogs).keys().cloned().collect()
    }

    fn catalog(&self, name: &str) -> Option<Arc<dyn CatalogProvider>> {
        read(&self.catalogs).get(name).cloned()
    }
}
