//! Logging a user in the way the desktop app does: password, TOTP
//! enrolment from the otpauth URI, tokens.

use crate::connection::Connection;
use anyhow::{bail, Context, Result};
use http::StatusCode;
use sightline_server::auth::totp;

/// Tokens and second-factor material of a completed login.
#[derive(Debug, Clone)]
pub struct LoggedIn {
    pub access_token: String,
    pub refresh_token: String,
    pub totp_secret: Vec<u8>,
    pub recovery_codes: Vec<String>,
}

/// The current TOTP code for a secret, as an authenticator app shows it.
pub fn totp_now(secret: &[u8]) -> String {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    totp::code_at(secret, now)
}

/// First login of a user: password, TOTP enrolment with a code computed from
/// the otpauth URI at the current time, tokens.
pub async fn first_login(connection: &mut Connection, username: &str, password: &str) -> Result<LoggedIn> {
    let login = connection
        .post_json(
            "/native/login",
            &serde_json::json!({"username": username, "password": password}),
            None,
        )
        .await?;
    if login.status != StatusCode::OK {
        bail!(
            "login answered {}: {}",
            login.status,
            String::from_utf8_lossy(&login.body)
        );
    }
    let login = login.json();
    let uri = login["enrollment"]["otpauth_uri"]
        .as_str()
        .context("no enrolment on first login")?;
    let secret = totp::secret_from_uri(uri)?;
    let verified = connection
        .post_json(
            "/native/verify-2fa",
            &serde_json::json!({"challenge": login["challenge"], "code": totp_now(&secret)}),
            None,
        )
        .await?;
    if verified.status != StatusCode::OK {
        bail!(
            "verify-2fa answered {}: {}",
            verified.status,
            String::from_utf8_lossy(&verified.body)
        );
    }
    let tokens = verified.json();
    Ok(LoggedIn {
        access_token: tokens["access_token"]
            .as_str()
            .context("no access token")?
            .to_owned(),
        refresh_token: tokens["refresh_token"]
            .as_str()
            .context("no refresh token")?
            .to_owned(),
        totp_secret: secret,
        recovery_codes: tokens["recovery_codes"]
            .as_array()
            .context("no recovery codes")?
            .iter()
            .filter_map(|c| c.as_str().map(str::to_owned))
            .collect(),
    })
}
