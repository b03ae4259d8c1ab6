//! The store: one JSON file in the data dir, `credentials.json`, holding a
//! random data key wrapped by the master key and each secret sealed by the
//! data key. Every change rewrites the whole file into a temporary file,
//! syncs it and renames it over the old one, under an exclusive lock on
//! `credentials.lock`: a reader sees the old file or the new one, never a
//! mix, and two writers (two processes) take turns, so neither loses the
//! other's change.
//!
//! A file that is there is read whole and checked field by field before
//! anything uses it: one that is empty, truncated, not UTF-8 or not the
//! JSON this version writes is `CredentialsError::Corrupt`, and nothing
//! writes over it. Only a missing file is started afresh.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::CredentialsError;
use crate::master_key::{KEY_LEN, MasterKey};
use crate::sealing::{DATA_KEY_CONTEXT, open, seal, secret_context};

pub const STORE_FILE: &str = "credentials.json";
const LOCK_FILE: &str = "credentials.lock";
const FORMAT: u32 = 1;

// Unknown fields are refused: a field name with a flipped byte must read
// as damage, not as a missing field filled in by a default.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoreFile {
    format: u32,
    /// The data key, sealed by the master key (base64).
    data_key: String,
    secrets: BTreeMap<String, SealedSecret>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SealedSecret {
    /// The value, sealed by the data key and bound to the name (base64).
    sealed: String,
    /// RFC 3339 times.
    created: String,
    updated: String,
}

/// The store at `path`, `None` if there is no file.
fn read_file(path: &Path) -> Result<Option<StoreFile>, CredentialsError> {
    match std::fs::read(path) {
        Ok(bytes) => parse(path, &bytes).map(Some),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(CredentialsError::Io {
            path: path.to_owned(),
            source,
        }),
    }
}

/// A file's bytes as a store, every field checked against what this version
/// writes. Reasons name places, never contents.
fn parse(path: &Path, bytes: &[u8]) -> Result<StoreFile, CredentialsError> {
    let corrupt = |reason: String| CredentialsError::Corrupt {
        path: path.to_owned(),
        reason,
    };
    if bytes.is_empty() {
        return Err(corrupt("it is empty (0 bytes)".to_owned()));
    }
    let text = std::str::from_utf8(bytes).map_err(|e| {
        corrupt(format!(
            "byte {} is not UTF-8 text: flipped or overwritten bytes",
            e.valid_up_to()
        ))
    })?;
    let file: StoreFile = serde_json::from_str(text).map_err(|e| {
        corrupt(if e.is_eof() {
            format!(
                "its JSON ends early (line {}, column {}): truncated",
                e.line(),
                e.column()
            )
        } else {
            format!("it is not the JSON this version writes: {e}")
        })
    })?;
    if file.format != FORMAT {
        return Err(corrupt(format!(
            "format {} is not one this version reads",
            file.format
        )));
    }
    if BASE64.decode(&file.data_key).is_err() {
        return Err(corrupt("its data key is not base64".to_owned()));
    }
    for (name, record) in &file.secrets {
        if check_name(name).is_err() {
            return Err(corrupt(format!(
                "a secret is named {:?}, which is not a name Tributary writes",
                name.chars().take(64).collect::<String>()
            )));
        }
        if BASE64.decode(&record.sealed).is_err() {
            return Err(corrupt(format!(
                "secret \"{name}\": its sealed value is not base64"
            )));
        }
        for (what, time) in [("created", &record.created), ("updated", &record.updated)] {
            if DateTime::parse_from_rfc3339(time).is_err() {
                return Err(corrupt(format!(
                    "secret \"{name}\": its {what} time is not an RFC 3339 time"
                )));
            }
        }
    }
    Ok(file)
}

fn parse_time(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

/// What `list` tells about a secret: never its value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretInfo {
    pub name: String,
    pub created: DateTime<Utc>,
    pub updated: DateTime<Utc>,
}

/// A store in a data dir, opened with a master key.
#[derive(Debug)]
pub struct CredentialStore {
    dir: PathBuf,
    master: MasterKey,
}

/// Names are what configs reference: letters, digits, `.`, `_`, `-`.
pub fn check_name(name: &str) -> Result<(), CredentialsError> {
    let valid = !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if valid {
        Ok(())
    } else {
        Err(CredentialsError::BadName {
            name: name.chars().take(128).collect(),
        })
    }
}

