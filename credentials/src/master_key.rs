//! The master key: 32 random bytes that wrap the store's data key. It comes
//! from `TRIBUTARY_MASTER_KEY` (64 hex characters, or base64) or from a key
//! file only its owner can read; it is never stored beside the secrets.

use std::fmt;
use std::path::Path;

use base64::Engine;
use chacha20poly1305::aead::OsRng;
use chacha20poly1305::aead::rand_core::RngCore;
use zeroize::Zeroizing;

use crate::CredentialsError;

pub const KEY_LEN: usize = 32;

/// A 256-bit key whose bytes are wiped when it is dropped and never printed.
#[derive(Clone)]
pub struct MasterKey(Zeroizing<[u8; KEY_LEN]>);

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

impl MasterKey {
    /// A fresh key from the operating system's random source.
    pub fn generate() -> Self {
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        OsRng.fill_bytes(bytes.as_mut());
        Self(bytes)
    }

    /// 64 hex characters, or standard base64 of 32 bytes; surrounding
    /// whitespace is ignored. `origin` names where the text came from, for
    /// the error (which never repeats the text).
    pub fn parse(text: &str, origin: &str) -> Result<Self, CredentialsError> {
        let text = Zeroizing::new(text.trim().to_owned());
        let decoded = if text.len() == 2 * KEY_LEN && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            hex::decode(text.as_bytes()).ok()
        } else {
            base64::engine::general_purpose::STANDARD
                .decode(text.as_bytes())
                .ok()
        };
        let decoded = Zeroizing::new(decoded.unwrap_or_default());
        if decoded.len() != KEY_LEN {
            return Err(CredentialsError::BadMasterKey {
                origin: origin.to_owned(),
                reason: "expected 32 bytes as 64 hex characters or base64 \
                         (`tributary secrets new-key` prints one)"
                    .into(),
            });
        }
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        bytes.copy_from_slice(&decoded);
        Ok(Self(bytes))
    }

    /// Reads a key file, refusing one that others can read or write.
    pub fn from_file(path: &Path) -> Result<Self, CredentialsError> {
        let origin = format!("key file {}", path.display());
        let metadata = std::fs::metadata(path).map_err(|e| CredentialsError::BadMasterKey {
            origin: origin.clone(),
            reason: e.to_string(),
        })?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = metadata.permissions().mode();
            if mode & 0o077 != 0 {
                return Err(CredentialsError::BadMasterKey {
                    origin,
                    reason: format!(
                        "it is readable or writable by others (mode {:o}); run chmod 600 on it",
                        mode & 0o777
                    ),
                });
            }
        }
        #[cfg(not(unix))]
        let _ = metadata;
        let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| {
            CredentialsError::BadMasterKey {
                origin: origin.clone(),
                reason: e.to_string(),
            }
        })?);
        Self::parse(&text, &origin)
    }

    /// The key as 64 hex characters, for `tributary secrets new-key`.
    pub fn to_hex(&self) -> Zeroizing<String> {
        Zeroizing::new(hex::encode(self.0.as_ref()))
    }

    pub(crate) fn bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_and_base64_give_the_same_key() {
        let key = MasterKey::generate();
        let hex = key.to_hex();
        let base64 = base64::engine::general_purpose::STANDARD.encode(key.bytes());
        let from_hex = MasterKey::parse(&format!(" {}\n", hex.as_str()), "test");
        let from_base64 = MasterKey::parse(&base64, "test");
        assert_eq!(from_hex.map(|k| *k.bytes()).ok(), Some(*key.bytes()));
        assert_eq!(from_base64.map(|k| *k.bytes()).ok(), Some(*key.bytes()));
    }

    #[test]
    fn a_short_key_is_refused_without_repeating_it() {
        let error = MasterKey::parse("abcdef0123", "TRIBUTARY_MASTER_KEY")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(error.contains("TRIBUTARY_MASTER_KEY"), "{error}");
        assert!(error.contains("32 bytes"), "{error}");
        assert!(!error.contains("abcdef0123"), "{error}");
    }

    #[test]
    fn debug_shows_no_key_material() {
        let key = MasterKey::generate();
        let debug = format!("{key:?}");
        assert_eq!(debug, "MasterKey(..)");
        assert!(!debug.contains(key.to_hex().as_str()));
    }

    #[cfg(unix)]
    #[test]
    fn a_key_file_others_can_read_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("master.key");
        std::fs::write(&path, MasterKey::generate().to_hex().as_bytes()).expect("write key");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let error = MasterKey::from_file(&path).err().map(|e| e.to_string());
        assert!(
            error.as_deref().is_some_and(|e| e.contains("chmod 600")),
            "{error:?}"
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        assert!(MasterKey::from_file(&path).is_ok());
    }
}
