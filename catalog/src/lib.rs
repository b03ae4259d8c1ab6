//! What exists in Tributary, as DataFusion sees it: each source becomes a
//! catalog named after it, and a schema of the same name in the default
//! catalog `tributary`, beside the pg_catalog and information_schema that
//! PostgreSQL clients introspect.

mod catalog_scan;
mod functions;
mod key_functions;
mod key_tables;
mod keys;
mod partitions;
mod pg_attribute;
mod pg_catalog;
mod refresh;
mod registry;
mod session;
mod sources;
mod store;
mod unavailable;
mod version;

pub use session::{DEFAULT_CATALOG, DEFAULT_SCHEMA, SourceSpec, SourceStatus, build_session};
pub use sources::LiveSources;
pub use store::{CatalogStore, STORE_FILE, StoreError, StoredSource, TokenInfo, sidecar};
pub use version::server_version_string;
