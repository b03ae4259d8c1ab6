//! Tributary's source kinds. Each module turns one kind of source into
//! DataFusion schema and table providers; nothing else knows how a kind works.

mod error;
pub mod files;
pub mod remote;

pub use error::ConnectorError;
