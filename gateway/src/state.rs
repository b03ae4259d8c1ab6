//! The state in the data dir at start: `catalog.db` (sources created
//! through the API, API tokens) and `credentials.json` (sealed secrets).
//! A file that is there but empty, truncated or damaged stops `serve` with
//! exit code 2, naming the file and what is wrong, and is left as it is:
//! replacing it with an empty one would lose what it held without a word.
//! With `--repair` it is moved aside to `<name>.damaged-<UTC time>`
//! (logged) and a fresh one is started in its place.

use std::path::{Path, PathBuf};

use tributary_catalog::{CatalogStore, StoreError, sidecar};
use tributary_credentials::{CredentialStore, CredentialsError, STORE_FILE as CREDENTIALS_FILE};

use crate::Failure;
use crate::engine::Settings;
use crate::secrets;

const REPAIR_HINT: &str = "restore it from a backup, or start `tributary serve --repair` (or TRIBUTARY_REPAIR=1) to move it aside and begin an empty store";

/// Checks both stores; with `repair`, moves a damaged one aside.
pub fn check(settings: &Settings, repair: bool) -> Result<(), Failure> {
    let dir = &settings.data_dir;
    match CatalogStore::inspect(dir) {
        Ok(_) => {}
        Err(StoreError::Damaged { path, reason }) if repair => {
            let aside = aside_name(&path);
            let mut moved = Vec::new();
            // Missing when only its log was left.
            if path.exists() {
                rename(&path, &aside)?;
                moved.push(format!(
                    "moved {} aside to {}",
                    path.display(),
                    aside.display()
                ));
            }
            // The log belongs to the damaged file: it goes with it, named
            // so that SQLite opens the pair together. The index is rebuilt
            // from the log and needs no keeping.
            let wal = sidecar(&path, "-wal");
            match std::fs::metadata(&wal) {
                Ok(metadata) if metadata.len() > 0 => {
                    let wal_aside = sidecar(&aside, "-wal");
                    rename(&wal, &wal_aside)?;
                    moved.push(format!(
                        "moved {} aside to {}",
                        wal.display(),
                        wal_aside.display()
                    ));
                }
                Ok(_) => {
                    let _ = std::fs::remove_file(&wal);
                }
                Err(_) => {}
            }
            let _ = std::fs::remove_file(sidecar(&path, "-shm"));
            tracing::warn!(
                damaged = %path.display(),
                moved_to = %aside.display(),
                "--repair: the catalog store {} is damaged: {reason}; {}; a new, empty catalog is started (sources created through the API and API tokens are in the old file only)",
                path.display(),
                moved.join(", ")
            );
        }
        Err(error @ StoreError::Damaged { .. }) => return Err(Failure::Usage(error.to_string())),
        Err(error) => return Err(Failure::Runtime(error.into())),
    }

    let path = dir.join(CREDENTIALS_FILE);
    if let Err(error) = check_credentials(dir) {
        if !error.is_damage() {
            return Err(Failure::Usage(error.to_string()));
        }
        // Corrupt says "damaged" and names the file already.
        let error = match error {
            CredentialsError::Tampered { name, path } => format!(
                "the credentials store {} is damaged: secret \"{name}\" failed authentication (the record was altered or moved from another name)",
                path.display()
            ),
            other => other.to_string(),
        };
        if !repair {
            return Err(Failure::Usage(format!(
                "{error}. It was left as it is: {REPAIR_HINT}"
            )));
        }
        let aside = move_aside(&path)?;
        tracing::warn!(
            damaged = %path.display(),
            moved_to = %aside.display(),
            "--repair: {error}: moved {} aside to {}; a new, empty credentials store is started when a secret is next set (sources that reference its secrets fail until they are set again)",
            path.display(),
            aside.display()
        );
    }
    Ok(())
}

/// The credentials store read whole: every record opened when the master
/// key is there and opens the store, the rest checked without it. A wrong
/// master key is not damage (and the bytes cannot tell the two apart): it
/// fails the sources that use the store's secrets, not the server.
pub fn check_credentials(dir: &Path) -> Result<(), CredentialsError> {
    match secrets::store(dir).and_then(|store| store.verify()) {
        Ok(_) => Ok(()),
        Err(
            CredentialsError::WrongMasterKey { .. }
            | CredentialsError::NoMasterKey
            | CredentialsError::BadMasterKey { .. },
        ) => CredentialStore::inspect(dir).map(drop),
        Err(error) => Err(error),
    }
}

/// Renames `path` to its `aside_name` and says where it went.
fn move_aside(path: &Path) -> Result<PathBuf, Failure> {
    let aside = aside_name(path);
    rename(path, &aside)?;
    Ok(aside)
}

/// `<name>.damaged-<UTC time>`, with `-2`, `-3`… if that is taken.
fn aside_name(path: &Path) -> PathBuf {
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut aside = path.with_file_name(format!("{name}.damaged-{stamp}"));
    let mut n = 2;
    while aside.exists() || sidecar(&aside, "-wal").exists() {
        aside = path.with_file_name(format!("{name}.damaged-{stamp}-{n}"));
        n += 1;
    }
    aside
}

fn rename(from: &Path, to: &Path) -> Result<(), Failure> {
    std::fs::rename(from, to).map_err(|e| {
        Failure::Runtime(anyhow::anyhow!(
            "--repair: cannot move {} aside to {}: {e}",
            from.display(),
            to.display()
        ))
    })?;
    if let Some(dir) = to.parent() {
        let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use tributary_catalog::STORE_FILE as CATALOG_FILE;

    use super::*;

    #[test]
    fn a_damaged_file_moves_aside_under_a_free_name() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join(CATALOG_FILE);
        std::fs::write(&path, b"one").expect("write");
        let first = move_aside(&path).expect("moved");
        std::fs::write(&path, b"two").expect("write");
        let second = move_aside(&path).expect("moved");
        assert_ne!(first, second);
        assert!(!path.exists());
        assert_eq!(std::fs::read(&first).ok(), Some(b"one".to_vec()));
        assert_eq!(std::fs::read(&second).ok(), Some(b"two".to_vec()));
        let name = first.file_name().map(|n| n.to_string_lossy().into_owned());
        assert!(
            name.as_deref()
                .is_some_and(|n| n.starts_with("catalog.db.damaged-") && n.ends_with('Z')),
            "{name:?}"
        );
    }
}
