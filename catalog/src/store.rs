//! The catalog store: what is defined at run time (sources created through
//! the HTTP API) and must outlive a restart. An SQLite file in the data dir,
//! `catalog.db`, whose schema is brought up to date by numbered migrations
//! when it is opened.
//!
//! A definition is kept as the JSON of a config file entry, with secrets as
//! references (`{"secret": "…"}`), never values: the store holds nothing
//! that must be encrypted.
//!
//! State is never replaced silently: a `catalog.db` that exists is checked
//! (header, size, `PRAGMA quick_check`) through a read-only connection
//! before anything writes to it, and one that is empty, truncated or
//! damaged is refused and left as it is. Only a missing file is created,
//! and it is built under a temporary name and linked into place whole, so
//! that a process killed while creating it leaves no half-made (or empty)
//! `catalog.db` behind to be refused at the next start.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension, params};

/// The file in the data dir.
pub const STORE_FILE: &str = "catalog.db";

/// Taken around changes to sources and their secrets (`lock_changes`).
const LOCK_FILE: &str = "catalog.lock";

/// What every SQLite database file begins with.
const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";
const HEADER_LEN: usize = 100;

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
    // 3: secrets in the credentials store that a change of a source is
    // about to write or to make unused. The credentials store is another
    // file, so a source and its secret cannot be written in one
    // transaction; a name is recorded here before its secret is written
    // and settled after the source row that references it (or no longer
    // does) is committed. Whatever a killed process left here is settled
    // at the next start: removed from the credentials store unless a
    // source references it.
    "CREATE TABLE pending_secrets (
        name TEXT PRIMARY KEY NOT NULL,
        since TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
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
    #[error("catalog store {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "catalog store {path} was written by a newer Tributary (schema version {found}, this one knows {known}); upgrade Tributary"
    )]
    Newer {
        path: PathBuf,
        found: i64,
        known: usize,
    },
    /// The file is there but is not a sound catalog: nothing was written
    /// to it.
    #[error(
        "catalog store {path} is damaged: {reason}. It was left as it is: restore it from a backup, or start `tributary serve --repair` (or TRIBUTARY_REPAIR=1) to move it aside and begin an empty catalog"
    )]
    Damaged { path: PathBuf, reason: String },
    /// The store was sound when opened but cannot be read now.
    #[error("catalog store {path} cannot be read: {reason}")]
    Unreadable { path: PathBuf, reason: String },
}

impl StoreError {
    /// The file this error is about.
    pub fn path(&self) -> &Path {
        match self {
            Self::Sqlite { path, .. }
            | Self::Io { path, .. }
            | Self::Newer { path, .. }
            | Self::Damaged { path, .. }
            | Self::Unreadable { path, .. } => path,
        }
    }
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
    /// The file opened (device and inode), to notice at run time that
    /// `catalog.db` was removed or replaced under the open connection,
    /// which would otherwise go on writing to a file no one reads again.
    identity: Option<(u64, u64)>,
    connection: Mutex<Connection>,
}

/// `catalog.db-wal` and `catalog.db-shm` beside `path`.
pub fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

