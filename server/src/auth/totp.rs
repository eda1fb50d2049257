//! RFC 6238 time-based one-time passwords (RFC 4226 HOTP underneath).
//! Sightline issues SHA-1, 6 digits, 30-second steps; the other algorithms
//! exist so the RFC's test vectors can be checked in full.

use crate::error::{Error, Result};
use data_encoding::BASE32_NOPAD;
use ring::hmac;

pub const STEP_SECONDS: i64 = 30;
pub const DIGITS: u32 = 6;
/// Secret length in bytes (160 bits, as RFC 4226 recommends).
pub const SECRET_LEN: usize = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Sha1,
    Sha256,
    Sha512,
}

impl Algorithm {
    fn ring(self) -> hmac::Algorithm {
        match self {
            Self::Sha1 => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
            Self::Sha256 => hmac::HMAC_SHA256,
            Self::Sha512 => hmac::HMAC_SHA512,
        }
    }
}

/// The time step that contains `unix_seconds`.
pub fn step_at(unix_seconds: i64) -> i64 {
    unix_seconds.div_euclid(STEP_SECONDS)
}

/// The HOTP value for `counter`, truncated to `digits` digits.
pub fn hotp(algorithm: Algorithm, secret: &[u8], counter: u64, digits: u32) -> u32 {
    let key = hmac::Key::new(algorithm.ring(), secret);
    let tag = hmac::sign(&key, &counter.to_be_bytes());
    let mac = tag.as_ref();
    let offset = usize::from(mac.last().copied().unwrap_or(0) & 0x0f);
    let word = mac
        .get(offset..offset + 4)
        .map(|b| u32::from_be_bytes([b[0] & 0x7f, b[1], b[2], b[3]]))
        .unwrap_or(0);
    word % 10u32.pow(digits)
}

/// The 6-digit SHA-1 code for a time step, zero-padded.
pub fn code_for_step(secret: &[u8], step: i64) -> String {
    let value = hotp(Algorithm::Sha1, secret, u64::try_from(step).unwrap_or(0), DIGITS);
    format!("{value:06}")
}

/// The code valid at `unix_seconds`.
pub fn code_at(secret: &[u8], unix_seconds: i64) -> String {
    code_for_step(secret, step_at(unix_seconds))
}

/// Finds the step (current, previous or next) whose code equals `code`.
/// All three candidates are compared, in constant time, whatever matches.
pub fn matching_step(secret: &[u8], code: &str, unix_seconds: i64) -> Option<i64> {
    let now = step_at(unix_seconds);
    let mut found = None;
    for step in [now - 1, now, now + 1] {
        let expected = code_for_step(secret, step);
        if super::constant_time_eq(expected.as_bytes(), code.as_bytes()) && found.is_none() {
            found = Some(step);
        }
    }
    found
}

/// A new random secret.
pub fn generate_secret() -> [u8; SECRET_LEN] {
    use rand::RngCore;
    let mut secret = [0u8; SECRET_LEN];
    rand::rngs::OsRng.fill_bytes(&mut secret);
    secret
}

/// Base32 without padding, as authenticator apps expect.
pub fn encode_secret(secret: &[u8]) -> String {
    BASE32_NOPAD.encode(secret)
}

pub fn decode_secret(encoded: &str) -> Result<Vec<u8>> {
    BASE32_NOPAD
        .decode(encoded.as_bytes())
        .map_err(|_| Error::invalid("TOTP secret", "not unpadded base32"))
}

/// The `otpauth://` URI authenticator apps import.
pub fn otpauth_uri(secret: &[u8], account: &str) -> String {
    let label = percent_encode(&format!("Sightline:{account}"));
    format!(
        "otpauth://totp/{label}?secret={}&issuer=Sightline&algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}",
        encode_secret(secret)
    )
}

