//! Setting the app up from a certificate package, as the onboarding screen
//! does and as administrators do without the UI:
//! `sightline --server URL --import PACKAGE [--password-stdin]`.
//!
//! A package is what the server's download page handed out: the zip itself,
//! the `.p12`/`.pfx` inside it (with its password), or `client.crt` with
//! `client.key` and `ca.crt` beside it.

use crate::error::ClientError;
use crate::identity::Identity;
use crate::settings::Settings;
use crate::store::{SecretBackend, Store};
use std::io::Read;
use std::path::Path;

/// Reads the identity out of a package.
pub fn read_package(path: &Path, password: Option<&str>) -> Result<Identity, ClientError> {
    read_package_with_ca(path, password, None)
}

/// Reads the identity out of a package; `trusted_ca` stands in for a CA the
/// package lacks (one the user accepted by its fingerprint). A CA inside
/// the package always wins: it came from the administrator.
pub fn read_package_with_ca(
    path: &Path,
    password: Option<&str>,
    trusted_ca: Option<&str>,
) -> Result<Identity, ClientError> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let read = |p: &Path| {
        std::fs::read(p).map_err(|e| ClientError::invalid("package", format!("{}: {e}", p.display())))
    };
    if name.ends_with(".zip") {
        return from_zip(&read(path)?, password);
    }
    if name.ends_with(".p12") || name.ends_with(".pfx") {
        let password = password
            .ok_or_else(|| ClientError::invalid("package", "a .p12/.pfx needs its package password"))?;
        return Identity::from_pkcs12(&read(path)?, password);
    }
    let folder = path.parent().unwrap_or(Path::new("."));
    let text = |p: &Path| {
        std::fs::read_to_string(p).map_err(|e| ClientError::invalid("file", format!("{}: {e}", p.display())))
    };
    let ca_path = folder.join("ca.crt");
    let ca = match trusted_ca {
        Some(ca) if !ca_path.exists() => ca.to_owned(),
        _ => text(&ca_path)?,
    };
    Identity::from_pem(&text(path)?, &text(&folder.join("client.key"))?, &ca)
}

fn from_zip(bytes: &[u8], password: Option<&str>) -> Result<Identity, ClientError> {
    let invalid = |detail: String| ClientError::invalid("package", detail);
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes))
        .map_err(|e| invalid(format!("not a zip file: {e}")))?;
    let mut files = std::collections::HashMap::new();
    for index in 0..archive.len() {
        let mut entry = archive.by_index(index).map_err(|e| invalid(e.to_string()))?;
        // Packages are small; refuse anything that is not.
        if entry.size() > 1024 * 1024 {
            return Err(invalid("an entry is unreasonably large".into()));
        }
        let name = entry
            .name()
            .map_err(|e| invalid(e.to_string()))?
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_owned();
        // Only what an identity is made of is kept.
        let wanted = matches!(
            name.as_str(),
            "client.crt" | "client.key" | "ca.crt" | "server-ca.crt"
        ) || name.ends_with(".p12")
            || name.ends_with(".pfx");
        if !wanted {
            continue;
        }
        let mut contents = Vec::new();
        entry
            .by_ref()
            .take(1024 * 1024)
            .read_to_end(&mut contents)
            .map_err(|e| invalid(e.to_string()))?;
        files.insert(name, contents);
    }
    let text = |name: &str| files.get(name).and_then(|b| String::from_utf8(b.clone()).ok());
    // A server that presents a chain of its operator's own names its
    // anchor beside the Sightline CA.
    let anchor = text("server-ca.crt");
    if let (Some(cert), Some(key), Some(ca)) = (text("client.crt"), text("client.key"), text("ca.crt")) {
        return Identity::from_pem(&cert, &key, &ca)?.with_server_anchor(anchor.as_deref());
    }
    let p12 = files
        .iter()
        .find(|(name, _)| name.ends_with(".p12") || name.ends_with(".pfx"))
        .map(|(_, bytes)| bytes)
        .ok_or_else(|| invalid("it holds neither PEM files nor a .p12/.pfx".into()))?;
    let password = password.ok_or_else(|| invalid("this package needs its package password".into()))?;
    Identity::from_pkcs12(p12, password)?.with_server_anchor(anchor.as_deref())
}

/// What a completed set-up tells the user.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SetupOutcome {
    pub server_url: String,
    pub ca_fingerprint: String,
    pub secrets: SecretBackend,
}

/// Stores the server address, the certificate and the CA exactly as the
/// onboarding screen does; the next start shows the login.
pub fn managed_setup(
    store: &Store,
    settings_path: &Path,
    server_url: &str,
    package: &Path,
    password: Option<&str>,
) -> Result<SetupOutcome, ClientError> {
    let server_url = Settings::validate_server_url(server_url)?;
    let identity = read_package(package, password)?;
    store.save_identity(&identity)?;
    let mut settings = Settings::load(settings_path)?;
    settings.server_url = Some(server_url.clone());
    settings.save(settings_path)?;
    Ok(SetupOutcome {
        server_url,
        ca_fingerprint: identity.ca_fingerprint(),
        secrets: store.backend().clone(),
    })
}