impl CatalogStore {
    /// Opens `catalog.db` in `data_dir` and migrates it, creating it if
    /// there is none. A file that is there but damaged is refused
    /// (`StoreError::Damaged`) and not written to.
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        let path = data_dir.join(STORE_FILE);
        if Self::inspect(data_dir)? {
            create(data_dir, &path)?;
        }
        let fail = |source| StoreError::Sqlite {
            path: path.clone(),
            source,
        };
        let mut connection = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(fail)?;
        // Another gateway process on the same data dir (a CLI command, a
        // second server) waits for a writer instead of failing at once.
        connection
            .busy_timeout(Duration::from_secs(5))
            .map_err(fail)?;
        connection
            .pragma_update(None, "journal_mode", "WAL")
            .map_err(fail)?;
        migrate(&mut connection, &path)?;
        let identity = identity(&path);
        Ok(Self {
            path,
            identity,
            connection: Mutex::new(connection),
        })
    }

    /// Checks `catalog.db` in `data_dir` without writing to it: true when
    /// there is none (a fresh one may be created), false when it is sound,
    /// `StoreError::Damaged` saying what is wrong otherwise.
    pub fn inspect(data_dir: &Path) -> Result<bool, StoreError> {
        let path = data_dir.join(STORE_FILE);
        let io = |source| StoreError::Io {
            path: path.clone(),
            source,
        };
        let damaged = |reason: String| StoreError::Damaged {
            path: path.clone(),
            reason,
        };
        let wal = sidecar(&path, "-wal");
        let wal_len = match std::fs::metadata(&wal) {
            Ok(metadata) => metadata.len(),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => 0,
            Err(error) => return Err(io(error)),
        };
        let len = match std::fs::metadata(&path) {
            Ok(metadata) => metadata.len(),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                // A log without its database holds committed changes that
                // a new, empty file would never show.
                if wal_len > 0 {
                    return Err(damaged(format!(
                        "it is missing, but its write-ahead log {} ({wal_len} bytes) is there: the database was removed or moved without its log",
                        wal.display()
                    )));
                }
                return Ok(true);
            }
            Err(error) => return Err(io(error)),
        };
        // SQLite itself would take an empty file for a new database and
        // start one in its place.
        if len == 0 {
            return Err(damaged("it is empty (0 bytes)".to_owned()));
        }
        let mut header = Vec::with_capacity(HEADER_LEN);
        std::fs::File::open(&path)
            .and_then(|file| file.take(HEADER_LEN as u64).read_to_end(&mut header))
            .map_err(io)?;
        if header.len() < HEADER_LEN {
            return Err(damaged(format!(
                "it is {len} bytes, shorter than an SQLite header: truncated"
            )));
        }
        if !header.starts_with(SQLITE_MAGIC) {
            return Err(damaged(
                "it does not begin with the SQLite header: it is not an SQLite database, or its first bytes were overwritten"
                    .to_owned(),
            ));
        }
        let page_size = match u16::from_be_bytes([header[16], header[17]]) {
            1 => 65536,
            size => u64::from(size),
        };
        if !page_size.is_power_of_two() || !(512..=65536).contains(&page_size) {
            return Err(damaged(format!(
                "its header gives an impossible page size ({page_size})"
            )));
        }
        // Without a log the file alone is the database, so it must hold
        // every page its header counts (the count is valid when the two
        // change counters agree). With a log, pages may live there.
        if wal_len == 0 {
            let word = |at: usize| {
                u32::from_be_bytes([header[at], header[at + 1], header[at + 2], header[at + 3]])
            };
            let pages = u64::from(word(28));
            if word(24) == word(92) && pages > 0 && len < pages * page_size {
                return Err(damaged(format!(
                    "it is {len} bytes but its header counts {pages} pages of {page_size} bytes ({} bytes): truncated",
                    pages * page_size
                )));
            }
            if len % page_size != 0 {
                return Err(damaged(format!(
                    "it is {len} bytes, not a whole number of {page_size}-byte pages: truncated"
                )));
            }
        }
        quick_check(&path)?;
        Ok(false)
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

    /// Whether the store can still be read (for `/readyz`), cheaply: the
    /// file is the one opened, its header is SQLite's, and a query answers.
    /// The open connection keeps pages in memory, so the query alone would
    /// not notice a file overwritten or removed under it.
    pub fn check(&self) -> Result<(), StoreError> {
        let unreadable = |reason: String| StoreError::Unreadable {
            path: self.path.clone(),
            reason,
        };
        match std::fs::metadata(&self.path) {
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Err(unreadable(
                    "it was removed while the server runs: changes made now would be lost at the next start"
                        .to_owned(),
                ));
            }
            Err(error) => return Err(unreadable(error.to_string())),
            Ok(_) => {}
        }
        if self.identity.is_some() && identity(&self.path) != self.identity {
            return Err(unreadable(
                "it was replaced by another file while the server runs: changes made now would go to the old one"
                    .to_owned(),
            ));
        }
        let mut header = Vec::with_capacity(SQLITE_MAGIC.len());
        std::fs::File::open(&self.path)
            .and_then(|file| {
                file.take(SQLITE_MAGIC.len() as u64)
                    .read_to_end(&mut header)
            })
            .map_err(|e| unreadable(e.to_string()))?;
        if header != SQLITE_MAGIC {
            return Err(unreadable(
                "it no longer begins with the SQLite header: it was overwritten or damaged"
                    .to_owned(),
            ));
        }
        self.connection()
            .query_row("SELECT count(*) FROM sources", [], |row| {
                row.get::<_, i64>(0)
            })
            .map(|_| ())
            .map_err(|e| unreadable(e.to_string()))
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

    /// Creates or replaces `name`, and in the same transaction records
    /// `pending` as pending secrets (those the old definition used and the
    /// new one may not). True when it was created.
    pub fn put_source(
        &self,
        name: &str,
        definition: &str,
        pending: &[String],
    ) -> Result<bool, StoreError> {
        let mut connection = self.connection();
        let transaction = connection.transaction().map_err(|e| self.error(e))?;
        let existed = transaction
            .query_row("SELECT 1 FROM sources WHERE name = ?1", [name], |_| Ok(()))
            .optional()
            .map_err(|e| self.error(e))?
            .is_some();
        transaction
            .execute(
                "INSERT INTO sources (name, definition) VALUES (?1, ?2)
                 ON CONFLICT (name) DO UPDATE SET definition = excluded.definition,
                     updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
                params![name, definition],
            )
            .map_err(|e| self.error(e))?;
        insert_pending(&transaction, pending).map_err(|e| self.error(e))?;
        transaction.commit().map_err(|e| self.error(e))?;
        Ok(!existed)
    }

    /// Deletes `name`, and in the same transaction records `pending` as
    /// pending secrets (those its definition used). True when it was there.
    pub fn delete_source(&self, name: &str, pending: &[String]) -> Result<bool, StoreError> {
        let mut connection = self.connection();
        let transaction = connection.transaction().map_err(|e| self.error(e))?;
        let deleted = transaction
            .execute("DELETE FROM sources WHERE name = ?1", [name])
            .map_err(|e| self.error(e))?;
        if deleted > 0 {
            insert_pending(&transaction, pending).map_err(|e| self.error(e))?;
        }
        transaction.commit().map_err(|e| self.error(e))?;
        Ok(deleted > 0)
    }

    /// Holds changes to sources and their secrets, across processes, until
    /// the file it returns is dropped: a change takes it around its two
    /// writes and the settling after them, and settling at start takes it
    /// too, so that a process never settles (removes) a secret another
    /// process has written and is about to reference. The operating system
    /// releases it when a process dies, killed or not.
    pub fn lock_changes(&self) -> Result<std::fs::File, StoreError> {
        let path = self.path.with_file_name(LOCK_FILE);
        let io = |source| StoreError::Io {
            path: path.clone(),
            source,
        };
        let file = std::fs::File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io)?;
        file.lock().map_err(io)?;
        Ok(file)
    }

    /// Records secrets about to be written to the credentials store, before
    /// they are: committed when this returns.
    pub fn add_pending_secrets(&self, names: &[String]) -> Result<(), StoreError> {
        let mut connection = self.connection();
        let transaction = connection.transaction().map_err(|e| self.error(e))?;
        insert_pending(&transaction, names).map_err(|e| self.error(e))?;
        transaction.commit().map_err(|e| self.error(e))
    }

    /// The pending secrets, oldest first.
    pub fn pending_secrets(&self) -> Result<Vec<String>, StoreError> {
        let connection = self.connection();
        let mut statement = connection
            .prepare("SELECT name FROM pending_secrets ORDER BY since, name")
            .map_err(|e| self.error(e))?;
        let rows = statement
            .query_map([], |row| row.get(0))
            .map_err(|e| self.error(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.error(e))
    }

    /// `name` is settled: referenced by a source, or removed from the
    /// credentials store.
    pub fn settle_pending_secret(&self, name: &str) -> Result<(), StoreError> {
        self.connection()
            .execute("DELETE FROM pending_secrets WHERE name = ?1", [name])
            .map(|_| ())
            .map_err(|e| self.error(e))
    }
}

