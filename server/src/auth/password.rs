//! Password hashing with argon2id. Hashing is CPU-heavy, so [`Hasher`]
//! runs it on the blocking pool behind a semaphore of half the cores, which
//! keeps logins from starving other requests.

use crate::error::{Error, Result};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use sightline_proto::Secret;
use tokio::sync::{OnceCell, Semaphore};

/// Longest password accepted: argon2 would hash more, but nobody types it
/// and a cap keeps a hostile request from being expensive.
pub const MAX_PASSWORD_LEN: usize = 1024;
pub const MIN_PASSWORD_LEN: usize = 12;

/// A small list of passwords that fit the length rule and are still guessed
/// first. Compared case-insensitively.
const COMMON_PASSWORDS: &[&str] = &[
    "password1234",
    "password12345",
    "password123456",
    "123456789012",
    "1234567890123",
    "qwertyuiop12",
    "qwerty123456",
    "iloveyou1234",
    "letmein12345",
    "welcome12345",
    "administrator",
    "changeme1234",
    "passw0rd1234",
    "trustno1trustno1",
    "sunshine1234",
    "football1234",
    "baseball1234",
    "monkey123456",
    "dragon123456",
    "superman1234",
    "correcthorsebatterystaple",
    "aaaaaaaaaaaa",
    "abcdefghijkl",
    "abc123abc123",
    "sightline123",
    "sightline1234",
    "qwertyqwerty",
    "asdfghjkl123",
    "zaq12wsxcde3",
];

pub fn hash(password: &Secret) -> Result<String> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Argon2::default()
        .hash_password(password.expose().as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| Error::PasswordHash(e.to_string()))
}

/// True when `password` matches `stored`. A malformed stored hash counts as
/// a mismatch (and is logged), never as success.
pub fn verify(password: &Secret, stored: &str) -> bool {
    match PasswordHash::new(stored) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.expose().as_bytes(), &parsed)
            .is_ok(),
        Err(error) => {
            tracing::error!(%error, "stored password hash is malformed");
            false
        }
    }
}

/// Hashes and verifies passwords on the blocking pool, within a budget.
#[derive(Debug)]
pub struct Hasher {
    permits: Semaphore,
    /// A real argon2id hash of a random password, made on first use:
    /// unknown users are checked against it so that they cost the same
    /// time as known ones.
    dummy: OnceCell<String>,
}

impl Default for Hasher {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map(usize::from).unwrap_or(2);
        Self {
            permits: Semaphore::new((cores / 2).max(1)),
            dummy: OnceCell::new(),
        }
    }
}

impl Hasher {
    /// Hashes a new password.
    pub async fn hash(&self, password: Secret) -> Result<String> {
        let _permit = self.permit().await?;
        tokio::task::spawn_blocking(move || hash(&password)).await?
    }

    /// Verifies a password against `stored`, or against the dummy hash when
    /// there is none (an unknown user, or one without a password yet), which
    /// never matches but costs the same.
    pub async fn verify(&self, password: Secret, stored: Option<String>) -> Result<bool> {
        let known = stored.is_some();
        let stored = match stored {
            Some(stored) => stored,
            None => self.dummy().await?,
        };
        let _permit = self.permit().await?;
        let matches = tokio::task::spawn_blocking(move || verify(&password, &stored)).await?;
        Ok(matches && known)
    }

    /// Makes the dummy hash now, so that even the first unknown user costs
    /// one hash and not two.
    pub async fn warm_up(&self) -> Result<()> {
        self.dummy().await.map(drop)
    }

    async fn dummy(&self) -> Result<String> {
        self.dummy
            .get_or_try_init(|| async {
                let _permit = self.permit().await?;
                let random = Secret::new(crate::datadir::generate_password());
                tokio::task::spawn_blocking(move || hash(&random)).await?
            })
            .await
            .cloned()
    }

    async fn permit(&self) -> Result<tokio::sync::SemaphorePermit<'_>> {
        self.permits
            .acquire()
            .await
            .map_err(|_| Error::PasswordHash("hashing pool closed".into()))
    }
}

/// Checks the strength rules: length, not the e-mail or username, not a
/// well-known password.
pub fn check_strength(password: &Secret, email: &str, username: &str) -> Result<()> {
    let value = password.expose();
    let length = value.chars().count();
    if length < MIN_PASSWORD_LEN {
        return Err(Error::invalid(
            "password",
            format!("must be at least {MIN_PASSWORD_LEN} characters"),
        ));
    }
    if value.len() > MAX_PASSWORD_LEN {
        return Err(Error::invalid(
            "password",
            format!("must be at most {MAX_PASSWORD_LEN} bytes"),
        ));
    }
    let lowered = value.to_lowercase();
    if lowered == email.to_lowercase() || lowered == username.to_lowercase() {
        return Err(Error::invalid(
            "password",
            "must not be your e-mail address or username",
        ));
    }
    if COMMON_PASSWORDS.contains(&lowered.as_str()) {
        return Err(Error::invalid("password", "is too common; choose another"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_and_verify() {
        let password = Secret::new("a long enough passphrase");
        let stored = hash(&password).unwrap();
        assert!(stored.starts_with("$argon2id$"));
        assert!(verify(&password, &stored));
        assert!(!verify(&Secret::new("another passphrase"), &stored));
        assert!(!verify(&password, "not a hash"));
    }

    #[tokio::test]
    async fn the_hasher_never_matches_without_a_stored_hash() {
        let hasher = Hasher::default();
        let password = Secret::new("a long enough passphrase");
        let stored = hasher.hash(password.clone()).await.unwrap();
        assert!(hasher.verify(password.clone(), Some(stored)).await.unwrap());
        assert!(!hasher.verify(password, None).await.unwrap());
    }

    #[test]
    fn strength_rules() {
        let ok = |p: &str| check_strength(&Secret::new(p), "ada@example.com", "ada").is_ok();
        assert!(ok("violet-otter-harbour"));
        assert!(!ok("short"));
        assert!(!ok("ADA@example.com"));
        assert!(!ok("Password1234"));
        assert!(!ok(&"x".repeat(MAX_PASSWORD_LEN + 1)));
    }
}
