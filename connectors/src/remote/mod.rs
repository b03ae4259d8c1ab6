//! Remote databases (PostgreSQL, MySQL/MariaDB) as DataFusion catalogs whose
//! tables push whole sub-plans into the database through
//! datafusion-federation.
//!
//! The table providers and the row-to-Arrow decoding come from
//! datafusion-table-providers. What this module adds is what a gateway needs
//! around them: a source that is down at start or goes down later fails only
//! the queries that touch it (class 08, naming the source) and comes back by
//! itself; a source's own SQLSTATE reaches the client; tables added to the
//! database show up on a refresh; include/exclude patterns decide what is
//! exposed.

mod bound;
mod cancel;
mod catalog;
mod database;
mod error;
mod executor;
mod guard;
mod keys;
mod local;
mod mssql;
mod oracle;
mod patterns;
mod pushdown;
mod sql_text;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;

pub use catalog::{RemoteCatalog, RemoteSchema, RemoteSource};
pub use error::{SourceError, classify_source_error, remote_sqlstate};
pub use keys::{Key, KeyKind};
pub use patterns::TablePatterns;

/// Which database protocol a source speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatabaseKind {
    Postgres,
    /// MySQL and MariaDB.
    Mysql,
    /// SQL Server and Azure SQL.
    Mssql,
    /// Oracle Database, through Oracle Instant Client.
    Oracle,
}

impl DatabaseKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::Postgres => "postgres",
            Self::Mysql => "mysql",
            Self::Mssql => "mssql",
            Self::Oracle => "oracle",
        }
    }

    pub fn default_port(self) -> u16 {
        match self {
            Self::Postgres => 5432,
            Self::Mysql => 3306,
            Self::Mssql => 1433,
            Self::Oracle => 1521,
        }
    }
}

/// TLS to the database, named as libpq's `sslmode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TlsMode {
    Disable,
    /// TLS if the server offers it, without verifying its certificate: what
    /// psql does by default.
    #[default]
    Prefer,
    /// TLS always, without verifying the certificate.
    Require,
    /// TLS always, the certificate verified against the trusted roots.
    VerifyCa,
    /// As `VerifyCa`, and the certificate must name the host.
    VerifyFull,
}

impl TlsMode {
    pub const NAMES: [&'static str; 5] =
        ["disable", "prefer", "require", "verify-ca", "verify-full"];

    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "disable" => Self::Disable,
            "prefer" => Self::Prefer,
            "require" => Self::Require,
            "verify-ca" => Self::VerifyCa,
            "verify-full" => Self::VerifyFull,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Disable => "disable",
            Self::Prefer => "prefer",
            Self::Require => "require",
            Self::VerifyCa => "verify-ca",
            Self::VerifyFull => "verify-full",
        }
    }
}

/// SQL Server's `encrypt` setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MssqlEncrypt {
    /// Only the login is encrypted (SQL Server always encrypts it).
    Off,
    /// Everything, if the server can.
    #[default]
    On,
    /// Everything; refuse a server that cannot.
    Required,
}

impl MssqlEncrypt {
    pub const NAMES: [&'static str; 3] = ["off", "on", "required"];

    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "off" => Self::Off,
            "on" => Self::On,
            "required" => Self::Required,
            _ => return None,
        })
    }
}

/// What only a SQL Server source has.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MssqlOptions {
    pub encrypt: MssqlEncrypt,
    /// Accept the server's certificate without verifying it (self-signed
    /// certificates, as SQL Server makes by default).
    pub trust_server_certificate: bool,
    /// A named instance (`host\\instance`), found through SQL Browser.
    pub instance: Option<String>,
}

/// Where a source's password comes from. It is asked for at every
/// connection attempt, so a changed secret reaches the source without a
/// restart.
pub trait SecretSource: Send + Sync {
    /// The value now; the error names the reference, never a value.
    fn current(&self) -> Result<SecretString, String>;

    /// Changes whenever `current` may answer differently (a file's time and
    /// size); cheap enough to ask before every query.
    fn version(&self) -> u64 {
        0
    }
}

struct FixedSecret(SecretString);

impl SecretSource for FixedSecret {
    fn current(&self) -> Result<SecretString, String> {
        Ok(self.0.clone())
    }
}

/// A password, fixed or looked up; `Debug` shows nothing of it.
#[derive(Clone)]
pub struct Password(Arc<dyn SecretSource>);

impl Password {
    pub fn fixed(value: SecretString) -> Self {
        Self(Arc::new(FixedSecret(value)))
    }

    pub fn looked_up(source: Arc<dyn SecretSource>) -> Self {
        Self(source)
    }

    pub fn current(&self) -> Result<SecretString, String> {
        self.0.current()
    }

    pub fn version(&self) -> u64 {
        self.0.version()
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<hidden>")
    }
}

/// A remote database source. `Debug` never shows the password.
#[derive(Clone)]
pub struct DatabaseSpec {
    pub name: String,
    pub kind: DatabaseKind,
    pub host: String,
    pub port: u16,
    /// PostgreSQL, SQL Server: the database to connect to. MySQL: the
    /// default schema. Oracle: the service name.
    pub database: String,
    pub user: String,
    pub password: Option<Password>,
    pub tls: TlsMode,
    pub pool_size: u32,
    pub connect_timeout: Duration,
    pub tables: TablePatterns,
    /// How often the list of schemas and tables is read again.
    pub refresh_interval: Duration,
    /// Off: nothing but the column list is sent to the database and every
    /// filter, join and aggregate runs in the gateway. For diagnosis, and the
    /// reference the differential tests compare pushdown against.
    pub pushdown: bool,
    pub mssql: MssqlOptions,
}

impl DatabaseSpec {
    /// The schema `tributary.<source>` shows: PostgreSQL's `public`, the
    /// MySQL database, SQL Server's `dbo`, the Oracle user's schema.
    pub fn default_schema(&self) -> std::borrow::Cow<'_, str> {
        match self.kind {
            DatabaseKind::Postgres => "public".into(),
            DatabaseKind::Mysql => self.database.as_str().into(),
            DatabaseKind::Mssql => "dbo".into(),
            // Oracle's schema is its user, upper case there, lower case here.
            DatabaseKind::Oracle => oracle::shown_name(&self.user).into(),
        }
    }
}

impl fmt::Debug for DatabaseSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseSpec")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("database", &self.database)
            .field("user", &self.user)
            .field("password", &self.password)
            .field("tls", &self.tls)
            .field("pool_size", &self.pool_size)
            .field("connect_timeout", &self.connect_timeout)
            .field("tables", &self.tables)
            .field("refresh_interval", &self.refresh_interval)
            .field("pushdown", &self.pushdown)
            .field("mssql", &self.mssql)
            .finish()
    }
}
