//! RFC 6238 time-based one-time passwords, computed and checked by
//! `totp-rs`. Sightline issues SHA-1, 6 digits and 30-second steps, and
//! accepts one step either side of the current one.
//!
//! Single use is the caller's part: RFC 6238 §5.2 wants a code accepted
//! once, and totp-rs leaves that to its caller, so [`matching_step`] returns
//! the step that matched and the login stores it (`totp_last_step`) to
//! refuse that step and every earlier one afterwards.

use crate::error::{Error, Result};
use totp_rs::{Algorithm, Builder, Secret, Totp};

pub const STEP_SECONDS: i64 = 30;
pub const DIGITS: u32 = 6;
/// Secret length in bytes (160 bits, as RFC 4226 recommends).
pub const SECRET_LEN: usize = 20;
/// Steps accepted either side of the current one, for a phone whose clock
/// drifts and for the time it takes to type the code.
const SKEW_STEPS: u16 = 1;
/// The issuer authenticator apps show beside the account.
const ISSUER: &str = "Sightline";

/// Sightline's parameters around `secret`, not yet checked.
fn builder(secret: &[u8]) -> Builder {
    // DIGITS and STEP_SECONDS are small positive constants: the conversions
    // cannot fail, and the fallbacks only keep this free of panics.
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(u8::try_from(DIGITS).unwrap_or(6))
        .with_step_duration(u64::try_from(STEP_SECONDS).unwrap_or(30))
        .with_skew(SKEW_STEPS)
        .with_secret(secret)
}

/// A generator for `secret`. totp-rs refuses a secret shorter than the
/// 128 bits RFC 4226 requires, and so does every function here.
fn totp(secret: &[u8]) -> Result<Totp> {
    builder(secret)
        .build()
        .map_err(|e| Error::invalid("TOTP secret", e.to_string()))
}

/// The time step that contains `unix_seconds`.
pub fn step_at(unix_seconds: i64) -> i64 {
    unix_seconds.div_euclid(STEP_SECONDS)
}

/// The 6-digit code for a time step, zero-padded. Empty (which matches no
/// code) when the secret is too short or the step lies before 1970.
pub fn code_for_step(secret: &[u8], step: i64) -> String {
    let start = u64::try_from(step)
        .ok()
        .and_then(|step| step.checked_mul(u64::try_from(STEP_SECONDS).ok()?));
    match (totp(secret), start) {
        (Ok(totp), Some(start)) => totp.generate(start).to_string(),
        _ => String::new(),
    }
}

/// The code valid at `unix_seconds`.
pub fn code_at(secret: &[u8], unix_seconds: i64) -> String {
    code_for_step(secret, step_at(unix_seconds))
}

/// Finds the step (previous, current or next) whose code equals `code`,
/// the earliest if several do. totp-rs compares each candidate in constant
/// time; which step matched is no secret, so it may stop at the first.
pub fn matching_step(secret: &[u8], code: &str, unix_seconds: i64) -> Option<i64> {
    let now = u64::try_from(unix_seconds).ok()?;
    let totp = match totp(secret) {
        Ok(totp) => totp,
        Err(error) => {
            // Stored secrets are made by `generate_secret`; one this short
            // means the database was changed by hand. Refuse, and say so.
            tracing::error!(%error, "a stored TOTP secret cannot be used");
            return None;
        }
    };
    totp.check(code, now).and_then(|step| i64::try_from(step).ok())
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
    Secret::from(secret).to_base32()
}

/// The secret from its base32 form; refused when it is not base32 or is
/// too short to use.
pub fn decode_secret(encoded: &str) -> Result<Vec<u8>> {
    let secret =
        Secret::try_from_base32(encoded).map_err(|_| Error::invalid("TOTP secret", "not unpadded base32"))?;
    totp(&secret)?;
    Ok(secret.to_vec())
}

/// The `otpauth://` URI authenticator apps import. totp-rs leaves out the
/// algorithm, digits and period because Sightline's are the defaults of the
/// key URI format (SHA1, 6, 30).
pub fn otpauth_uri(secret: &[u8], account: &str) -> String {
    // The label is only what the app shows. A colon separates issuer from
    // account in it, so totp-rs refuses one in the account name; addresses
    // accepted before e-mail validation went through lettre may have one.
    let account = account.replace(':', ".");
    let uri = builder(secret)
        .with_account_name(account)
        .with_issuer(Some(ISSUER))
        .build()
        .and_then(|totp| totp.to_url());
    match uri {
        Ok(uri) => uri,
        Err(error) => {
            // Only an empty account or a secret too short reaches here;
            // neither is made by Sightline. An empty URI enrols nothing.
            tracing::error!(%error, "no otpauth URI for this account");
            String::new()
        }
    }
}

/// Reads the secret back from an `otpauth://` URI (clients and tests use it).
pub fn secret_from_uri(uri: &str) -> Result<Vec<u8>> {
    let totp = Totp::from_url(uri).map_err(|e| Error::invalid("otpauth URI", e.to_string()))?;
    Ok(totp.secret().to_vec())
}

