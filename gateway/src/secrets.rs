//! `tributary secrets …`, and the master key every command that reads
//! `{ secret = … }` references finds the same way.

use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};

use secrecy::SecretString;
use tributary_connectors::remote::SecretSource;
use tributary_credentials::{CredentialStore, CredentialsError, MasterKey, STORE_FILE, check_name};
use zeroize::Zeroizing;

use crate::Failure;
use crate::cli::SecretsCommand;
use crate::engine::Settings;
use crate::output::render_table;

pub const MASTER_KEY_ENV: &str = "TRIBUTARY_MASTER_KEY";
pub const MASTER_KEY_FILE_ENV: &str = "TRIBUTARY_MASTER_KEY_FILE";
const NEW_MASTER_KEY_ENV: &str = "TRIBUTARY_NEW_MASTER_KEY";

/// `{ secret = "name" }`: read from the store at every use.
pub struct StoreSecret {
    data_dir: PathBuf,
    name: String,
}

impl StoreSecret {
    pub fn new(data_dir: &Path, name: &str) -> Self {
        Self {
            data_dir: data_dir.to_owned(),
            name: name.to_owned(),
        }
    }
}

impl SecretSource for StoreSecret {
    fn current(&self) -> Result<SecretString, String> {
        store(&self.data_dir)
            .and_then(|store| store.get(&self.name))
            .map_err(|e| format!("{{ secret = \"{}\" }}: {e}", self.name))
    }

    fn version(&self) -> u64 {
        file_version(&self.data_dir.join(STORE_FILE))
    }
}

/// `{ file = "/path" }`: the file's text without its trailing newline.
pub struct FileSecret {
    pub path: PathBuf,
}

impl SecretSource for FileSecret {
    fn current(&self) -> Result<SecretString, String> {
        std::fs::read_to_string(&self.path)
            .map(|text| {
                let text = Zeroizing::new(text);
                SecretString::from(text.trim_end_matches(['\n', '\r']).to_owned())
            })
            .map_err(|e| format!("cannot read {{ file = {:?} }}: {e}", self.path))
    }

    fn version(&self) -> u64 {
        file_version(&self.path)
    }
}

/// A file's modification time and size, folded into one number.
fn file_version(path: &Path) -> u64 {
    let Ok(metadata) = std::fs::metadata(path) else {
        return 0;
    };
    let modified = metadata
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos() as u64);
    modified ^ metadata.len().rotate_left(48)
}

/// The master key from `TRIBUTARY_MASTER_KEY`, else from the file
/// `TRIBUTARY_MASTER_KEY_FILE` names.
pub fn master_key() -> Result<MasterKey, CredentialsError> {
    if let Some(text) = std::env::var_os(MASTER_KEY_ENV) {
        let text = Zeroizing::new(text.to_string_lossy().into_owned());
        return MasterKey::parse(&text, MASTER_KEY_ENV);
    }
    match std::env::var_os(MASTER_KEY_FILE_ENV) {
        Some(path) => MasterKey::from_file(Path::new(&path)),
        None => Err(CredentialsError::NoMasterKey),
    }
}

/// The store of the data dir, if a master key is configured.
pub fn store(data_dir: &Path) -> Result<CredentialStore, CredentialsError> {
    Ok(CredentialStore::new(data_dir, master_key()?))
}

fn usage(error: CredentialsError) -> Failure {
    Failure::Usage(error.to_string())
}

pub fn run(settings: &Settings, command: SecretsCommand) -> Result<(), Failure> {
    match command {
        SecretsCommand::NewKey => {
            println!("{}", MasterKey::generate().to_hex().as_str());
            Ok(())
        }
        SecretsCommand::Set { name } => {
            check_name(&name).map_err(usage)?;
            let store = store(&settings.data_dir).map_err(usage)?;
            let value = read_value(&name)?;
            store.set(&name, &value).map_err(usage)?;
            eprintln!("secret \"{name}\" stored in {}", store.path().display());
            Ok(())
        }
        SecretsCommand::List => list(settings),
        SecretsCommand::Rm { name, force } => {
            let users = users_of(settings, &name);
            if !users.is_empty() && !force {
                return Err(Failure::Usage(format!(
                    "secret \"{name}\" is used by source(s) {}; remove those references first, or pass --force",
                    users.join(", ")
                )));
            }
            let store = store(&settings.data_dir).map_err(usage)?;
            if store.remove(&name).map_err(usage)? {
                eprintln!("secret \"{name}\" removed");
                Ok(())
            } else {
                Err(Failure::Usage(format!(
                    "secret \"{name}\" is not in {}",
                    store.path().display()
                )))
            }
        }
        SecretsCommand::RotateKey { new_key_file } => rotate(settings, new_key_file.as_deref()),
    }
}

