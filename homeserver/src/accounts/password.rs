//! Password rules and hashing.
//!
//! bcrypt reads only the first 72 bytes of its input, so a longer password would be silently
//! cut. We hash the password with SHA-256 first and give bcrypt the 44-byte base64 of that
//! digest: every character of every password counts, whatever its length or script.
//! Hashing is CPU-heavy by design, so it runs on blocking threads, at most `hashing_threads` at
//! once: a storm of logins queues here instead of stalling the async runtime.

use std::sync::Arc;

use base64::{Engine as _, engine::general_purpose::STANDARD};
use sha2::{Digest as _, Sha256};
use tokio::sync::Semaphore;
use zeroize::Zeroizing;

/// The shortest acceptable password, in characters.
pub const MIN_CHARS: usize = 8;
/// The longest acceptable password, in characters (far above the 64 that must be accepted).
pub const MAX_CHARS: usize = 256;

/// Why a password is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WeakPassword {
    /// Fewer than [`MIN_CHARS`] characters.
    #[error("The password must have at least {MIN_CHARS} characters.")]
    TooShort,
    /// More than [`MAX_CHARS`] characters.
    #[error("The password must have at most {MAX_CHARS} characters.")]
    TooLong,
    /// On the list of common passwords.
    #[error("This password is too common; choose one that others are unlikely to use.")]
    Common,
    /// Contains the username.
    #[error("The password must not contain the username.")]
    ContainsUsername,
}

/// Checks a new password against the rules. `username` is the account's localpart.
pub fn check_new(password: &str, username: &str) -> Result<(), WeakPassword> {
    let chars = password.chars().count();
    if chars < MIN_CHARS {
        return Err(WeakPassword::TooShort);
    }
    if chars > MAX_CHARS {
        return Err(WeakPassword::TooLong);
    }
    let lower = Zeroizing::new(password.to_lowercase());
    if passwords::analyzer::is_common_password(lower.as_str())
        || passwords::analyzer::is_common_password(password)
    {
        return Err(WeakPassword::Common);
    }
    if username.len() >= 3 && lower.contains(&username.to_lowercase()) {
        return Err(WeakPassword::ContainsUsername);
    }
    Ok(())
}

/// Hashing failed (a bug or a corrupt stored hash, never a wrong password).
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

/// Hashes and verifies passwords in a bounded pool of blocking threads.
#[derive(Clone)]
pub struct PasswordHasher {
    cost: u32,
    permits: Arc<Semaphore>,
    /// A hash of a random password, verified against when an account does not exist, so that
    /// a sign-in for a missing account takes as long as one for an existing account.
    dummy_hash: Arc<String>,
}

impl PasswordHasher {
    /// A hasher with bcrypt `cost` and at most `threads` hashes at once.
    pub async fn new(cost: u32, threads: usize) -> Result<Self, HashError> {
        let mut hasher = Self {
            cost,
            permits: Arc::new(Semaphore::new(threads.max(1))),
            dummy_hash: Arc::new(String::new()),
        };
        let random = Zeroizing::new(uuid::Uuid::new_v4().to_string());
        hasher.dummy_hash = Arc::new(hasher.hash(&random).await?);
        Ok(hasher)
    }

    /// The bcrypt hash of `password` (pre-hashed, see the module docs).
    pub async fn hash(&self, password: &str) -> Result<String, HashError> {
        let input = prehash(password);
        let cost = self.cost;
        self.blocking(move || {
            bcrypt::hash(input.as_str(), cost).map_err(|e| HashError(e.to_string()))
        })
        .await
    }

    /// Whether `password` matches `hash`.
    pub async fn verify(&self, password: &str, hash: &str) -> Result<bool, HashError> {
        let input = prehash(password);
        let hash = hash.to_owned();
        self.blocking(move || {
            bcrypt::verify(input.as_str(), &hash).map_err(|e| HashError(e.to_string()))
        })
        .await
    }

    /// Spends the time of one verification without an account: see `dummy_hash`.
    pub async fn verify_dummy(&self, password: &str) {
        let hash = Arc::clone(&self.dummy_hash);
        let _ = self.verify(password, &hash).await;
    }

    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, HashError> + Send + 'static,
    ) -> Result<T, HashError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| HashError("hasher closed".into()))?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| HashError(e.to_string()))?
    }
}

fn prehash(password: &str) -> Zeroizing<String> {
    let digest: Zeroizing<[u8; 32]> = Zeroizing::new(Sha256::digest(password.as_bytes()).into());
    Zeroizing::new(STANDARD.encode(digest.as_slice()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn rules() {
        assert_eq!(check_new("short", "alice"), Err(WeakPassword::TooShort));
        assert_eq!(
            check_new(&"x".repeat(257), "alice"),
            Err(WeakPassword::TooLong)
        );
        assert_eq!(check_new("password123", "alice"), Err(WeakPassword::Common));
        assert_eq!(check_new("Password123", "alice"), Err(WeakPassword::Common));
        assert_eq!(check_new("qwertyuiop", "alice"), Err(WeakPassword::Common));
        assert_eq!(
            check_new("my alice is great", "alice"),
            Err(WeakPassword::ContainsUsername)
        );
        assert!(check_new("correct horse battery staple", "alice").is_ok());
        // Length counts characters, not bytes: 8 characters of 3 bytes each.
        assert!(check_new("ÄÖÜßéèñç", "alice").is_ok());
        assert!(check_new(&"ü".repeat(64), "alice").is_ok());
    }

    #[test]
    fn the_common_list_is_large() {
        // The shipped list must have thousands of entries; spot-check well-known ones.
        for common in [
            "123456",
            "iloveyou",
            "letmein",
            "monkey",
            "dragon",
            "sunshine1",
        ] {
            assert!(passwords::analyzer::is_common_password(common), "{common}");
        }
    }

    #[tokio::test]
    async fn long_passwords_are_never_truncated() {
        let hasher = PasswordHasher::new(4, 2).await.unwrap();
        let long = "a".repeat(100);
        let hash = hasher.hash(&long).await.unwrap();
        assert!(hasher.verify(&long, &hash).await.unwrap());
        // Differs only in the 100th character, far past bcrypt's 72 bytes.
        let other = format!("{}b", "a".repeat(99));
        assert!(!hasher.verify(&other, &hash).await.unwrap());

        let unicode = "ß".repeat(64); // 128 bytes
        let hash = hasher.hash(&unicode).await.unwrap();
        assert!(hasher.verify(&unicode, &hash).await.unwrap());
        let mut almost = "ß".repeat(63);
        almost.push('s');
        assert!(!hasher.verify(&almost, &hash).await.unwrap());
    }
}
