//! Certificate renewal: a new P-256 key is made here, only its signing
//! request goes to the server (over the current certificate, with the
//! session's token), and the answer becomes a new [`Identity`]. The
//! session then moves to a client that presents the new certificate.

use super::transport::{json, Transport, REQUEST_TIMEOUT};
use super::ApiClient;
use crate::error::ClientError;
use crate::identity::Identity;
use sightline_certs::device::{key_matches_certificate, DeviceKey};
use sightline_proto::{RenewCertificateRequest, RenewCertificateResponse};

impl ApiClient {
    /// Asks for a certificate for a new key; `current` is the identity
    /// this client connects with.
    pub async fn renew_certificate(&self, current: &Identity) -> Result<Identity, ClientError> {
        // Key generation reads the OS's random source; quick, but not async.
        let device = tokio::task::spawn_blocking(DeviceKey::generate)
            .await
            .map_err(|e| ClientError::Io(e.to_string()))?
            .map_err(|e| ClientError::Io(format!("a new key could not be made: {e}")))?;
        let request = RenewCertificateRequest {
            csr: device.request_pem.clone(),
        };
        let answer: RenewCertificateResponse = json(
            self.authed(|| {
                self.transport
                    .http
                    .post(self.transport.url("/native/renew-certificate"))
                    .timeout(REQUEST_TIMEOUT)
                    .json(&request)
            })
            .await?,
        )
        .await?;
        if !key_matches_certificate(&answer.certificate, device.key_pem.expose()) {
            return Err(ClientError::Protocol(
                "the renewed certificate is not for the key sent".into(),
            ));
        }
        // The CA the server names must be the one this device trusts.
        if crate::identity::ca_fingerprint(&answer.ca) != Some(current.ca_fingerprint()) {
            return Err(ClientError::Protocol(
                "the renewed certificate names another CA".into(),
            ));
        }
        // The anchors this device trusts stay: the Sightline CA (just
        // checked) and any of the server's own chain.
        Identity::from_pem(&answer.certificate, device.key_pem.expose(), current.ca_pem())
    }

    /// A client for the same server and session that presents `identity`.
    /// Its first request refreshes the session over the new certificate,
    /// which moves the session there and retires the old certificate.
    pub async fn moved_to(&self, identity: &Identity) -> Result<ApiClient, ClientError> {
        Ok(ApiClient {
            transport: Transport::new(&self.transport.base, identity)?,
            tokens: self.tokens.hand_over().await,
        })
    }
}
