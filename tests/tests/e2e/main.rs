//! End-to-end tests: the real `tributary` binary, real clients (tokio-postgres,
//! psql), a real S3 server. Each test starts what it needs and stops it.

mod cache;
mod cli;
mod clients;
mod credentials;
mod errors;
mod federation;
mod file_roots;
mod hardening;
mod http;
mod http_fuzz;
mod http_limits;
mod http_sources;
mod local_files;
mod mssql;
mod object_store;
mod oracle;
mod psql;
mod slt;
mod state;
mod wire;
mod wire_fuzz;