/// Reads the secret back from an `otpauth://` URI (clients and tests use it).
pub fn secret_from_uri(uri: &str) -> Result<Vec<u8>> {
    let query = uri
        .split_once('?')
        .map(|(_, query)| query)
        .ok_or_else(|| Error::invalid("otpauth URI", "no query"))?;
    let secret = query
        .split('&')
        .find_map(|pair| pair.strip_prefix("secret="))
        .ok_or_else(|| Error::invalid("otpauth URI", "no secret"))?;
    decode_secret(secret)
}

/// The URI as an SVG QR code.
pub fn qr_svg(uri: &str) -> Result<String> {
    let code = qrcode::QrCode::with_error_correction_level(uri.as_bytes(), qrcode::EcLevel::M)
        .map_err(|e| Error::invalid("otpauth URI", e.to_string()))?;
    Ok(code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build())
}

fn percent_encode(text: &str) -> String {
    use std::fmt::Write;
    text.bytes().fold(String::new(), |mut out, byte| {
        if byte.is_ascii_alphanumeric() || b"-._~:@".contains(&byte) {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B. The seeds are the ASCII digits "1234567890"
    /// repeated to the hash's size: 20 bytes for SHA-1, 32 for SHA-256 and
    /// 64 for SHA-512.
    #[test]
    fn rfc6238_appendix_b_vectors() {
        let sha1 = b"12345678901234567890".to_vec();
        let sha256 = b"12345678901234567890123456789012".to_vec();
        let sha512 = b"1234567890123456789012345678901234567890123456789012345678901234".to_vec();
        let rows: &[(i64, u32, u32, u32)] = &[
            (59, 94287082, 46119246, 90693936),
            (1111111109, 7081804, 68084774, 25091201),
            (1111111111, 14050471, 67062674, 99943326),
            (1234567890, 89005924, 91819424, 93441116),
            (2000000000, 69279037, 90698825, 38618901),
            (20000000000, 65353130, 77737706, 47863826),
        ];
        for &(time, expect_sha1, expect_sha256, expect_sha512) in rows {
            let counter = u64::try_from(step_at(time)).unwrap();
            assert_eq!(
                hotp(Algorithm::Sha1, &sha1, counter, 8),
                expect_sha1,
                "SHA-1 at {time}"
            );
            assert_eq!(
                hotp(Algorithm::Sha256, &sha256, counter, 8),
                expect_sha256,
                "SHA-256 at {time}"
            );
            assert_eq!(
                hotp(Algorithm::Sha512, &sha512, counter, 8),
                expect_sha512,
                "SHA-512 at {time}"
            );
        }
    }

    #[test]
    fn accepts_one_step_either_side_only() {
        let secret = generate_secret();
        let now = 1_700_000_000;
        assert_eq!(
            matching_step(&secret, &code_at(&secret, now), now),
            Some(step_at(now))
        );
        assert_eq!(
            matching_step(&secret, &code_at(&secret, now - 30), now),
            Some(step_at(now) - 1)
        );
        assert_eq!(
            matching_step(&secret, &code_at(&secret, now + 30), now),
            Some(step_at(now) + 1)
        );
        assert_eq!(matching_step(&secret, &code_at(&secret, now - 60), now), None);
        assert_eq!(matching_step(&secret, "12345", now), None);
    }

    #[test]
    fn uri_carries_an_unpadded_secret_and_reads_back() {
        let secret = generate_secret();
        let uri = otpauth_uri(&secret, "ada@example.com");
        assert!(
            uri.starts_with("otpauth://totp/Sightline:ada%40example.com?")
                || uri.starts_with("otpauth://totp/Sightline:ada@example.com?")
        );
        assert!(uri.contains("issuer=Sightline"));
        assert!(uri.contains("algorithm=SHA1&digits=6&period=30"));
        assert!(!uri.contains('='.to_string().repeat(2).as_str()));
        assert_eq!(secret_from_uri(&uri).unwrap(), secret);
        assert!(qr_svg(&uri).unwrap().starts_with("<?xml"));
    }
}
