//! The user's client certificate and the server's CA, as imported from the
//! package the server handed out: a `.p12`/`.pfx` with its password, or the
//! Linux PEM trio (`client.crt`, `client.key`, `ca.crt`).

use crate::error::ClientError;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use sightline_proto::Secret;
use std::fmt;

#[derive(Clone)]
pub struct Identity {
    cert_pem: String,
    key_pem: Secret,
    ca_pem: String,
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("ca_fingerprint", &self.ca_fingerprint())
            .finish_non_exhaustive()
    }
}

impl Identity {
    /// From the three PEM texts; each is checked.
    pub fn from_pem(cert_pem: &str, key_pem: &str, ca_pem: &str) -> Result<Self, ClientError> {
        CertificateDer::from_pem_slice(cert_pem.as_bytes())
            .map_err(|_| ClientError::invalid("certificate", "not a PEM certificate"))?;
        PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
            .map_err(|_| ClientError::invalid("private key", "not a PEM private key"))?;
        CertificateDer::from_pem_slice(ca_pem.as_bytes())
            .map_err(|_| ClientError::invalid("CA certificate", "not a PEM certificate"))?;
        Ok(Self {
            cert_pem: cert_pem.to_owned(),
            key_pem: Secret::new(key_pem),
            ca_pem: ca_pem.to_owned(),
        })
    }

    /// From the Linux package's files.
    pub fn from_pem_files(
        cert: &std::path::Path,
        key: &std::path::Path,
        ca: &std::path::Path,
    ) -> Result<Self, ClientError> {
        let read = |path: &std::path::Path| {
            std::fs::read_to_string(path)
                .map_err(|e| ClientError::invalid("file", format!("{}: {e}", path.display())))
        };
        Self::from_pem(&read(cert)?, &read(key)?, &read(ca)?)
    }

    /// From a PKCS#12 file: the key, its certificate, and the CA that ends
    /// the chain inside.
    pub fn from_pkcs12(bytes: &[u8], password: &str) -> Result<Self, ClientError> {
        let store =
            p12_keystore::KeyStore::from_pkcs12(bytes, password, p12_keystore::Pkcs12ImportPolicy::Relaxed)
                .map_err(|_| {
                ClientError::invalid("certificate package", "wrong password, or not a PKCS#12 file")
            })?;
        let (_, chain) = store
            .private_key_chain()
            .ok_or_else(|| ClientError::invalid("certificate package", "it holds no private key"))?;
        let leaf = chain
            .certs()
            .first()
            .ok_or_else(|| ClientError::invalid("certificate package", "it holds no certificate"))?;
        let ca = chain
            .certs()
            .last()
            .filter(|_| chain.certs().len() > 1)
            .ok_or_else(|| ClientError::invalid("certificate package", "it holds no CA certificate"))?;
        Self::from_pem(
            &sightline_certs::pem("CERTIFICATE", leaf.as_der()),
            &sightline_certs::pem("PRIVATE KEY", chain.key().as_der()),
            &sightline_certs::pem("CERTIFICATE", ca.as_der()),
        )
    }

    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    pub fn key_pem(&self) -> &Secret {
        &self.key_pem
    }

    /// The Sightline CA first, then any anchor of an operator's own server
    /// chain.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// Trusts `anchor` (PEM) for the server too: a server that presents a
    /// chain of its operator's own, whose anchor came in the package.
    pub fn with_server_anchor(mut self, anchor: Option<&str>) -> Result<Self, ClientError> {
        if let Some(anchor) = anchor.map(str::trim).filter(|a| !a.is_empty()) {
            CertificateDer::from_pem_slice(anchor.as_bytes())
                .map_err(|_| ClientError::invalid("server CA certificate", "not a PEM certificate"))?;
            self.ca_pem = format!("{}\n{anchor}\n", self.ca_pem.trim_end());
        }
        Ok(self)
    }

