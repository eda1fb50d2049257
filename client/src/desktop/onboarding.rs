//! Onboarding: the server's CA shown by its fingerprint, the certificate
//! package imported (checked against the server before anything is
//! kept), and the way back to the start.

use super::{lock, Desktop, Overview, REFRESH_SECRET};
use crate::api::ApiClient;
use crate::error::ClientError;
use crate::identity;
use crate::settings::Settings;
use serde::Serialize;
use std::path::Path;

/// A CA fetched from a server for the user to accept by its fingerprint.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct CaPreview {
    pub pem: String,
    pub fingerprint: String,
}

/// What onboarding sends: where the server is and the package to import.
#[derive(Clone, serde::Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct ImportRequest {
    pub server_url: String,
    /// The zip, the `.p12`/`.pfx`, or `client.crt` of the PEM trio.
    pub path: String,
    pub password: Option<String>,
    /// A CA the user accepted by fingerprint, for packages without one.
    pub trusted_ca_pem: Option<String>,
}

impl std::fmt::Debug for ImportRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImportRequest")
            .field("server_url", &self.server_url)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Desktop {
    /// Fetches the server's CA without trusting anything yet, for the user
    /// to compare its fingerprint with the one their administrator gave.
    pub async fn fetch_server_ca(&self, server_url: &str) -> Result<CaPreview, ClientError> {
        let server_url = Settings::validate_server_url(server_url)?;
        let pem = crate::api::fetch_ca_untrusted(&server_url).await?;
        let fingerprint = identity::ca_fingerprint(&pem).ok_or_else(|| {
            ClientError::Protocol("the server sent no certificate at /public/ca.pem".into())
        })?;
        Ok(CaPreview { pem, fingerprint })
    }

    /// Imports the certificate package and remembers the server, as the
    /// onboarding screen does; then checks the connection.
    pub async fn import_package(&self, request: ImportRequest) -> Result<Overview, ClientError> {
        let server_url = Settings::validate_server_url(&request.server_url)?;
        let password = request.password.as_deref().filter(|p| !p.is_empty());
        let identity = crate::setup::read_package_with_ca(
            Path::new(request.path.trim()),
            password,
            request.trusted_ca_pem.as_deref(),
        )?;
        // Check before keeping anything: a wrong server or a rejected
        // certificate should not replace a working set-up.
        let api = ApiClient::new(&server_url, &identity)?;
        api.check().await?;
        self.store.save_identity(&identity)?;
        self.update_settings(|s| s.server_url = Some(server_url.clone()))?;
        self.connect(&server_url, &identity)?;
        Ok(self.overview().await)
    }

    /// Forgets the server, certificate and session (back to onboarding).
    pub async fn reset(&self) -> Result<Overview, ClientError> {
        if let Some(api) = self.api() {
            // The server forgets the session too, if it can be reached.
            let _ = api.logout().await;
        }
        *self.api.write().unwrap_or_else(|p| p.into_inner()) = None;
        *lock(&self.identity_fingerprint) = None;
        self.store.forget_identity()?;
        self.store.delete_secret(REFRESH_SECRET)?;
        self.update_settings(|s| {
            s.server_url = None;
            s.username = None;
        })?;
        Ok(self.overview().await)
    }
}
