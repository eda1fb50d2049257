//! Access tokens: JWTs signed with Ed25519 (EdDSA), bound to the client
//! certificate through `cnf.x5t#S256` (RFC 8705).
//!
//! Expiry is checked here against a caller-supplied time rather than the
//! library's clock, so tests can move time.

use crate::error::{Error, Result};
use data_encoding::BASE64URL_NOPAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rcgen::{KeyPair, PKCS_ED25519};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The audience of every access token this server signs.
pub const AUDIENCE: &str = "sightline-native";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    /// The user's id.
    pub sub: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
    /// The refresh-token family (login session) this token belongs to.
    pub sid: String,
    pub cnf: Confirmation,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmation {
    #[serde(rename = "x5t#S256")]
    pub x5t_s256: String,
}

impl Confirmation {
    pub fn for_thumbprint(thumbprint: &[u8]) -> Self {
        Self {
            x5t_s256: BASE64URL_NOPAD.encode(thumbprint),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenRejection {
    Invalid,
    Expired,
}

/// The signing key with its `kid`, and the issuer it signs for.
pub struct JwtKeys {
    kid: String,
    issuer: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtKeys")
            .field("kid", &self.kid)
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

/// A new Ed25519 key as PKCS#8 PEM.
pub fn generate_key_pem() -> Result<String> {
    let key = KeyPair::generate_for(&PKCS_ED25519).map_err(|e| Error::invalid("JWT key", e.to_string()))?;
    Ok(key.serialize_pem())
}

impl JwtKeys {
    pub fn from_pem(pem: &str, issuer: &str) -> Result<Self> {
        let key = KeyPair::from_pem(pem).map_err(|e| Error::invalid("JWT key", e.to_string()))?;
        if key.algorithm() != &PKCS_ED25519 {
            return Err(Error::invalid("JWT key", "must be Ed25519"));
        }
        let public = key.public_key_raw().to_vec();
        // The kid names the key by its public half, so several instances that
        // share the key agree on it without extra state.
        let kid = BASE64URL_NOPAD.encode(&sightline_certs::sha256(&public)[..12]);
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_audience(&[AUDIENCE]);
        validation.set_issuer(&[issuer]);
        validation.validate_exp = false;
        validation.set_required_spec_claims(&["iss", "aud", "sub", "exp"]);
        Ok(Self {
            kid,
            issuer: issuer.to_owned(),
            encoding: EncodingKey::from_ed_der(&key.serialize_der()),
            decoding: DecodingKey::from_ed_der(&public),
            validation,
        })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn sign(&self, claims: &Claims) -> Result<String> {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        Ok(jsonwebtoken::encode(&header, claims, &self.encoding)?)
    }

    /// Signs a throwaway token and verifies it: the readiness check's
    /// proof that the key in memory still signs what it accepts.
    pub fn self_check(&self, now: i64) -> bool {
        let probe = Claims {
            iss: self.issuer.clone(),
            aud: AUDIENCE.into(),
            sub: "readiness-probe".into(),
            iat: now,
            exp: now + 60,
            jti: "readiness-probe".into(),
            sid: "readiness-probe".into(),
            cnf: Confirmation::for_thumbprint(&[0; 32]),
        };
        self.sign(&probe)
            .is_ok_and(|token| self.verify(&token, now).is_ok_and(|claims| claims == probe))
    }

    /// Verifies signature, algorithm, `kid`, issuer, audience and expiry.
    pub fn verify(&self, token: &str, now: i64) -> Result<Claims, TokenRejection> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenRejection::Invalid)?;
        if header.alg != Algorithm::EdDSA || header.kid.as_deref() != Some(self.kid.as_str()) {
            return Err(TokenRejection::Invalid);
        }
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|_| TokenRejection::Invalid)?;
        if data.claims.exp <= now {
            return Err(TokenRejection::Expired);
        }
        Ok(data.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> JwtKeys {
        JwtKeys::from_pem(&generate_key_pem().unwrap(), "https://sightline.test").unwrap()
    }

    fn claims(now: i64) -> Claims {
        Claims {
            iss: "https://sightline.test".into(),
            aud: AUDIENCE.into(),
            sub: "1".into(),
            iat: now,
            exp: now + 900,
            jti: "j".into(),
            sid: "s".into(),
            cnf: Confirmation::for_thumbprint(&[1; 32]),
        }
    }

    #[test]
    fn round_trip_and_expiry() {
        let keys = keys();
        let token = keys.sign(&claims(1000)).unwrap();
        assert_eq!(keys.verify(&token, 1001).unwrap(), claims(1000));
        assert_eq!(keys.verify(&token, 1900), Err(TokenRejection::Expired));
    }

    #[test]
    fn header_names_the_key() {
        let keys = keys();
        let token = keys.sign(&claims(0)).unwrap();
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.alg, Algorithm::EdDSA);
        assert_eq!(header.kid.as_deref(), Some(keys.kid()));
    }

    #[test]
    fn foreign_keys_wrong_audience_and_alg_none_are_refused() {
        let keys = keys();
        let other = JwtKeys::from_pem(&generate_key_pem().unwrap(), "https://sightline.test").unwrap();
        let forged = other.sign(&claims(0)).unwrap();
        assert_eq!(keys.verify(&forged, 1), Err(TokenRejection::Invalid));

        let mut wrong_audience = claims(0);
        wrong_audience.aud = "elsewhere".into();
        assert_eq!(
            keys.verify(&keys.sign(&wrong_audience).unwrap(), 1),
            Err(TokenRejection::Invalid)
        );

        let body = BASE64URL_NOPAD.encode(serde_json::to_string(&claims(0)).unwrap().as_bytes());
        let head = BASE64URL_NOPAD.encode(format!(r#"{{"alg":"none","kid":"{}"}}"#, keys.kid()).as_bytes());
        assert_eq!(
            keys.verify(&format!("{head}.{body}."), 1),
            Err(TokenRejection::Invalid)
        );
    }
}
