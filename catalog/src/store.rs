//! The catalog store: what is defined at run time (sources created through
//! the HTTP API) and must outlive a restart. An SQLite file in the data dir,
//! `catalog.db`, whose schema is brought up to date by numbered migrations
//! when it is opened.
//!
//! A definition is kept as the JSON of a config file entry, with secrets as
//! references (`{"secret": "…"}`), never values: the store holds nothing
//! that must be encrypted.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};

/// The file in the data dir.
pub const STORE_FILE: &str = "catalog.db";

/// Each migration runs once, in order, in a transaction; `PRAGMA
/// user_version` counts those applied. Append only: never edit one that
/// has shipped.
const MIGRATIONS: &[&str] = &[
    // 1: sources defined through the API.
    "CREATE TABLE sources (
        name TEXT PRIMARY KEY NOT NULL,
        definition TEXT NOT NULL,
        created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
        updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
    ) STRICT;",
    // 2: API tokens, as SHA-256 hashes.
    "CREATE TABLE api_tokens (
        name TEXT PRIMARY KEY NOT NULL,
        hash TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
    ) STRICT;",
];

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("catalog store {path}: {source}")]
    Sqlite {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error(
        "catalog store {path} was written by a newer Tributary (schema version {found}, this one knows {known}); upgrade Tributary"
    )]
    Newer {
        path: PathBuf,
        found: i64,
        known: usize,
    },
}

/// A source as the store keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredSource {
    pub name: String,
    /// The config entry as JSON, secrets as references.
    pub definition: String,
    pub created_at: String,
    pub updated_at: String,
}

/// One connection, used briefly under a lock: every statement is a single
/// small row read or write on a local file.
#[derive(Debug)]
pub struct CatalogStore {
    path: PathBuf,
    connection: Mutex<Connection>,
}

