//! Errors of remote sources, each naming the source, none carrying a secret.

use std::error::Error as StdError;

/// What went wrong with a remote database, as the client should hear it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SourceError {
    /// The database cannot be reached or refused the gateway (down, wrong
    /// host, wrong password): SQLSTATE class 08.
    #[error("source \"{source_name}\" is unavailable: {reason}")]
    Unavailable { source_name: String, reason: String },
    /// The database ran the statement and failed it; `sqlstate` is its own
    /// code when it gave one.
    #[error("source \"{source_name}\" failed the query: {message}")]
    Remote {
        source_name: String,
        sqlstate: Option<String>,
        message: String,
    },
}

impl SourceError {
    /// The database refused the login (class 28: SQL Server's 18456):
    /// unlike other failures to connect, this is the answer to keep.
    pub(crate) fn refuses_login(&self) -> bool {
        self.sqlstate().starts_with("28")
    }

    /// The SQLSTATE the client receives.
    pub fn sqlstate(&self) -> &str {
        match self {
            // connection_exception: "sqlclient unable to establish sqlconnection"
            Self::Unavailable { .. } => "08001",
            Self::Remote { sqlstate, .. } => sqlstate.as_deref().unwrap_or("XX000"),
        }
    }

    /// A failure of a statement sent to the source: the database's own code
    /// when it has one; a lost connection is class 08.
    pub(crate) fn from_query(source_name: &str, error: &(dyn StdError + 'static)) -> SourceError {
        // Already ours (a connection the guard refused): keep it.
        if let Some(ours) = chain(error).find_map(|e| e.downcast_ref::<SourceError>()) {
            return ours.clone();
        }
        let message = innermost_message(error);
        // A column whose type has no mapping: a clear "not supported".
        let unreadable = message
            .to_ascii_lowercase()
            .contains("unsupported data type")
            || message.starts_with("error deserializing column");
        if unreadable {
            return SourceError::Remote {
                source_name: source_name.to_owned(),
                sqlstate: Some("0A000".to_owned()),
                message,
            };
        }
        let sqlstate = remote_sqlstate(error);
        if sqlstate.is_none() && is_connection_failure(error) {
            return SourceError::Unavailable {
                source_name: source_name.to_owned(),
                reason: message,
            };
        }
        SourceError::Remote {
            source_name: source_name.to_owned(),
            sqlstate,
            message,
        }
    }
}

/// A source's error as the client should see it: SQLSTATE and message.
pub fn classify_source_error(error: &(dyn StdError + 'static)) -> Option<(String, String)> {
    let source_error = error.downcast_ref::<SourceError>()?;
    Some((source_error.sqlstate().to_owned(), source_error.to_string()))
}

/// The SQLSTATE a database attached to an error somewhere in its chain.
pub fn remote_sqlstate(error: &(dyn StdError + 'static)) -> Option<String> {
    chain(error).find_map(|e| {
        if let Some(pg) = e.downcast_ref::<tokio_postgres::Error>() {
            return pg.code().map(|c| c.code().to_owned());
        }
        if let Some(db) = e.downcast_ref::<tokio_postgres::error::DbError>() {
            return Some(db.code().code().to_owned());
        }
        if let Some(mysql_async::Error::Server(server)) = e.downcast_ref::<mysql_async::Error>() {
            return Some(server.state.clone());
        }
        if let Some(tiberius::error::Error::Server(token)) =
            e.downcast_ref::<tiberius::error::Error>()
        {
            return mssql_sqlstate(token.code()).map(str::to_owned);
        }
        None
    })
}

/// The SQLSTATE of a SQL Server error number (SQL Server has none of its
/// own on the wire). Unknown numbers keep the generic class.
pub(crate) fn mssql_sqlstate(number: u32) -> Option<&'static str> {
    Some(match number {
        // Login failed; cannot open the database the login asked for.
        18456 | 18452 | 18486 | 18487 | 18488 => "28000",
        4060 => "3D000",
        208 => "42P01",
        207 => "42703",
        209 => "42702",
        2812 => "42883",
        102 | 156 | 170 | 105 => "42601",
        229 | 230 | 262 | 300 => "42501",
        8134 => "22012",
        220 | 232 | 8115 => "22003",
        245 | 8114 | 241 | 242 | 295 => "22P02",
        8152 | 2628 => "22001",
        515 => "23502",
        547 => "23503",
        2601 | 2627 => "23505",
        1205 => "40P01",
        3701 => "42P01",
        _ => return None,
    })
}

fn is_connection_failure(error: &(dyn StdError + 'static)) -> bool {
    chain(error).any(|e| {
        if let Some(pg) = e.downcast_ref::<tokio_postgres::Error>() {
            return pg.is_closed();
        }
        if let Some(tds) = e.downcast_ref::<tiberius::error::Error>() {
            return matches!(
                tds,
                tiberius::error::Error::Io { .. } | tiberius::error::Error::Tls(_)
            );
        }
        if let Some(my) = e.downcast_ref::<mysql_async::Error>() {
            return matches!(my, mysql_async::Error::Io(_))
                || matches!(
                    my,
                    mysql_async::Error::Driver(mysql_async::DriverError::ConnectionClosed)
                );
        }
        e.downcast_ref::<std::io::Error>().is_some()
    })
}

/// The most specific message: the libraries wrap driver errors in several
/// layers of "Failed to execute query." that say nothing to a user.
fn innermost_message(error: &(dyn StdError + 'static)) -> String {
    if let Some(db) = chain(error).find_map(|e| e.downcast_ref::<tokio_postgres::error::DbError>())
    {
        return db.message().to_owned();
    }
    if let Some(pg) = chain(error).find_map(|e| e.downcast_ref::<tokio_postgres::Error>()) {
        if let Some(db) = pg.as_db_error() {
            return db.message().to_owned();
        }
        return match pg.source() {
            Some(cause) => format!("{pg}: {cause}"),
            None => pg.to_string(),
        };
    }
    if let Some(my) = chain(error).find_map(|e| e.downcast_ref::<mysql_async::Error>()) {
        if let mysql_async::Error::Server(server) = my {
            return server.message.clone();
        }
        return my.to_string();
    }
    if let Some(tds) = chain(error).find_map(|e| e.downcast_ref::<tiberius::error::Error>()) {
        return match tds {
            tiberius::error::Error::Server(token) => token.message().to_owned(),
            other => other.to_string(),
        };
    }
    let last = chain(error).last().unwrap_or(error);
    last.to_string()
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}

fn chain<'a>(
    error: &'a (dyn StdError + 'static),
) -> impl Iterator<Item = &'a (dyn StdError + 'static)> {
    std::iter::successors(Some(error), |e| (*e).source())
}

impl SourceError {
    /// Names the column a driver reported by position ("error deserializing
    /// column 3") after the query's own schema.
    pub(crate) fn naming_columns(self, names: &[String]) -> SourceError {
        let SourceError::Remote {
            source_name,
            sqlstate,
            message,
        } = self
        else {
            return self;
        };
        let named = message
            .strip_prefix("error deserializing column ")
            .and_then(|rest| {
                let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                let index: usize = digits.parse().ok()?;
                let name = names.get(index)?;
                Some(format!(
                    "cannot read column \"{name}\"{}",
                    &rest[digits.len()..]
                ))
            })
            .unwrap_or(message);
        SourceError::Remote {
            source_name,
            sqlstate,
            message: named,
        }
    }
}