fn insert_pending(
    transaction: &rusqlite::Transaction<'_>,
    names: &[String],
) -> rusqlite::Result<()> {
    for name in names {
        transaction.execute(
            "INSERT INTO pending_secrets (name) VALUES (?1) ON CONFLICT (name) DO NOTHING",
            [name],
        )?;
    }
    Ok(())
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

/// Builds a new store under a temporary name and links it into place: a
/// process killed on the way leaves at most the temporary file, never a
/// `catalog.db` without its tables. A hard link, unlike a rename, never
/// replaces a `catalog.db` another process created meanwhile.
fn create(data_dir: &Path, path: &Path) -> Result<(), StoreError> {
    let io = |source| StoreError::Io {
        path: path.to_owned(),
        source,
    };
    // Only empty leftovers can be here (`inspect` refuses a log with
    // content): an index of a log that no longer exists.
    for suffix in ["-wal", "-shm"] {
        match std::fs::remove_file(sidecar(path, suffix)) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => return Err(io(error)),
            _ => {}
        }
    }
    let temporary = data_dir.join(format!("{STORE_FILE}.{}.new", std::process::id()));
    let remove_temporary = || {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let _ = std::fs::remove_file(sidecar(&temporary, suffix));
        }
    };
    remove_temporary();
    let built = (|| {
        let fail = |source| StoreError::Sqlite {
            path: temporary.clone(),
            source,
        };
        let mut connection = Connection::open(&temporary).map_err(fail)?;
        connection
            .pragma_update(None, "journal_mode", "WAL")
            .map_err(fail)?;
        migrate(&mut connection, &temporary)?;
        // Closing the last connection folds the log into the file.
        connection.close().map_err(|(_, e)| fail(e))?;
        std::fs::File::open(&temporary)
            .and_then(|file| file.sync_all())
            .map_err(io)?;
        match std::fs::hard_link(&temporary, path) {
            Ok(()) => Ok(()),
            // Another process created it first: that one is used.
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
            // A file system without hard links: a rename is atomic too,
            // only not exclusive.
            Err(_) => std::fs::rename(&temporary, path).map_err(io),
        }
    })();
    remove_temporary();
    built?;
    std::fs::File::open(data_dir)
        .and_then(|dir| dir.sync_all())
        .map_err(io)
}

