//! A homeserver's ed25519 signing key and its storage encoding.
//!
//! The encoding is one line, `ed25519 <version> <unpadded base64 seed>`, so that an operator can
//! tell what a key file holds without tools. The seed is secret: it is zeroized on drop and never
//! printed by `Debug`.

use std::fmt;

use base64::{Engine as _, engine::general_purpose::STANDARD_NO_PAD};
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use rand::{Rng as _, rngs::OsRng};
use zeroize::Zeroizing;

/// Errors in reading a stored signing key.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    /// The text is not `ed25519 <version> <seed>`.
    #[error("a signing key must read `ed25519 <version> <base64 seed>`")]
    Malformed,
    /// The algorithm is not ed25519.
    #[error("unsupported signing key algorithm `{0}`")]
    Algorithm(String),
    /// The version is empty, longer than 64 characters, or has characters other than
    /// `a-z A-Z 0-9 _`.
    #[error("a key version is 1 to 64 letters, digits and `_`")]
    Version,
    /// The seed is not 32 bytes of unpadded base64.
    #[error("the key seed is not 32 bytes of base64")]
    Seed,
}

/// An ed25519 key a homeserver signs federation requests and key documents with.
pub struct ServerSigningKey {
    version: String,
    key: SigningKey,
}

impl ServerSigningKey {
    /// A fresh key from the operating system's random source, with a random version.
    pub fn generate() -> Self {
        let mut rng = OsRng;
        let version: String = (0..8)
            .map(|_| char::from(rng.sample(rand::distributions::Alphanumeric)))
            .collect();
        Self {
            version,
            key: SigningKey::generate(&mut rng),
        }
    }

    /// Reads the storage encoding written by [`ServerSigningKey::encode`].
    pub fn decode(text: &str) -> Result<Self, KeyError> {
        let mut parts = text.split_ascii_whitespace();
        let (Some(algorithm), Some(version), Some(seed), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(KeyError::Malformed);
        };
        if algorithm != "ed25519" {
            return Err(KeyError::Algorithm(algorithm.chars().take(32).collect()));
        }
        if !is_key_version(version) {
            return Err(KeyError::Version);
        }
        let bytes = Zeroizing::new(STANDARD_NO_PAD.decode(seed).map_err(|_| KeyError::Seed)?);
        let seed: Zeroizing<[u8; 32]> =
            Zeroizing::new(bytes.as_slice().try_into().map_err(|_| KeyError::Seed)?);
        Ok(Self {
            version: version.to_owned(),
            key: SigningKey::from_bytes(&seed),
        })
    }

    /// The storage encoding, including the secret seed.
    pub fn encode(&self) -> Zeroizing<String> {
        let seed = Zeroizing::new(self.key.to_bytes());
        Zeroizing::new(format!(
            "ed25519 {} {}\n",
            self.version,
            STANDARD_NO_PAD.encode(*seed)
        ))
    }

    /// The key id peers see, `ed25519:<version>`.
    pub fn key_id(&self) -> String {
        format!("ed25519:{}", self.version)
    }

    /// The public key as unpadded base64.
    pub fn public_key_base64(&self) -> String {
        STANDARD_NO_PAD.encode(self.key.verifying_key().as_bytes())
    }

    /// The public key.
    pub fn verifying_key(&self) -> VerifyingKey {
        self.key.verifying_key()
    }

    /// Signs `message`.
    pub fn sign(&self, message: &[u8]) -> Signature {
        self.key.sign(message)
    }

    /// Signs `message`; the signature as unpadded base64.
    pub fn sign_base64(&self, message: &[u8]) -> String {
        STANDARD_NO_PAD.encode(self.key.sign(message).to_bytes())
    }
}

/// Whether `version` is a valid key version: 1 to 64 characters of `a-z A-Z 0-9 _`.
pub fn is_key_version(version: &str) -> bool {
    !version.is_empty()
        && version.len() <= 64
        && version
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The version of an ed25519 key id `ed25519:<version>`, or `None` if `key_id` is not one.
pub fn ed25519_key_version(key_id: &str) -> Option<&str> {
    key_id
        .strip_prefix("ed25519:")
        .filter(|version| is_key_version(version))
}

impl fmt::Debug for ServerSigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerSigningKey")
            .field("key_id", &self.key_id())
            .field("public_key", &self.public_key_base64())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use ed25519_dalek::{Signature, Verifier as _, VerifyingKey};

    use super::*;

    #[test]
    fn encoding_round_trips_and_signatures_verify() {
        let key = ServerSigningKey::generate();
        let again = ServerSigningKey::decode(&key.encode()).unwrap();
        assert_eq!(again.key_id(), key.key_id());
        assert_eq!(again.public_key_base64(), key.public_key_base64());

        let public: [u8; 32] = STANDARD_NO_PAD
            .decode(key.public_key_base64())
            .unwrap()
            .try_into()
            .unwrap();
        let signature: [u8; 64] = STANDARD_NO_PAD
            .decode(again.sign_base64(b"hello"))
            .unwrap()
            .try_into()
            .unwrap();
        let verifying = VerifyingKey::from_bytes(&public).unwrap();
        assert!(
            verifying
                .verify(b"hello", &Signature::from_bytes(&signature))
                .is_ok()
        );
        assert!(
            verifying
                .verify(b"other", &Signature::from_bytes(&signature))
                .is_err()
        );
    }

    #[test]
    fn debug_never_shows_the_seed() {
        let key = ServerSigningKey::generate();
        let encoded = key.encode();
        let seed = encoded.split_ascii_whitespace().nth(2).unwrap();
        let debug = format!("{key:?}");
        assert!(!debug.contains(seed), "{debug}");
        assert!(
            debug.starts_with("ServerSigningKey { key_id: \"ed25519:"),
            "{debug}"
        );
    }

    #[test]
    fn bad_encodings_are_refused() {
        assert_eq!(
            ServerSigningKey::decode("").unwrap_err(),
            KeyError::Malformed
        );
        assert_eq!(
            ServerSigningKey::decode("rsa a AAAA").unwrap_err(),
            KeyError::Algorithm("rsa".into())
        );
        assert_eq!(
            ServerSigningKey::decode("ed25519 a-b AAAA").unwrap_err(),
            KeyError::Version
        );
        assert_eq!(
            ServerSigningKey::decode("ed25519 ab AAAA").unwrap_err(),
            KeyError::Seed
        );
        assert_eq!(
            ServerSigningKey::decode("ed25519 ab c d").unwrap_err(),
            KeyError::Malformed
        );
    }
}