impl CredentialStore {
    /// The store in `dir` (nothing is read or created yet).
    pub fn new(dir: &Path, master: MasterKey) -> Self {
        Self {
            dir: dir.to_owned(),
            master,
        }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.join(STORE_FILE)
    }

    fn io(&self, source: std::io::Error) -> CredentialsError {
        CredentialsError::Io {
            path: self.path(),
            source,
        }
    }

    /// When the file last changed and its size: a cheap way to notice that
    /// another process changed a secret.
    pub fn version(&self) -> Option<(SystemTime, u64)> {
        let metadata = std::fs::metadata(self.path()).ok()?;
        Some((metadata.modified().ok()?, metadata.len()))
    }

    fn read(&self) -> Result<Option<StoreFile>, CredentialsError> {
        read_file(&self.path())
    }

    /// Reads the whole store and opens every record, changing nothing: how
    /// many secrets it holds, or `None` when there is no store yet.
    pub fn verify(&self) -> Result<Option<usize>, CredentialsError> {
        let Some(file) = self.read()? else {
            return Ok(None);
        };
        let data_key = self.data_key(&file, &self.master)?;
        for (name, record) in &file.secrets {
            drop(self.open_secret(&data_key, name, record)?);
        }
        Ok(Some(file.secrets.len()))
    }

    /// Checks the store in `dir` as far as can be done without the master
    /// key (everything but the sealing): how many secrets it holds, or
    /// `None` when there is no store.
    pub fn inspect(dir: &Path) -> Result<Option<usize>, CredentialsError> {
        Ok(read_file(&dir.join(STORE_FILE))?.map(|file| file.secrets.len()))
    }

    fn data_key(
        &self,
        file: &StoreFile,
        master: &MasterKey,
    ) -> Result<Zeroizing<[u8; KEY_LEN]>, CredentialsError> {
        let sealed = BASE64
            .decode(&file.data_key)
            .map_err(|_| CredentialsError::WrongMasterKey { path: self.path() })?;
        let opened = open(master.bytes(), &sealed, DATA_KEY_CONTEXT)
            .map_err(|_| CredentialsError::WrongMasterKey { path: self.path() })?;
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        if opened.len() != KEY_LEN {
            return Err(CredentialsError::WrongMasterKey { path: self.path() });
        }
        key.copy_from_slice(&opened);
        Ok(key)
    }

    fn open_secret(
        &self,
        data_key: &[u8; KEY_LEN],
        name: &str,
        record: &SealedSecret,
    ) -> Result<SecretString, CredentialsError> {
        let tampered = || CredentialsError::Tampered {
            name: name.to_owned(),
            path: self.path(),
        };
        let sealed = BASE64.decode(&record.sealed).map_err(|_| tampered())?;
        let opened = open(data_key, &sealed, &secret_context(name)).map_err(|_| tampered())?;
        let text = String::from_utf8(opened.to_vec()).map_err(|_| tampered())?;
        Ok(SecretString::from(text))
    }

    /// The value of secret `name`.
    pub fn get(&self, name: &str) -> Result<SecretString, CredentialsError> {
        let file = self.read()?.ok_or_else(|| CredentialsError::NotFound {
            name: name.to_owned(),
            path: self.path(),
        })?;
        let data_key = self.data_key(&file, &self.master)?;
        let record = file
            .secrets
            .get(name)
            .ok_or_else(|| CredentialsError::NotFound {
                name: name.to_owned(),
                path: self.path(),
            })?;
        self.open_secret(&data_key, name, record)
    }

    /// Every secret's name and times, each record checked to open.
    pub fn list(&self) -> Result<Vec<SecretInfo>, CredentialsError> {
        let Some(file) = self.read()? else {
            return Ok(Vec::new());
        };
        let data_key = self.data_key(&file, &self.master)?;
        let mut infos = Vec::with_capacity(file.secrets.len());
        for (name, record) in &file.secrets {
            drop(self.open_secret(&data_key, name, record)?);
            infos.push(SecretInfo {
                name: name.clone(),
                created: parse_time(&record.created),
                updated: parse_time(&record.updated),
            });
        }
        Ok(infos)
    }

