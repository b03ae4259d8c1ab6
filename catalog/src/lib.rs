//! What exists in Tributary, as DataFusion sees it: each source becomes a
//! catalog named after it, and a schema of the same name in the default
//! catalog `tributary`, beside the pg_catalog and information_schema that
//! PostgreSQL clients introspect.

mod functions;
mod pg_attribute;
mod pg_catalog;
mod refresh;
mod session;
mod unavailable;
mod version;

pub use session::{DEFAULT_CATALOG, DEFAULT_SCHEMA, SourceSpec, SourceStatus, build_session};
pub use version::server_version_string;
