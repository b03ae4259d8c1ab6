//! Tributary's PostgreSQL wire protocol front end.
//!
//! Built on `pgwire` and `datafusion-postgres`; adds what they lack for a
//! gateway: SQLSTATEs on every error, cancellation and `statement_timeout`
//! over a whole statement, a session per connection, execution apart from
//! the connection threads, refusal of writes, trust authentication for one
//! user, graceful shutdown. It knows nothing of sources: it is handed a
//! `SessionContext` to run SQL on.

mod cancel;
mod complexity;
mod connection;
mod copy;
mod copy_text;
mod execute;
mod execution;
mod in_flight;
pub mod parameters;
mod prepared;
mod read_only;
mod rewrite;
mod server;
mod session;
mod session_statements;
mod settings;
mod sqlstate;
mod startup;

pub use complexity::{
    DEFAULT_MAX_STATEMENT_DEPTH, PLANNING_STACK_BYTES, TooComplex, check_statement_depth,
    estimated_depth,
};
pub use connection::WireLimits;
pub use prepared::DEFAULT_MAX_PREPARED_STATEMENTS;
pub use read_only::query_only;
pub use server::{FrontEndOptions, SessionSetup, serve};
pub use sqlstate::{ClassifiedError, ExternalClassifier, classify, codes, set_external_classifier};
pub use startup::{DatabaseRoutes, EMULATED_SERVER_VERSION};
pub use tributary_frames::DEFAULT_MAX_MESSAGE_BYTES;
