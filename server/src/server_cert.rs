//! The server's own TLS certificate, renewed without a restart. The
//! listener asks [`ServerCertificate`] for the certificate at each
//! handshake, so a renewed one is served to new connections while open ones
//! go on with theirs. The files in the data dir are the truth: every
//! instance re-reads them when they change (another instance, or `cert
//! rotate-server`, renewed them), and renews them itself at two thirds of
//! the certificate's life (`[certs] server_validity_days`).
//!
//! An operator may give the listener a chain of their own instead
//! (`[tls] certificate_file` and `key_file`, from a company CA or an ACME
//! client): it is taken again whenever the files change, and never renewed
//! here — whatever wrote it renews it.

use crate::certificates::random_serial;
use crate::config::TlsConfig;
use crate::datadir::DataDir;
use crate::error::{Error, Result};
use crate::fsutil;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use sightline_certs::{CertificateAuthority, CertificateInfo, Validity};
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

/// The certificate being served and the files it came from.
pub struct ServerCertificate {
    cert_path: PathBuf,
    key_path: PathBuf,
    /// The operator's own chain: reloaded, never renewed here.
    operators: bool,
    current: RwLock<Loaded>,
}

struct Loaded {
    key: Arc<CertifiedKey>,
    /// The chain file as read, to tell a change.
    chain_pem: String,
    info: CertificateInfo,
}

impl std::fmt::Debug for ServerCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerCertificate")
            .field("cert_path", &self.cert_path)
            .finish_non_exhaustive()
    }
}

impl ResolvesServerCert for ServerCertificate {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.read().key.clone())
    }
}