    /// The roots the server's certificate may chain to: every anchor in
    /// `ca.crt` (the Sightline CA, and an operator chain's anchor from the
    /// package), plus the system's trust store when that anchor is an
    /// intermediate — a public CA's, which changes its intermediates, so
    /// the root behind it must count too. Otherwise the anchors stay the
    /// only roots (pinned).
    pub fn server_roots(&self) -> Result<Vec<CertificateDer<'static>>, ClientError> {
        let mut roots = Vec::new();
        let mut anchored_elsewhere = false;
        for (index, anchor) in CertificateDer::pem_slice_iter(self.ca_pem.as_bytes()).enumerate() {
            let anchor = anchor.map_err(|_| ClientError::invalid("CA certificate", "not PEM"))?;
            if index > 0 && !sightline_certs::is_self_issued(&anchor).unwrap_or(true) {
                anchored_elsewhere = true;
            }
            roots.push(anchor);
        }
        if anchored_elsewhere {
            let system = rustls_native_certs::load_native_certs();
            for error in &system.errors {
                tracing::warn!(%error, "a part of the system's trust store could not be read");
            }
            roots.extend(system.certs);
        }
        Ok(roots)
    }

    /// A rustls configuration with this identity and the server's roots.
    /// `server_roots` is what [`Self::server_roots`] returned (read once
    /// per client: the system's store is not small).
    pub fn rustls_config(
        &self,
        server_roots: Vec<CertificateDer<'static>>,
    ) -> Result<std::sync::Arc<rustls::ClientConfig>, ClientError> {
        let invalid = |e: rustls::Error| ClientError::invalid("certificate", e.to_string());
        let mut roots = rustls::RootCertStore::empty();
        // The system's store may hold a certificate rustls cannot use as a
        // root; that one is skipped, as other programs skip it.
        roots.add_parsable_certificates(server_roots);
        if roots.is_empty() {
            return Err(ClientError::invalid("CA certificate", "no usable CA certificate"));
        }
        let cert = CertificateDer::from_pem_slice(self.cert_pem.as_bytes())
            .map_err(|_| ClientError::invalid("certificate", "not PEM"))?;
        let key = PrivateKeyDer::from_pem_slice(self.key_pem.expose().as_bytes())
            .map_err(|_| ClientError::invalid("private key", "not PEM"))?;
        let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(invalid)?
        .with_root_certificates(roots)
        .with_client_auth_cert(vec![cert], key)
        .map_err(invalid)?;
        Ok(std::sync::Arc::new(config))
    }

    /// When the certificate starts and stops being valid, in Unix seconds.
    pub fn validity(&self) -> Result<(i64, i64), ClientError> {
        let der = CertificateDer::from_pem_slice(self.cert_pem.as_bytes())
            .map_err(|_| ClientError::invalid("certificate", "not PEM"))?;
        let info =
            sightline_certs::inspect(&der).map_err(|e| ClientError::invalid("certificate", e.to_string()))?;
        Ok((info.not_before.unix_timestamp(), info.not_after.unix_timestamp()))
    }

    /// The e-mail address the certificate was issued to.
    pub fn email(&self) -> Option<String> {
        let der = CertificateDer::from_pem_slice(self.cert_pem.as_bytes()).ok()?;
        sightline_certs::inspect(&der).ok().and_then(|info| info.email)
    }

    /// The serial number, as the server and its admins name the certificate.
    pub fn serial(&self) -> Option<String> {
        let der = CertificateDer::from_pem_slice(self.cert_pem.as_bytes()).ok()?;
        sightline_certs::inspect(&der).ok().map(|info| info.serial_hex)
    }

    /// SHA-256 of the CA certificate, as `AB:CD:...`, to show before trusting it.
    pub fn ca_fingerprint(&self) -> String {
        ca_fingerprint(&self.ca_pem).unwrap_or_default()
    }
}

/// SHA-256 fingerprint of a PEM certificate, as `AB:CD:...`.
pub fn ca_fingerprint(ca_pem: &str) -> Option<String> {
    let der = CertificateDer::from_pem_slice(ca_pem.as_bytes()).ok()?;
    Some(sightline_certs::colon_hex(&sightline_certs::sha256(&der)))
}