/// `PRAGMA quick_check` through a read-only connection, which never
/// writes to the file (not even to fold a log into it).
fn quick_check(path: &Path) -> Result<(), StoreError> {
    let damaged = |reason: String| StoreError::Damaged {
        path: path.to_owned(),
        reason,
    };
    let classify = |source: rusqlite::Error| match source.sqlite_error_code() {
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => {
            damaged(format!("SQLite reports: {source}"))
        }
        _ => StoreError::Sqlite {
            path: path.to_owned(),
            source,
        },
    };
    let connection = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(classify)?;
    connection
        .busy_timeout(Duration::from_secs(5))
        .map_err(classify)?;
    let mut statement = connection.prepare("PRAGMA quick_check").map_err(classify)?;
    let findings: Vec<String> = statement
        .query_map([], |row| row.get(0))
        .map_err(classify)?
        .collect::<Result<_, _>>()
        .map_err(classify)?;
    if findings.len() == 1 && findings[0] == "ok" {
        return Ok(());
    }
    // One finding may span lines, under a heading that names the schema.
    let findings: Vec<&str> = findings
        .iter()
        .flat_map(|finding| finding.lines())
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with("***"))
        .collect();
    const SHOWN: usize = 3;
    let mut reason = format!(
        "PRAGMA quick_check found: {}",
        findings[..findings.len().min(SHOWN)].join("; ")
    );
    if findings.len() > SHOWN {
        reason.push_str(&format!(" (and {} more)", findings.len() - SHOWN));
    }
    Err(damaged(reason))
}

