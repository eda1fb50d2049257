//! Revocation that bites at once. The set of revoked serials is held in
//! memory and refreshed from the database every second (the command line
//! and other instances revoke from other processes); on PostgreSQL each
//! revocation is also announced to every instance (`announce`), which
//! refreshes within milliseconds. It is consulted by the TLS verifier (new
//! handshakes fail), after each handshake (resumed sessions from before the
//! revocation are dropped), and by open connections, which close when their
//! certificate is revoked. Request extractors check the database as well.

use crate::certificates;
use crate::clock::Clock;
use crate::db::Db;
use crate::error::Result;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, SignatureScheme};
use rustls_pki_types::{CertificateDer, UnixTime};
use std::collections::HashSet;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::watch;

#[derive(Debug)]
pub struct Revocations {
    serials: RwLock<HashSet<String>>,
    epoch: watch::Sender<u64>,
}

impl Default for Revocations {
    fn default() -> Self {
        Self {
            serials: RwLock::new(HashSet::new()),
            epoch: watch::channel(0).0,
        }
    }
}

impl Revocations {
    pub fn is_revoked(&self, serial_hex: &str) -> bool {
        self.serials
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .contains(serial_hex)
    }

    /// Changes whenever the set changes.
    /// How many certificates are known revoked.
    pub fn count(&self) -> usize {
        self.serials
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .len()
    }

    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.epoch.subscribe()
    }

    /// Reloads the set; true if it changed.
    pub async fn refresh(&self, db: &Db, now: i64) -> Result<bool> {
        let fresh: HashSet<String> = certificates::revoked_serials(db, now)
            .await?
            .into_iter()
            .map(|(serial, _, _)| serial)
            .collect();
        let mut serials = self
            .serials
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if *serials == fresh {
            return Ok(false);
        }
        *serials = fresh;
        drop(serials);
        self.epoch.send_modify(|epoch| *epoch += 1);
        Ok(true)
    }

    pub fn spawn_poller(self: Arc<Self>, db: Db, clock: Clock) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                match self.refresh(&db, clock.now()).await {
                    Ok(true) => tracing::info!("revocation list changed"),
                    Ok(false) => {}
                    Err(error) => tracing::warn!(%error, "could not refresh the revocation list"),
                }
            }
        })
    }
}

/// The CA verifier, plus a refusal of revoked serials.
#[derive(Debug)]
pub struct RevocationCheckingVerifier {
    pub inner: Arc<dyn ClientCertVerifier>,
    pub revocations: Arc<Revocations>,
}

impl ClientCertVerifier for RevocationCheckingVerifier {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let verified = self.inner.verify_client_cert(end_entity, intermediates, now)?;
        let info = sightline_certs::inspect(end_entity)
            .map_err(|_| rustls::Error::InvalidCertificate(CertificateError::BadEncoding))?;
        if self.revocations.is_revoked(&info.serial_hex) {
            return Err(rustls::Error::InvalidCertificate(CertificateError::Revoked));
        }
        Ok(verified)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}
