//! The server's CA for onboarding, fetched before anything is trusted.

use super::transport::{classify, REQUEST_TIMEOUT};
use crate::error::ClientError;
use std::time::Duration;

/// Fetches `/public/ca.pem` without checking the server's certificate. Only
/// for onboarding without a CA in the package: what comes back is trusted
/// only after the user compares its fingerprint with the one their
/// administrator published, and nothing secret is sent on this connection.
pub async fn fetch_ca_untrusted(server_url: &str) -> Result<String, ClientError> {
    const MAX_CA_BYTES: usize = 64 * 1024;
    let http = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .danger_accept_invalid_certs(true)
        .https_only(true)
        .connect_timeout(Duration::from_secs(10))
        .timeout(REQUEST_TIMEOUT)
        .build()
        .map_err(|e| ClientError::invalid("TLS setup", e.to_string()))?;
    let mut response = http
        .get(format!("{server_url}/public/ca.pem"))
        .send()
        .await
        .map_err(classify)?;
    if !response.status().is_success() {
        return Err(ClientError::Protocol(format!(
            "the server answered {} for its CA",
            response.status().as_u16()
        )));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(classify)? {
        if body.len() + chunk.len() > MAX_CA_BYTES {
            return Err(ClientError::Protocol("the CA file is unreasonably large".into()));
        }
        body.extend_from_slice(&chunk);
    }
    String::from_utf8(body).map_err(|_| ClientError::Protocol("the CA file is not text".into()))
}
