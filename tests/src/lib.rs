//! Support for end-to-end tests: the real `tributary` binary and real
//! servers, each on a free loopback port in a temp dir, stopped on drop.

mod databases;
mod gateway;
mod mssql;
pub mod raw_wire;
mod s3;

pub use databases::{DATABASE_PASSWORD, MariaDbServer, PostgresServer};
pub use gateway::{Gateway, cli, tributary_binary};
pub use mssql::MssqlServer;
pub use s3::{ACCESS_KEY, S3Server, SECRET_KEY};

/// A process's resident set (`VmRSS`) or peak (`VmHWM`) in KiB, from /proc.
pub fn process_memory_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|line| {
        let value = line.strip_prefix(field)?.strip_prefix(':')?;
        value.trim().strip_suffix("kB")?.trim().parse().ok()
    })
}
