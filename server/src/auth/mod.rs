//! Authentication building blocks. Each takes time as an input where time
//! matters, so tests can control it.

pub mod jwt;
pub mod password;
pub mod throttle;
pub mod totp;

use data_encoding::BASE64URL_NOPAD;
use rand::RngCore;

/// 256 random bits, base64url: challenges, refresh tokens, one-time links.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    BASE64URL_NOPAD.encode(&bytes)
}

/// What is stored instead of a high-entropy token: its SHA-256.
pub fn token_hash(token: &str) -> Vec<u8> {
    sightline_certs::sha256(token.as_bytes()).to_vec()
}

/// Compares two secrets in time that does not depend on where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    bool::from(a.ct_eq(b))
}