/// The value from standard input (one trailing newline dropped), or from a
/// prompt without echo when standard input is a terminal.
fn read_value(name: &str) -> Result<SecretString, Failure> {
    let mut text = Zeroizing::new(String::new());
    if std::io::stdin().is_terminal() {
        let typed = rpassword::prompt_password(format!("value for secret \"{name}\": "))
            .map_err(|e| Failure::Usage(format!("cannot read the value: {e}")))?;
        text.push_str(&Zeroizing::new(typed));
    } else {
        std::io::stdin().read_to_string(&mut text).map_err(|e| {
            Failure::Usage(format!("cannot read the value from standard input: {e}"))
        })?;
        if text.ends_with('\n') {
            text.pop();
            if text.ends_with('\r') {
                text.pop();
            }
        }
    }
    if text.is_empty() {
        return Err(Failure::Usage(format!(
            "no value for secret \"{name}\": pipe it on standard input"
        )));
    }
    Ok(SecretString::from(text.as_str().to_owned()))
}

/// The config's sources that reference secret `name`.
fn users_of(settings: &Settings, name: &str) -> Vec<String> {
    let Some(config) = &settings.config else {
        return Vec::new();
    };
    let mut users: Vec<String> = config
        .secret_references()
        .into_iter()
        .filter(|(_, secret)| secret == name)
        .map(|(source, _)| source)
        .collect();
    users.dedup();
    users
}

fn list(settings: &Settings) -> Result<(), Failure> {
    let store = store(&settings.data_dir).map_err(usage)?;
    let infos = store.list().map_err(usage)?;
    let mut rows = Vec::with_capacity(infos.len());
    for info in &infos {
        let users = users_of(settings, &info.name);
        rows.push(vec![
            info.name.clone(),
            info.created.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
            info.updated.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
            if users.is_empty() {
                "-".to_owned()
            } else {
                users.join(", ")
            },
        ]);
    }
    print!(
        "{}",
        text_table(&["name", "created", "updated", "used by"], &rows)?
    );
    // References to secrets the store does not have: the sources that
    // would fail to start.
    if let Some(config) = &settings.config {
        for (source, secret) in config.secret_references() {
            if !infos.iter().any(|info| info.name == secret) {
                eprintln!(
                    "warning: source \"{source}\" references secret \"{secret}\", which is not in the store"
                );
            }
        }
    }
    Ok(())
}

fn rotate(settings: &Settings, new_key_file: Option<&Path>) -> Result<(), Failure> {
    let store = store(&settings.data_dir).map_err(usage)?;
    let (new, generated) = match (new_key_file, std::env::var_os(NEW_MASTER_KEY_ENV)) {
        (Some(path), _) => (MasterKey::from_file(path).map_err(usage)?, false),
        (None, Some(text)) => {
            let text = Zeroizing::new(text.to_string_lossy().into_owned());
            (
                MasterKey::parse(&text, NEW_MASTER_KEY_ENV).map_err(usage)?,
                false,
            )
        }
        (None, None) => (MasterKey::generate(), true),
    };
    store.rotate(&new).map_err(usage)?;
    if generated {
        println!("{}", new.to_hex().as_str());
        eprintln!(
            "the store is now sealed by the key printed above: put it in {MASTER_KEY_ENV} \
             (or the key file) before the next start; the old key no longer opens it"
        );
    } else {
        eprintln!("the store is now sealed by the new key; the old key no longer opens it");
    }
    Ok(())
}

/// Text cells as psql prints them, through the query output's renderer.
fn text_table(header: &[&str], rows: &[Vec<String>]) -> Result<String, Failure> {
    use std::sync::Arc;

    use datafusion::arrow::array::{ArrayRef, RecordBatch, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};

    let schema = Arc::new(Schema::new(
        header
            .iter()
            .map(|name| Field::new(*name, DataType::Utf8, false))
            .collect::<Vec<_>>(),
    ));
    let columns: Vec<ArrayRef> = (0..header.len())
        .map(|at| {
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|row| row[at].as_str()),
            )) as ArrayRef
        })
        .collect();
    let batch = RecordBatch::try_new(schema.clone(), columns).map_err(anyhow::Error::from)?;
    Ok(render_table(&schema, &[batch]).map_err(anyhow::Error::from)?)
}
