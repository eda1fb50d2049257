//! Login: username and password, then the TOTP (or recovery) code; on
//! first login the authenticator to set up. The challenge between the two
//! steps stays here and never reaches the UI.

use super::{lock, Desktop, Overview};
use crate::error::ClientError;
use serde::Serialize;
use sightline_proto::Secret;

/// The authenticator to set up on first login.
#[derive(Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Enrollment {
    pub qr_svg: String,
    pub otpauth_uri: String,
    /// The secret in groups of four, for typing into an authenticator.
    pub manual_key: String,
}

impl std::fmt::Debug for Enrollment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Enrollment(<redacted>)")
    }
}

/// The answer to a correct password: a code is needed next.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct CodeNeeded {
    pub enrollment: Option<Enrollment>,
}

/// A completed login. Recovery codes come only with a new authenticator.
#[derive(Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct LoggedIn {
    pub username: String,
    pub recovery_codes: Vec<String>,
}

impl std::fmt::Debug for LoggedIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoggedIn")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

impl Desktop {
    /// Username and password; the answer says a code is needed (and, on
    /// first login, how to set up the authenticator).
    pub async fn login(&self, username: &str, password: &str) -> Result<CodeNeeded, ClientError> {
        let username = username.trim();
        if username.is_empty() || password.is_empty() {
            return Err(ClientError::invalid("login", "enter your username and password"));
        }
        let challenge = self.require_api()?.login(username, Secret::new(password)).await?;
        let enrollment = challenge.enrollment.as_ref().map(|e| Enrollment {
            qr_svg: e.qr_svg.clone(),
            otpauth_uri: e.otpauth_uri.clone(),
            manual_key: manual_key(&e.otpauth_uri),
        });
        *lock(&self.challenge) = Some((username.to_owned(), challenge));
        Ok(CodeNeeded { enrollment })
    }

    /// The TOTP (or recovery) code for the login in progress.
    pub async fn verify(&self, code: &str) -> Result<LoggedIn, ClientError> {
        let (username, challenge) = lock(&self.challenge)
            .clone()
            .ok_or_else(|| ClientError::invalid("login", "enter your password first"))?;
        let recovery = self.require_api()?.verify(&challenge.challenge, code).await?;
        *lock(&self.challenge) = None;
        self.update_settings(|s| s.username = Some(username.clone()))?;
        self.kick.notify_one();
        self.renewal_kick.notify_one();
        Ok(LoggedIn {
            username,
            recovery_codes: recovery
                .unwrap_or_default()
                .into_iter()
                .map(|c| c.expose().to_owned())
                .collect(),
        })
    }

    pub async fn logout(&self) -> Result<Overview, ClientError> {
        for (_, ask) in lock(&self.asks).drain() {
            ask.abort();
        }
        let result = self.require_api()?.logout().await;
        self.kick.notify_one();
        match result {
            Ok(()) | Err(ClientError::ServerUnreachable) => Ok(self.overview().await),
            Err(error) => Err(error),
        }
    }
}

/// The base32 secret out of an `otpauth://` URI, in groups of four.
fn manual_key(uri: &str) -> String {
    let secret = uri
        .split_once('?')
        .map(|(_, query)| query)
        .unwrap_or_default()
        .split('&')
        .find_map(|pair| pair.strip_prefix("secret="))
        .unwrap_or_default();
    secret
        .as_bytes()
        .chunks(4)
        .map(|chunk| String::from_utf8_lossy(chunk).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_key_is_grouped() {
        assert_eq!(
            manual_key("otpauth://totp/Sightline:ann?secret=JBSWY3DPEHPK3PXP&issuer=Sightline"),
            "JBSW Y3DP EHPK 3PXP"
        );
        assert_eq!(manual_key("otpauth://totp/x"), "");
    }
}
