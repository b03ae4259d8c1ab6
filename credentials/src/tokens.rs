//! API tokens for the HTTP API: 256 random bits, shown once when created,
//! kept only as a SHA-256 hash. A slow password hash would add nothing: the
//! token is random, so its hash cannot be reversed by guessing.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::OsRng;
use chacha20poly1305::aead::rand_core::RngCore;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// Every token starts so, to be recognised in a leaked file or log.
const PREFIX: &str = "trib_";

/// A new token: the value to hand to the user once, and its hash to keep.
pub struct ApiToken {
    pub value: SecretString,
    pub hash: String,
}

impl std::fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ApiToken({})", self.hash)
    }
}

impl ApiToken {
    pub fn generate() -> Self {
        let mut bytes = Zeroizing::new([0u8; 32]);
        OsRng.fill_bytes(bytes.as_mut());
        let value = format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes.as_ref()));
        let hash = hash_token(&value);
        Self {
            value: SecretString::from(value),
            hash,
        }
    }

    pub fn expose(&self) -> &str {
        self.value.expose_secret()
    }
}

/// The hex SHA-256 of a presented token, to look up.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_prefixed_and_hashed() {
        let first = ApiToken::generate();
        let second = ApiToken::generate();
        assert!(first.expose().starts_with("trib_"));
        assert_eq!(first.expose().len(), 5 + 43);
        assert_ne!(first.expose(), second.expose());
        assert_eq!(first.hash, hash_token(first.expose()));
        assert!(!format!("{first:?}").contains(first.expose()));
    }
}
