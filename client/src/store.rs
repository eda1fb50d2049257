//! Where the app keeps the user's identity and session: the certificate and
//! the CA as files in the config directory; the private key and the refresh
//! token in the OS keychain. Only where no keychain service is running (a
//! bare Linux session) do secrets fall back to files readable by the user
//! alone (0600) — and [`Store::backend`] says so, for the UI to show.

use crate::error::ClientError;
use crate::identity::Identity;
use sightline_certs::device::key_matches_certificate;
use sightline_proto::Secret;
use std::path::{Path, PathBuf};

const SERVICE: &str = "sightline";
const KEY_SECRET: &str = "client-key";
/// A renewal's key while its certificate is being stored.
const NEXT_KEY_SECRET: &str = "client-key-next";

/// Where secrets go.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SecretBackend {
    /// The OS keychain (Secret Service, macOS Keychain, Windows Credential Manager).
    Keychain,
    /// Files only this user can read, because no keychain service answered.
    File { folder: PathBuf, reason: String },
}

#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
    backend: SecretBackend,
}

impl Store {
    /// The store in the OS's config directory (`~/.config/sightline`).
    pub fn open_default() -> Result<Self, ClientError> {
        let dir = dirs::config_dir()
            .map(|d| d.join("sightline"))
            .ok_or_else(|| ClientError::Io("no config directory for this user".into()))?;
        Ok(Self::open(&dir, true))
    }

    /// A store in `dir`. With `use_keychain`, the keychain is probed once
    /// and used if it answers.
    pub fn open(dir: &Path, use_keychain: bool) -> Self {
        let backend = if use_keychain {
            match probe_keychain() {
                Ok(()) => SecretBackend::Keychain,
                Err(reason) => SecretBackend::File {
                    folder: dir.join("secrets"),
                    reason,
                },
            }
        } else {
            SecretBackend::File {
                folder: dir.join("secrets"),
                reason: "the keychain is turned off".into(),
            }
        };
        if let SecretBackend::File { reason, .. } = &backend {
            tracing::warn!(%reason, "no keychain: secrets are kept in files readable only by this user");
        }
        Self {
            dir: dir.to_path_buf(),
            backend,
        }
    }

    pub fn backend(&self) -> &SecretBackend {
        &self.backend
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn set_secret(&self, name: &str, value: &Secret) -> Result<(), ClientError> {
        match &self.backend {
            SecretBackend::Keychain => keyring::Entry::new(SERVICE, name)
                .and_then(|entry| entry.set_password(value.expose()))
                .map_err(|e| ClientError::Io(format!("keychain: {e}"))),
            SecretBackend::File { folder, .. } => {
                write_private(&folder.join(name), value.expose().as_bytes())
            }
        }
    }

    pub fn secret(&self, name: &str) -> Result<Option<Secret>, ClientError> {
        match &self.backend {
            SecretBackend::Keychain => {
                match keyring::Entry::new(SERVICE, name).and_then(|entry| entry.get_password()) {
                    Ok(value) => Ok(Some(Secret::new(value))),
                    Err(keyring::Error::NoEntry) => Ok(None),
                    Err(e) => Err(ClientError::Io(format!("keychain: {e}"))),
                }
            }
            SecretBackend::File { folder, .. } => match std::fs::read_to_string(folder.join(name)) {
                Ok(value) => Ok(Some(Secret::new(value))),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(ClientError::Io(e.to_string())),
            },
        }
    }

    pub fn delete_secret(&self, name: &str) -> Result<(), ClientError> {
        match &self.backend {
            SecretBackend::Keychain => {
                match keyring::Entry::new(SERVICE, name).and_then(|entry| entry.delete_credential()) {
                    Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
                    Err(e) => Err(ClientError::Io(format!("keychain: {e}"))),
                }
            }
            SecretBackend::File { folder, .. } => match std::fs::remove_file(folder.join(name)) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(ClientError::Io(e.to_string())),
            },
        }
    }

    /// Keeps an imported identity: certificate and CA as files, key as a secret.
    /// A renewal replaces the key where the old one was; the key is kept
    /// under a second name until the certificate is in place, so stopping
    /// half-way leaves a certificate whose key can be found.
    pub fn save_identity(&self, identity: &Identity) -> Result<(), ClientError> {
        self.set_secret(NEXT_KEY_SECRET, identity.key_pem())?;
        write_public(&self.dir.join("ca.crt"), identity.ca_pem().as_bytes())?;
        write_public(&self.dir.join("client.crt"), identity.cert_pem().as_bytes())?;
        self.set_secret(KEY_SECRET, identity.key_pem())?;
        self.delete_secret(NEXT_KEY_SECRET)
    }