impl CatalogStore {
    /// Opens (creating if needed) `catalog.db` in `data_dir` and migrates it.
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        let path = data_dir.join(STORE_FILE);
        let fail = |source| StoreError::Sqlite {
            path: path.clone(),
            source,
        };
        let mut connection = Connection::open(&path).map_err(fail)?;
        // Another gateway process on the same data dir (a CLI command, a
        // second server) waits for a writer instead of failing at once.
        connection
            .busy_timeout(Duration::from_secs(5))
            .map_err(fail)?;
        connection
            .pragma_update(None, "journal_mode", "WAL")
            .map_err(fail)?;
        migrate(&mut connection, &path)?;
        Ok(Self {
            path,
            connection: Mutex::new(connection),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn connection(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves SQLite consistent: each
        // statement is atomic.
        self.connection
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn error(&self, source: rusqlite::Error) -> StoreError {
        StoreError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    /// Whether the store answers (for `/readyz`).
    pub fn check(&self) -> Result<(), StoreError> {
        self.connection()
            .query_row("SELECT count(*) FROM sources", [], |row| {
                row.get::<_, i64>(0)
            })
            .map(|_| ())
            .map_err(|e| self.error(e))
    }

    pub fn sources(&self) -> Result<Vec<StoredSource>, StoreError> {
        let connection = self.connection();
        let mut statement = connection
            .prepare("SELECT name, definition, created_at, updated_at FROM sources ORDER BY name")
            .map_err(|e| self.error(e))?;
        let rows = statement
            .query_map([], stored_source)
            .map_err(|e| self.error(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.error(e))
    }

    pub fn source(&self, name: &str) -> Result<Option<StoredSource>, StoreError> {
        self.connection()
            .query_row(
                "SELECT name, definition, created_at, updated_at FROM sources WHERE name = ?1",
                [name],
                stored_source,
            )
            .optional()
            .map_err(|e| self.error(e))
    }

    /// Creates or replaces `name`; true when it was created.
    pub fn put_source(&self, name: &str, definition: &str) -> Result<bool, StoreError> {
        let connection = self.connection();
        let existed = connection
            .query_row("SELECT 1 FROM sources WHERE name = ?1", [name], |_| Ok(()))
            .optional()
            .map_err(|e| self.error(e))?
            .is_some();
        connection
            .execute(
                "INSERT INTO sources (name, definition) VALUES (?1, ?2)
                 ON CONFLICT (name) DO UPDATE SET definition = excluded.definition,
                     updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
                params![name, definition],
            )
            .map_err(|e| self.error(e))?;
        Ok(!existed)
    }

    /// True when `name` was there.
    pub fn delete_source(&self, name: &str) -> Result<bool, StoreError> {
        self.connection()
            .execute("DELETE FROM sources WHERE name = ?1", [name])
            .map(|deleted| deleted > 0)
            .map_err(|e| self.error(e))
    }
}

/// An API token as listed: never its value or hash.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenInfo {
    pub name: String,
    pub created_at: String,
}

impl CatalogStore {
    /// Adds a token; false when the name is taken.
    pub fn add_token(&self, name: &str, hash: &str) -> Result<bool, StoreError> {
        self.connection()
            .execute(
                "INSERT INTO api_tokens (name, hash) VALUES (?1, ?2) ON CONFLICT (name) DO NOTHING",
                params![name, hash],
            )
            .map(|added| added > 0)
            .map_err(|e| self.error(e))
    }

    pub fn tokens(&self) -> Result<Vec<TokenInfo>, StoreError> {
        let connection = self.connection();
        let mut statement = connection
            .prepare("SELECT name, created_at FROM api_tokens ORDER BY name")
            .map_err(|e| self.error(e))?;
        let rows = statement
            .query_map([], |row| {
                Ok(TokenInfo {
                    name: row.get(0)?,
                    created_at: row.get(1)?,
                })
            })
            .map_err(|e| self.error(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.error(e))
    }

    /// True when `name` was there.
    pub fn revoke_token(&self, name: &str) -> Result<bool, StoreError> {
        self.connection()
            .execute("DELETE FROM api_tokens WHERE name = ?1", [name])
            .map(|deleted| deleted > 0)
            .map_err(|e| self.error(e))
    }

    /// The name of the token whose hash this is.
    pub fn token_by_hash(&self, hash: &str) -> Result<Option<String>, StoreError> {
        self.connection()
            .query_row(
                "SELECT name FROM api_tokens WHERE hash = ?1",
                [hash],
                |row| row.get(0),
            )
            .optional()
            .map_err(|e| self.error(e))
    }
}

fn stored_source(row: &rusqlite::Row<'_>) -> rusqlite::Result<StoredSource> {
    Ok(StoredSource {
        name: row.get(0)?,
        definition: row.get(1)?,
        created_at: row.get(2)?,
        updated_at: row.get(3)?,
    })
}

fn migrate(connection: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let fail = |source| StoreError::Sqlite {
        path: path.to_owned(),
        source,
    };
    let applied: i64 = connection
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(fail)?;
    let applied_count = usize::try_from(applied).unwrap_or(usize::MAX);
    if applied_count > MIGRATIONS.len() {
        return Err(StoreError::Newer {
            path: path.to_owned(),
            found: applied,
            known: MIGRATIONS.len(),
        });
    }
    for (at, migration) in MIGRATIONS.iter().enumerate().skip(applied_count) {
        // IMMEDIATE: two processes opening a new store at once migrate one
        // after the other, and the second sees the first's version.
        let transaction = connection
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(fail)?;
        let version: i64 = transaction
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .map_err(fail)?;
        if usize::try_from(version).unwrap_or(usize::MAX) > at {
            continue;
        }
        transaction.execute_batch(migration).map_err(fail)?;
        transaction
            .pragma_update(None, "user_version", at + 1)
            .map_err(fail)?;
        transaction.commit().map_err(fail)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_survive_reopening_and_replace_in_place() -> Result<(), StoreError> {
        let dir = tempfile::tempdir().map_err(|e| StoreError::Sqlite {
            path: PathBuf::new(),
            source: rusqlite::Error::InvalidPath(e.to_string().into()),
        })?;
        let store = CatalogStore::open(dir.path())?;
        assert!(store.put_source("sales", r#"{"kind":"postgres"}"#)?);
        assert!(!store.put_source("sales", r#"{"kind":"mysql"}"#)?);
        assert!(store.put_source("lake", r#"{"kind":"files"}"#)?);
        drop(store);
        let store = CatalogStore::open(dir.path())?;
        let names: Vec<(String, String)> = store
            .sources()?
            .into_iter()
            .map(|s| (s.name, s.definition))
            .collect();
        assert_eq!(
            names,
            [
                ("lake".to_owned(), r#"{"kind":"files"}"#.to_owned()),
                ("sales".to_owned(), r#"{"kind":"mysql"}"#.to_owned()),
            ]
        );
        assert!(store.delete_source("lake")?);
        assert!(!store.delete_source("lake")?);
        assert_eq!(store.source("lake")?, None);
        assert!(store.add_token("ci", "abc")?);
        assert!(!store.add_token("ci", "def")?);
        assert_eq!(store.token_by_hash("abc")?, Some("ci".to_owned()));
        assert_eq!(store.tokens()?.len(), 1);
        assert!(store.revoke_token("ci")?);
        assert_eq!(store.token_by_hash("abc")?, None);
        store.check()
    }

    #[test]
    fn a_store_from_a_newer_version_is_refused() -> Result<(), StoreError> {
        let dir = tempfile::tempdir().map_err(|e| StoreError::Sqlite {
            path: PathBuf::new(),
            source: rusqlite::Error::InvalidPath(e.to_string().into()),
        })?;
        drop(CatalogStore::open(dir.path())?);
        let connection =
            Connection::open(dir.path().join(STORE_FILE)).map_err(|source| StoreError::Sqlite {
                path: PathBuf::new(),
                source,
            })?;
        connection
            .pragma_update(None, "user_version", 99)
            .map_err(|source| StoreError::Sqlite {
                path: PathBuf::new(),
                source,
            })?;
        drop(connection);
        let error = CatalogStore::open(dir.path()).err().map(|e| e.to_string());
        assert!(
            error
                .as_deref()
                .is_some_and(|e| e.contains("newer Tributary")),
            "{error:?}"
        );
        Ok(())
    }
}
