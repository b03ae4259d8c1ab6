//! Tributary's credentials store: secrets sealed at rest with
//! XChaCha20-Poly1305 under a random data key, which is itself sealed by a
//! master key that lives outside the data dir (environment or key file).
//! Sources reference a secret by name (`password = { secret = "sales-db" }`);
//! its value is handed to the connector as a `SecretString`, wiped on drop
//! and printed by `Debug` as `[REDACTED]`.

mod master_key;
mod sealing;
mod store;
mod tokens;

use std::path::PathBuf;

pub use master_key::MasterKey;
pub use store::{CredentialStore, STORE_FILE, SecretInfo, check_name};
pub use tokens::{ApiToken, hash_token};

/// Why the store could not do what was asked. No variant carries a secret
/// value or key material.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error("master key from {origin}: {reason}")]
    BadMasterKey { origin: String, reason: String },
    #[error(
        "no master key: set TRIBUTARY_MASTER_KEY (`tributary secrets new-key` prints one) \
         or TRIBUTARY_MASTER_KEY_FILE to a file only its owner can read"
    )]
    NoMasterKey,
    #[error(
        "the master key does not open the credentials store {path}: it is not the key the store \
         was sealed with (the store is left as it was)"
    )]
    WrongMasterKey { path: PathBuf },
    #[error("secret \"{name}\" is not in the credentials store {path}")]
    NotFound { name: String, path: PathBuf },
    #[error(
        "secret \"{name}\" in {path} failed authentication: the record was altered or moved \
         from another name"
    )]
    Tampered { name: String, path: PathBuf },
    #[error("the credentials store {path} is damaged: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    #[error("invalid secret name \"{name}\": use letters, digits, '.', '_' and '-' (at most 128)")]
    BadName { name: String },
    #[error("credentials store {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl CredentialsError {
    /// The store's file is damaged (truncated, overwritten, a flipped
    /// byte), as opposed to unreadable, locked or opened with another key.
    pub fn is_damage(&self) -> bool {
        matches!(self, Self::Corrupt { .. } | Self::Tampered { .. })
    }
}

#[cfg(test)]
mod tests;