    /// Stores `value` as `name`, creating the store if there is none.
    pub fn set(&self, name: &str, value: &SecretString) -> Result<(), CredentialsError> {
        check_name(name)?;
        self.change(|_, file, data_key| {
            let now = Utc::now().to_rfc3339();
            let sealed = seal(
                data_key,
                value.expose_secret().as_bytes(),
                &secret_context(name),
            );
            let created = file
                .secrets
                .get(name)
                .map_or_else(|| now.clone(), |old| old.created.clone());
            file.secrets.insert(
                name.to_owned(),
                SealedSecret {
                    sealed: BASE64.encode(sealed),
                    created,
                    updated: now,
                },
            );
            Ok(true)
        })
        .map(|_| ())
    }

    /// Removes `name`; false if there was no such secret.
    pub fn remove(&self, name: &str) -> Result<bool, CredentialsError> {
        if self.read()?.is_none() {
            return Ok(false);
        }
        self.change(|_, file, _| Ok(file.secrets.remove(name).is_some()))
    }

    /// Re-wraps the data key under `new`; the secrets themselves are not
    /// touched. One rename makes the change: until it happens the old key
    /// opens the store, after it the new one.
    pub fn rotate(&self, new: &MasterKey) -> Result<(), CredentialsError> {
        let lock = self.lock()?;
        let Some(mut file) = self.read()? else {
            return Err(CredentialsError::NotFound {
                name: "(any)".into(),
                path: self.path(),
            });
        };
        let data_key = self.data_key(&file, &self.master)?;
        // Every record must open before the store is rewritten.
        for (name, record) in &file.secrets {
            drop(self.open_secret(&data_key, name, record)?);
        }
        file.data_key = BASE64.encode(seal(new.bytes(), data_key.as_ref(), DATA_KEY_CONTEXT));
        self.write(&file)?;
        drop(lock);
        Ok(())
    }

    fn lock(&self) -> Result<File, CredentialsError> {
        std::fs::create_dir_all(&self.dir).map_err(|e| self.io(e))?;
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.dir.join(LOCK_FILE))
            .map_err(|e| self.io(e))?;
        lock.lock().map_err(|e| self.io(e))?;
        // A writer killed mid-write leaves its temporary file; with the lock
        // held no other writer has one open.
        if let Ok(entries) = std::fs::read_dir(&self.dir) {
            for entry in entries.flatten() {
                let name = entry.file_name();
                let name = name.to_string_lossy();
                if name.starts_with(&format!("{STORE_FILE}.")) && name.ends_with(".tmp") {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
        Ok(lock)
    }

    /// Read, change and write the store under the lock. `change` returns
    /// whether it changed anything.
    fn change(
        &self,
        change: impl FnOnce(&Self, &mut StoreFile, &[u8; KEY_LEN]) -> Result<bool, CredentialsError>,
    ) -> Result<bool, CredentialsError> {
        let lock = self.lock()?;
        let (mut file, data_key) = match self.read()? {
            Some(file) => {
                let data_key = self.data_key(&file, &self.master)?;
                (file, data_key)
            }
            None => {
                let data_key = MasterKey::generate();
                let mut key = Zeroizing::new([0u8; KEY_LEN]);
                key.copy_from_slice(data_key.bytes());
                let file = StoreFile {
                    format: FORMAT,
                    data_key: BASE64.encode(seal(
                        self.master.bytes(),
                        key.as_ref(),
                        DATA_KEY_CONTEXT,
                    )),
                    secrets: BTreeMap::new(),
                };
                (file, key)
            }
        };
        let changed = change(self, &mut file, &data_key)?;
        if changed {
            self.write(&file)?;
        }
        drop(lock);
        Ok(changed)
    }

    /// Temporary file, sync, rename, sync the directory.
    fn write(&self, file: &StoreFile) -> Result<(), CredentialsError> {
        let text = serde_json::to_vec_pretty(file).map_err(|e| CredentialsError::Corrupt {
            path: self.path(),
            reason: e.to_string(),
        })?;
        let temporary = self
            .dir
            .join(format!("{STORE_FILE}.{}.tmp", std::process::id()));
        let written = (|| {
            let mut out = File::options()
                .create(true)
                .truncate(true)
                .write(true)
                .open(&temporary)?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                out.set_permissions(std::fs::Permissions::from_mode(0o600))?;
            }
            out.write_all(&text)?;
            out.sync_all()?;
            std::fs::rename(&temporary, self.path())?;
            File::open(&self.dir)?.sync_all()
        })();
        if written.is_err() {
            let _ = std::fs::remove_file(&temporary);
        }
        written.map_err(|e| self.io(e))
    }
}