impl ServerCertificate {
    /// The operator's chain when `[tls]` names one, else the data dir's
    /// `tls/server.crt` and `.key`.
    pub fn load(dir: &DataDir, tls: &TlsConfig) -> Result<Arc<Self>> {
        let (cert_path, key_path, operators) = match (&tls.certificate_file, &tls.key_file) {
            (Some(cert), Some(key)) => (cert.clone(), key.clone(), true),
            _ => (dir.tls_cert(), dir.tls_key(), false),
        };
        let loaded = read_pair(&cert_path, &key_path)?.ok_or_else(|| {
            Error::Config(format!(
                "{} is not the certificate of {}",
                cert_path.display(),
                key_path.display()
            ))
        })?;
        if operators {
            tracing::info!(chain = %cert_path.display(), "serving the operator's certificate chain");
        }
        Ok(Arc::new(Self {
            cert_path,
            key_path,
            operators,
            current: RwLock::new(loaded),
        }))
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Loaded> {
        self.current
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The certificate being served.
    pub fn info(&self) -> CertificateInfo {
        self.read().info.clone()
    }

    /// Takes the files again if they changed and hold a matching pair;
    /// `true` when a new certificate is served from now on. A pair caught
    /// half-written (a new key beside the old certificate) is left for the
    /// next look.
    pub fn reload_if_changed(&self) -> Result<bool> {
        let chain_pem =
            std::fs::read_to_string(&self.cert_path).map_err(|e| Error::io("reading", &self.cert_path, e))?;
        if chain_pem == self.read().chain_pem {
            return Ok(false);
        }
        let Some(loaded) = read_pair(&self.cert_path, &self.key_path)? else {
            return Ok(false);
        };
        tracing::info!(
            serial = %loaded.info.serial_hex,
            not_after = loaded.info.not_after.unix_timestamp(),
            "serving a renewed server certificate"
        );
        *self
            .current
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = loaded;
        Ok(true)
    }

    /// Whether two thirds of the served certificate's life have passed;
    /// never for an operator's chain, which its own tooling renews.
    pub fn renewal_due(&self, now: i64) -> bool {
        if self.operators {
            return false;
        }
        let info = self.info();
        let (from, to) = (info.not_before.unix_timestamp(), info.not_after.unix_timestamp());
        now >= from + (to - from) * 2 / 3
    }
}

/// The anchor the desktop must trust for an operator's chain: the last
/// certificate of the chain file (so the file should end with the CA's
/// certificate); `None` when the server presents the Sightline CA's.
pub fn operator_anchor_pem(tls: &TlsConfig) -> Result<Option<String>> {
    let Some(path) = &tls.certificate_file else {
        return Ok(None);
    };
    let chain = std::fs::read(path).map_err(|e| Error::io("reading", path, e))?;
    let last = CertificateDer::pem_slice_iter(&chain)
        .filter_map(|der| der.ok())
        .last()
        .ok_or_else(|| Error::Config(format!("{} holds no certificate", path.display())))?;
    Ok(Some(sightline_certs::pem("CERTIFICATE", &last)))
}

/// The pair in the two files, or `None` while the key is not the
/// certificate's (caught between the writes of a renewal).
fn read_pair(cert_path: &std::path::Path, key_path: &std::path::Path) -> Result<Option<Loaded>> {
    let chain_pem = std::fs::read_to_string(cert_path).map_err(|e| Error::io("reading", cert_path, e))?;
    let key_pem = std::fs::read_to_string(key_path).map_err(|e| Error::io("reading", key_path, e))?;
    let invalid = |path: &std::path::Path| {
        let path = path.display().to_string();
        move |e: rustls_pki_types::pem::Error| Error::Config(format!("{path}: {e}"))
    };
    let chain = CertificateDer::pem_slice_iter(chain_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(invalid(cert_path))?;
    let leaf = chain
        .first()
        .ok_or_else(|| Error::Config(format!("{} holds no certificate", cert_path.display())))?;
    let info = sightline_certs::inspect(leaf)?;
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(invalid(key_path))?;
    let signing_key = rustls::crypto::ring::sign::any_supported_type(&key)?;
    let certified = CertifiedKey::new(chain, signing_key);
    if certified.keys_match().is_err() {
        return Ok(None);
    }
    Ok(Some(Loaded {
        key: Arc::new(certified),
        chain_pem,
        info,
    }))
}

/// Issues a new server certificate for the names of the current one, valid
/// for `validity_days`, and writes it to the data dir (the key first, so a
/// reader never takes a certificate without its key). Running instances
/// serve it from their next look at the files.
pub fn rotate(
    dir: &DataDir,
    ca: &CertificateAuthority,
    validity_days: u32,
    now: time::OffsetDateTime,
) -> Result<CertificateInfo> {
    let current = std::fs::read(dir.tls_cert()).map_err(|e| Error::io("reading", dir.tls_cert(), e))?;
    let leaf = CertificateDer::pem_slice_iter(&current)
        .next()
        .and_then(|der| der.ok())
        .ok_or_else(|| Error::Config(format!("{} holds no certificate", dir.tls_cert().display())))?;
    let names = sightline_certs::names::server_names(&leaf)?;
    let issued = ca.issue_server(&names, Validity::days_from(now, validity_days), random_serial())?;
    fsutil::write_private(&dir.tls_key(), issued.key_pem.expose().as_bytes())?;
    fsutil::write_public(
        &dir.tls_cert(),
        format!("{}{}", issued.cert_pem, ca.cert_pem()).as_bytes(),
    )?;
    tracing::info!(serial = %issued.info.serial_hex, ?names, "server certificate renewed");
    Ok(issued.info)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sightline_certs::Serial;

    fn now() -> time::OffsetDateTime {
        time::OffsetDateTime::now_utc()
    }

    /// A data dir with a CA and a server certificate valid for `days`.
    fn data_dir(days: u32) -> (tempfile::TempDir, DataDir, CertificateAuthority) {
        let temp = tempfile::tempdir().unwrap();
        let dir = DataDir::new(temp.path());
        std::fs::create_dir_all(temp.path().join("tls")).unwrap();
        let ca = CertificateAuthority::create(
            "t",
            Validity::days_from(now(), 3650),
            Serial::from_random([1; 16]),
        )
        .unwrap();
        let names = ["localhost".to_owned(), "sightline.example".to_owned()];
        let issued = ca
            .issue_server(
                &names,
                Validity::days_from(now(), days),
                Serial::from_random([2; 16]),
            )
            .unwrap();
        fsutil::write_private(&dir.tls_key(), issued.key_pem.expose().as_bytes()).unwrap();
        fsutil::write_public(
            &dir.tls_cert(),
            format!("{}{}", issued.cert_pem, ca.cert_pem()).as_bytes(),
        )
        .unwrap();
        (temp, dir, ca)
    }

    #[test]
    fn a_rotated_certificate_is_served_after_the_next_look() {
        let (_temp, dir, ca) = data_dir(90);
        let served = ServerCertificate::load(&dir, &TlsConfig::default()).unwrap();
        let before = served.info();
        assert!(!served.reload_if_changed().unwrap(), "nothing changed");
        let rotated = rotate(&dir, &ca, 30, now()).unwrap();
        assert_ne!(rotated.serial_hex, before.serial_hex);
        assert_eq!(served.info().serial_hex, before.serial_hex, "until the next look");
        assert!(served.reload_if_changed().unwrap());
        assert_eq!(served.info().serial_hex, rotated.serial_hex);
        let chain = std::fs::read(dir.tls_cert()).unwrap();
        let leaf = CertificateDer::pem_slice_iter(&chain).next().unwrap().unwrap();
        assert_eq!(
            sightline_certs::names::server_names(&leaf).unwrap(),
            ["localhost", "127.0.0.1", "::1", "sightline.example"]
        );
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.tls_key()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn a_half_written_pair_is_left_for_the_next_look() {
        let (_temp, dir, ca) = data_dir(90);
        let served = ServerCertificate::load(&dir, &TlsConfig::default()).unwrap();
        let before = served.info().serial_hex;
        // A new key beside the old certificate: the state between the two
        // writes of a rotation.
        let other = ca
            .issue_server(
                &["localhost".to_owned()],
                Validity::days_from(now(), 1),
                Serial::from_random([3; 16]),
            )
            .unwrap();
        fsutil::write_public(
            &dir.tls_cert(),
            format!("{}{}", other.cert_pem, ca.cert_pem()).as_bytes(),
        )
        .unwrap();
        assert!(!served.reload_if_changed().unwrap());
        assert_eq!(served.info().serial_hex, before);
    }

    #[test]
    fn renewal_is_due_at_two_thirds_of_the_life() {
        let (_temp, dir, _ca) = data_dir(90);
        let served = ServerCertificate::load(&dir, &TlsConfig::default()).unwrap();
        let start = now().unix_timestamp();
        assert!(!served.renewal_due(start));
        assert!(!served.renewal_due(start + 59 * 86_400));
        assert!(served.renewal_due(start + 61 * 86_400));
    }
}