#[cfg(unix)]
fn identity(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

#[cfg(not(unix))]
fn identity(_path: &Path) -> Option<(u64, u64)> {
    None
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

    fn temp_dir() -> tempfile::TempDir {
        tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"))
    }

    #[test]
    fn sources_survive_reopening_and_replace_in_place() -> Result<(), StoreError> {
        let dir = temp_dir();
        let store = CatalogStore::open(dir.path())?;
        assert!(store.put_source("sales", r#"{"kind":"postgres"}"#, &[])?);
        assert!(!store.put_source("sales", r#"{"kind":"mysql"}"#, &[])?);
        assert!(store.put_source("lake", r#"{"kind":"files"}"#, &[])?);
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
        assert!(store.delete_source("lake", &[])?);
        assert!(!store.delete_source("lake", &[])?);
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
    fn pending_secrets_are_recorded_with_the_change_and_settled() -> Result<(), StoreError> {
        let dir = temp_dir();
        let store = CatalogStore::open(dir.path())?;
        store.add_pending_secrets(&["source.a.password".to_owned()])?;
        store.put_source("a", "{}", &["source.a.old".to_owned()])?;
        let mut pending = store.pending_secrets()?;
        pending.sort();
        assert_eq!(pending, ["source.a.old", "source.a.password"]);
        store.settle_pending_secret("source.a.old")?;
        store.settle_pending_secret("source.a.password")?;
        // A delete that finds nothing records nothing.
        assert!(!store.delete_source("b", &["source.b.password".to_owned()])?);
        assert!(store.delete_source("a", &["source.a.password".to_owned()])?);
        assert_eq!(store.pending_secrets()?, ["source.a.password"]);
        Ok(())
    }

    #[test]
    fn a_store_from_a_newer_version_is_refused() -> Result<(), StoreError> {
        let dir = temp_dir();
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

    /// A store with a few rows, closed (its log folded in), as its bytes.
    fn sound_store(dir: &Path) -> Vec<u8> {
        let store = CatalogStore::open(dir).unwrap_or_else(|e| panic!("{e}"));
        for n in 0..20 {
            store
                .put_source(&format!("s{n}"), &format!("{{\"n\":{n}}}"), &[])
                .unwrap_or_else(|e| panic!("{e}"));
        }
        drop(store);
        std::fs::read(dir.join(STORE_FILE)).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn damaged_files_are_refused_and_left_as_they_are() {
        let dir = temp_dir();
        let sound = sound_store(dir.path());
        let page = 4096;
        let mut flipped_header = sound.clone();
        flipped_header[..8].iter_mut().for_each(|b| *b ^= 0xff);
        let mut flipped_page = sound.clone();
        let middle = sound.len() / page / 2 * page;
        flipped_page[middle..middle + 8]
            .iter_mut()
            .for_each(|b| *b ^= 0xff);
        let cases: [(&str, Vec<u8>, &str); 5] = [
            ("empty", Vec::new(), "empty (0 bytes)"),
            ("short", sound[..50].to_vec(), "truncated"),
            ("half", sound[..sound.len() / 2].to_vec(), "truncated"),
            ("header", flipped_header, "SQLite header"),
            ("page", flipped_page, "quick_check"),
        ];
        for (case, bytes, said) in cases {
            let path = dir.path().join(STORE_FILE);
            std::fs::write(&path, &bytes).unwrap_or_else(|e| panic!("{e}"));
            let error = CatalogStore::open(dir.path())
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(
                error.contains("is damaged") && error.contains(said),
                "{case}: {error}"
            );
            assert!(
                error.contains(&path.display().to_string()),
                "{case}: {error}"
            );
            assert_eq!(std::fs::read(&path).ok().as_ref(), Some(&bytes), "{case}");
        }
        std::fs::write(dir.path().join(STORE_FILE), &sound).unwrap_or_else(|e| panic!("{e}"));
        let store = CatalogStore::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(store.sources().map(|s| s.len()).ok(), Some(20));
    }

    #[test]
    fn a_log_without_its_database_is_refused() {
        let dir = temp_dir();
        std::fs::write(dir.path().join("catalog.db-wal"), b"x".repeat(4096))
            .unwrap_or_else(|e| panic!("{e}"));
        let error = CatalogStore::open(dir.path()).err().map(|e| e.to_string());
        assert!(
            error
                .as_deref()
                .is_some_and(|e| e.contains("write-ahead log")),
            "{error:?}"
        );
        assert!(!dir.path().join(STORE_FILE).exists());
    }

    #[test]
    fn a_new_store_leaves_no_temporary_file_and_check_notices_an_overwritten_one() {
        let dir = temp_dir();
        let store = CatalogStore::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .map(|entries| {
                entries
                    .flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.contains(".new"))
                    .collect()
            })
            .unwrap_or_default();
        assert!(names.is_empty(), "{names:?}");
        assert!(store.check().is_ok());
        let path = dir.path().join(STORE_FILE);
        let sound = std::fs::read(&path).unwrap_or_else(|e| panic!("{e}"));
        let mut garbage = sound.clone();
        garbage[..16].copy_from_slice(b"not a database!!");
        // In place, as a disk error or a stray write would.
        std::fs::write(&path, &garbage).unwrap_or_else(|e| panic!("{e}"));
        let error = store.check().err().map(|e| e.to_string());
        assert!(
            error
                .as_deref()
                .is_some_and(|e| e.contains("SQLite header")),
            "{error:?}"
        );
        std::fs::write(&path, &sound).unwrap_or_else(|e| panic!("{e}"));
        assert!(store.check().is_ok());
        std::fs::remove_file(&path).unwrap_or_else(|e| panic!("{e}"));
        let error = store.check().err().map(|e| e.to_string());
        assert!(
            error.as_deref().is_some_and(|e| e.contains("removed")),
            "{error:?}"
        );
    }
}