/// The URI as an SVG QR code. totp-rs's own QR codes are PNG images and
/// would bring an image stack; `qrcode` draws SVG.
pub fn qr_svg(uri: &str) -> Result<String> {
    let code = qrcode::QrCode::with_error_correction_level(uri.as_bytes(), qrcode::EcLevel::M)
        .map_err(|e| Error::invalid("otpauth URI", e.to_string()))?;
    Ok(code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The SHA-1 seed of RFC 6238 Appendix B: the ASCII digits "1234567890"
    /// twice (20 bytes).
    const RFC_SHA1_SEED: &[u8] = b"12345678901234567890";

    /// RFC 6238 Appendix B: times and their 8-digit codes. The seeds are the
    /// ASCII digits "1234567890" repeated to the hash's size: 20 bytes for
    /// SHA-1, 32 for SHA-256 and 64 for SHA-512.
    const RFC_ROWS: &[(u64, &str, &str, &str)] = &[
        (59, "94287082", "46119246", "90693936"),
        (1111111109, "07081804", "68084774", "25091201"),
        (1111111111, "14050471", "67062674", "99943326"),
        (1234567890, "89005924", "91819424", "93441116"),
        (2000000000, "69279037", "90698825", "38618901"),
        (20000000000, "65353130", "77737706", "47863826"),
    ];

    #[test]
    fn rfc6238_appendix_b_vectors_through_totp_rs() {
        let rfc = |algorithm: Algorithm, seed: &[u8]| {
            Builder::new()
                .with_algorithm(algorithm)
                .with_digits(8)
                .with_step_duration(30)
                .with_secret(seed)
                .build()
                .unwrap()
        };
        let sha1 = rfc(Algorithm::SHA1, RFC_SHA1_SEED);
        let sha256 = rfc(Algorithm::SHA256, b"12345678901234567890123456789012");
        let sha512 = rfc(
            Algorithm::SHA512,
            b"1234567890123456789012345678901234567890123456789012345678901234",
        );
        for &(time, expect_sha1, expect_sha256, expect_sha512) in RFC_ROWS {
            assert_eq!(sha1.generate(time).to_string(), expect_sha1, "SHA-1 at {time}");
            assert_eq!(
                sha256.generate(time).to_string(),
                expect_sha256,
                "SHA-256 at {time}"
            );
            assert_eq!(
                sha512.generate(time).to_string(),
                expect_sha512,
                "SHA-512 at {time}"
            );
        }
    }

    /// Sightline's 6 digits are the RFC's 8-digit values modulo 10^6.
    #[test]
    fn six_digit_codes_are_the_rfc_values_truncated() {
        for &(time, expect_sha1, _, _) in RFC_ROWS {
            let time = i64::try_from(time).unwrap();
            assert_eq!(code_at(RFC_SHA1_SEED, time), expect_sha1[2..], "at {time}");
            assert_eq!(
                matching_step(RFC_SHA1_SEED, &expect_sha1[2..], time),
                Some(step_at(time))
            );
        }
        // The zero padding is kept (1111111109 gives 081804).
        assert_eq!(code_at(RFC_SHA1_SEED, 1111111109), "081804");
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
        assert_eq!(matching_step(&secret, &code_at(&secret, now + 60), now), None);
        assert_eq!(matching_step(&secret, "12345", now), None);
        assert_eq!(matching_step(&secret, "+12345", now), None);
        assert_eq!(matching_step(&secret, "", now), None);
    }

    /// The step a code belongs to does not move with the clock, so the
    /// caller's stored last step refuses the same code a little later.
    #[test]
    fn a_replayed_code_names_the_same_step() {
        let secret = generate_secret();
        let now = 1_700_000_010;
        let code = code_at(&secret, now);
        let first = matching_step(&secret, &code, now);
        let replay = matching_step(&secret, &code, now + 25);
        assert_eq!(first, Some(step_at(now)));
        assert_eq!(replay, first);
    }

    #[test]
    fn short_secrets_are_refused() {
        let short = [7u8; 10];
        assert!(decode_secret(&encode_secret(&short)).is_err());
        assert_eq!(code_at(&short, 1_700_000_000), "");
        assert_eq!(matching_step(&short, "000000", 1_700_000_000), None);
        assert!(decode_secret("not base32!").is_err());
    }

    #[test]
    fn secrets_round_trip_as_unpadded_base32() {
        let secret = generate_secret();
        let encoded = encode_secret(&secret);
        assert_eq!(encoded.len(), 32);
        assert!(!encoded.contains('='));
        assert_eq!(encoded, data_encoding::BASE32_NOPAD.encode(&secret));
        assert_eq!(decode_secret(&encoded).unwrap(), secret);
    }

    #[test]
    fn uri_carries_an_unpadded_secret_and_reads_back() {
        let secret = generate_secret();
        let uri = otpauth_uri(&secret, "ada@example.com");
        assert!(
            uri.starts_with("otpauth://totp/Sightline:ada%40example.com?"),
            "{uri}"
        );
        assert!(uri.contains("issuer=Sightline"));
        assert!(uri.contains(&format!("secret={}", encode_secret(&secret))));
        assert!(!uri.contains('='.to_string().repeat(2).as_str()));
        assert_eq!(secret_from_uri(&uri).unwrap(), secret);
        assert!(qr_svg(&uri).unwrap().starts_with("<?xml"));
        // A colon in the account would end the issuer part of the label.
        let odd = otpauth_uri(&secret, "a:b@example.com");
        assert_eq!(secret_from_uri(&odd).unwrap(), secret);
        assert!(secret_from_uri("https://example.com/?secret=AAAA").is_err());
    }
}
