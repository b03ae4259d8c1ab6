//! XChaCha20-Poly1305 sealing. A sealed value is `nonce || ciphertext+tag`,
//! with a fresh random 192-bit nonce each time (large enough that random
//! nonces never repeat in practice). The associated data binds a value to
//! its place: a secret to its name, the data key to its role, so records
//! cannot be swapped without detection.

use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use zeroize::Zeroizing;

const NONCE_LEN: usize = 24;

/// Associated data of the wrapped data key.
pub(crate) const DATA_KEY_CONTEXT: &[u8] = b"tributary credentials v1: data key";

/// Associated data of the secret named `name`.
pub(crate) fn secret_context(name: &str) -> Vec<u8> {
    let mut context = b"tributary credentials v1: secret\0".to_vec();
    context.extend_from_slice(name.as_bytes());
    context
}

/// The ways opening fails; the caller knows which record it was.
#[derive(Debug)]
pub(crate) struct OpenFailed;

pub(crate) fn seal(key: &[u8; 32], plaintext: &[u8], context: &[u8]) -> Vec<u8> {
    let cipher = XChaCha20Poly1305::new(key.into());
    let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
    // Encryption fails only for messages beyond the cipher's length limit
    // (256 GiB), which no secret reaches.
    let ciphertext = cipher
        .encrypt(
            &nonce,
            Payload {
                msg: plaintext,
                aad: context,
            },
        )
        .unwrap_or_default();
    let mut sealed = nonce.to_vec();
    sealed.extend_from_slice(&ciphertext);
    sealed
}

pub(crate) fn open(
    key: &[u8; 32],
    sealed: &[u8],
    context: &[u8],
) -> Result<Zeroizing<Vec<u8>>, OpenFailed> {
    if sealed.len() < NONCE_LEN {
        return Err(OpenFailed);
    }
    let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
    let cipher = XChaCha20Poly1305::new(key.into());
    cipher
        .decrypt(
            XNonce::from_slice(nonce),
            Payload {
                msg: ciphertext,
                aad: context,
            },
        )
        .map(Zeroizing::new)
        .map_err(|_| OpenFailed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_opens_only_with_its_key_and_context() {
        let key = [7u8; 32];
        let sealed = seal(&key, b"hunter2", &secret_context("db"));
        assert_eq!(
            open(&key, &sealed, &secret_context("db")).ok().as_deref(),
            Some(&b"hunter2".to_vec())
        );
        assert!(open(&key, &sealed, &secret_context("other")).is_err());
        assert!(open(&[8u8; 32], &sealed, &secret_context("db")).is_err());
        let mut flipped = sealed.clone();
        if let Some(byte) = flipped.last_mut() {
            *byte ^= 1;
        }
        assert!(open(&key, &flipped, &secret_context("db")).is_err());
        assert!(open(&key, &sealed[..10], &secret_context("db")).is_err());
    }

    #[test]
    fn sealing_twice_gives_different_bytes() {
        let key = [1u8; 32];
        assert_ne!(seal(&key, b"x", b"c"), seal(&key, b"x", b"c"));
    }
}
