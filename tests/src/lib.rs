//! Support for end-to-end tests: the real `tributary` binary and real
//! servers, each on a free loopback port in a temp dir, stopped on drop.

mod databases;
mod gateway;
mod mssql;
mod s3;

pub use databases::{DATABASE_PASSWORD, MariaDbServer, PostgresServer};
pub use gateway::{Gateway, cli, tributary_binary};
pub use mssql::MssqlServer;
pub use s3::{ACCESS_KEY, S3Server, SECRET_KEY};