    /// The identity saved earlier, if any.
    pub fn load_identity(&self) -> Result<Option<Identity>, ClientError> {
        let read = |name: &str| match std::fs::read_to_string(self.dir.join(name)) {
            Ok(text) => Ok(Some(text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            // Unreadable is not absent: say so rather than ask for a new package.
            Err(e) => Err(ClientError::Io(format!("{}: {e}", self.dir.join(name).display()))),
        };
        let (Some(cert), Some(ca)) = (read("client.crt")?, read("ca.crt")?) else {
            return Ok(None);
        };
        let Some(mut key) = self.secret(KEY_SECRET)? else {
            return Ok(None);
        };
        if !key_matches_certificate(&cert, key.expose()) {
            if let Some(next) = self.secret(NEXT_KEY_SECRET)? {
                if key_matches_certificate(&cert, next.expose()) {
                    self.set_secret(KEY_SECRET, &next)?;
                    self.delete_secret(NEXT_KEY_SECRET)?;
                    key = next;
                }
            }
        }
        Identity::from_pem(&cert, key.expose(), &ca).map(Some)
    }

    /// Forgets the identity (the user imports a new package).
    pub fn forget_identity(&self) -> Result<(), ClientError> {
        for name in ["client.crt", "ca.crt"] {
            match std::fs::remove_file(self.dir.join(name)) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(ClientError::Io(e.to_string())),
            }
        }
        self.delete_secret(NEXT_KEY_SECRET)?;
        self.delete_secret(KEY_SECRET)
    }
}

/// Writes and reads back a throwaway entry: some Linux sessions have the
/// library but no keychain service behind it.
fn probe_keychain() -> Result<(), String> {
    let entry = keyring::Entry::new(SERVICE, "probe").map_err(|e| e.to_string())?;
    entry.set_password("probe").map_err(|e| e.to_string())?;
    let read = entry.get_password().map_err(|e| e.to_string())?;
    let _ = entry.delete_credential();
    if read == "probe" {
        Ok(())
    } else {
        Err("the keychain returned something else".into())
    }
}

fn write_with_mode(path: &Path, contents: &[u8], mode: u32) -> Result<(), ClientError> {
    use std::io::Write;
    let io = |e: std::io::Error| ClientError::Io(format!("{}: {e}", path.display()));
    if let Some(parent) = path.parent() {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        builder.create(parent).map_err(io)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    // Written beside and renamed over: a reader (or a stop half-way) sees
    // the old file or the new one, never part of one.
    let mut staging = path.as_os_str().to_owned();
    staging.push(".new");
    let staging = PathBuf::from(staging);
    let mut file = options.open(&staging).map_err(io)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(mode))
            .map_err(io)?;
    }
    file.write_all(contents).map_err(io)?;
    file.sync_all().map_err(io)?;
    std::fs::rename(&staging, path).map_err(io)
}

pub(crate) fn write_private(path: &Path, contents: &[u8]) -> Result<(), ClientError> {
    write_with_mode(path, contents, 0o600)
}

/// Removes `path`; one that is not there is not an error.
pub(crate) fn remove_if_present(path: &Path) -> Result<(), ClientError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(ClientError::Io(e.to_string())),
    }
}

fn write_public(path: &Path, contents: &[u8]) -> Result<(), ClientError> {
    write_with_mode(path, contents, 0o644)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Wherever this runs, opening with the keychain ends in a working
    /// store: the keychain if a service answers, otherwise files.
    #[test]
    fn opening_with_the_keychain_never_fails() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), true);
        let name = format!("test-{}", std::process::id());
        store.set_secret(&name, &Secret::new("x")).unwrap();
        assert_eq!(store.secret(&name).unwrap().unwrap().expose(), "x");
        store.delete_secret(&name).unwrap();
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn the_keychain_probe_works_inside_the_runtime() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_path_buf();
        let store = tokio::task::spawn_blocking(move || Store::open(&path, true))
            .await
            .unwrap();
        assert!(matches!(
            store.backend(),
            SecretBackend::Keychain | SecretBackend::File { .. }
        ));
    }

    #[test]
    fn file_fallback_keeps_secrets_private_and_reports_itself() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), false);
        assert!(matches!(store.backend(), SecretBackend::File { .. }));
        assert_eq!(store.secret("refresh").unwrap(), None);
        store.set_secret("refresh", &Secret::new("r-123")).unwrap();
        assert_eq!(store.secret("refresh").unwrap().unwrap().expose(), "r-123");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("secrets/refresh"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
        store.delete_secret("refresh").unwrap();
        assert_eq!(store.secret("refresh").unwrap(), None);
    }
}
