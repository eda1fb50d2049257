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

/// The least zxcvbn score accepted. Three is "safely unguessable":
/// about 10^10 guesses, which argon2id makes an offline attack on a
/// stolen hash too slow to pay.
pub const MIN_SCORE: zxcvbn::Score = zxcvbn::Score::Three;

/// Words zxcvbn is given besides the user's own names: the product's name,
/// which an attacker tries first, and the famous xkcd passphrase, which is in
/// every cracking list but not in zxcvbn's frequency lists.
const KNOWN_WORDS: &[&str] = &["sightline", "correcthorsebatterystaple"];

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

/// Checks the strength rules: the length limits, not the e-mail address
/// or username, and hard enough to guess by zxcvbn's estimate, which knows
/// common passwords, words, names, keyboard patterns, dates and repeats.
/// The username and the e-mail address are given to zxcvbn, with
/// [`KNOWN_WORDS`], as words an attacker would try first. A refusal carries zxcvbn's
/// warning and suggestions, for the download page and the command line.
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
    let local_part = email.split('@').next().unwrap_or(email);
    let mut known = vec![username, email, local_part];
    known.extend_from_slice(KNOWN_WORDS);
    let estimate = zxcvbn::zxcvbn(value, &known);
    if estimate.score() < MIN_SCORE {
        return Err(Error::invalid("password", too_guessable(estimate.feedback())));
    }
    Ok(())
}

/// "is too easy to guess", then zxcvbn's warning and suggestions. The last
/// full stop is left off: callers end the sentence (the download page adds
/// one after "The password …", the command line prints it as it is).
fn too_guessable(feedback: Option<&zxcvbn::feedback::Feedback>) -> String {
    let mut sentences = vec!["is too easy to guess.".to_owned()];
    if let Some(feedback) = feedback {
        sentences.extend(feedback.warning().map(|warning| warning.to_string()));
        sentences.extend(feedback.suggestions().iter().map(ToString::to_string));
    }
    sentences.join(" ").trim_end_matches('.').to_owned()
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

    fn refusal(password: &str, email: &str, username: &str) -> Option<String> {
        match check_strength(&Secret::new(password), email, username) {
            Ok(()) => None,
            Err(Error::Invalid { what, reason }) => {
                assert_eq!(what, "password");
                Some(reason)
            }
            Err(other) => panic!("unexpected error {other}"),
        }
    }

    #[test]
    fn strength_rules() {
        let ok = |p: &str| refusal(p, "ada@example.com", "ada").is_none();
        assert!(ok("violet-otter-harbour"));
        assert!(!ok("short"));
        assert!(!ok("ADA@example.com"));
        assert!(!ok("Password1234"));
        assert!(!ok(&"x".repeat(MAX_PASSWORD_LEN + 1)));
    }

    #[test]
    fn strong_passwords_are_accepted() {
        for password in [
            "violet-otter-harbour",
            "quartz-heron-meadow",
            "harbour-lantern-violet",
            "copper-lantern-orchard",
            "maple-cobalt-lantern",
            "juniper-quartz-meadow",
        ] {
            assert_eq!(refusal(password, "ada@example.com", "ada"), None, "{password}");
        }
        // The generated form, as `init` prints for the first administrator.
        assert_eq!(refusal("k7Rm2-xQp9T-wZ4nB-h8JcV", "a@b.c", "admin"), None);
    }

    #[test]
    fn weak_passwords_are_refused_with_zxcvbn_feedback() {
        // Long enough for the length rule: only zxcvbn refuses these.
        let common = refusal("password12345", "ada@example.com", "ada").unwrap();
        assert!(common.starts_with("is too easy to guess."), "{common}");
        assert!(
            common.contains("This is similar to a commonly used password."),
            "{common}"
        );
        assert!(common.contains("Add another word or two."), "{common}");
        assert!(!common.ends_with('.'), "{common}");

        let repeats = refusal("aaaaaaaaaaaaaaaa", "ada@example.com", "ada").unwrap();
        assert!(repeats.contains("Repeats like"), "{repeats}");

        let keyboard = refusal("qwertyuiop12", "ada@example.com", "ada").unwrap();
        assert!(keyboard.contains("too easy to guess"), "{keyboard}");

        // The product's own name counts as a word an attacker tries first.
        assert!(refusal("sightline-2024", "ada@example.com", "ada").is_some());
    }

    /// What the hand-made list refused before zxcvbn, zxcvbn refuses too.
    #[test]
    fn the_old_list_of_common_passwords_is_still_refused() {
        for password in [
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
            "CorrectHorseBatteryStaple",
            "aaaaaaaaaaaa",
            "abcdefghijkl",
            "abc123abc123",
            "sightline123",
            "sightline1234",
            "qwertyqwerty",
            "asdfghjkl123",
            "zaq12wsxcde3",
        ] {
            assert!(
                refusal(password, "ada@example.com", "ada").is_some(),
                "{password}"
            );
        }
    }

    #[test]
    fn the_username_and_address_count_against_the_password() {
        let email = "ada.lovelace@example.com";
        let username = "ada.lovelace.1815";
        // Equal to the username, in any case.
        assert!(refusal(username, email, username).is_some());
        assert!(refusal("Ada.Lovelace.1815", email, username).is_some());
        // Built from them: zxcvbn is given both.
        let built = refusal("ada.lovelace.1815!", email, username).unwrap();
        assert!(built.starts_with("is too easy to guess."), "{built}");
        // The same password is strong for someone else: only the user's
        // own names made it weak.
        assert_eq!(refusal("ada.lovelace.1815!", "grace@example.com", "grace"), None);
    }
}
