//! Certificate packages: the zip a user downloads once, for their platform,
//! with an install guide.
//!
//! PKCS#12 files use the profile every supported Windows, macOS and NSS
//! imports and OpenSSL 3 reads without `-legacy`: PBE-SHA1-3DES for the key
//! and the certificate bags, and a SHA-1 MAC.

use crate::{colon_hex, sha256, CertError, PrivateKeyPem, Result};
use p12_keystore::{
    Certificate, EncryptionAlgorithm, KeyStore, KeyStoreEntry, MacAlgorithm, PrivateKey, PrivateKeyChain,
};
use std::fmt;
use std::io::Write;
use time::OffsetDateTime;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Platform {
    Windows,
    Macos,
    Linux,
}

impl Platform {
    pub const ALL: [Platform; 3] = [Platform::Windows, Platform::Macos, Platform::Linux];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Windows => "windows",
            Self::Macos => "macos",
            Self::Linux => "linux",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Windows => "Windows",
            Self::Macos => "macOS",
            Self::Linux => "Linux",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == text)
    }
}

/// The password that protects a package's PKCS#12 file. Shown once, never
/// stored or mailed; redacted in `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct PackagePassword(String);

impl PackagePassword {
    /// 120 random bits as 24 characters of an unambiguous base32 alphabet,
    /// grouped by four for reading.
    pub fn from_random(bytes: [u8; 15]) -> Self {
        const ALPHABET: &[u8; 32] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
        let mut bits: u128 = 0;
        for byte in bytes {
            bits = (bits << 8) | u128::from(byte);
        }
        let chars: Vec<char> = (0..24)
            .rev()
            .map(|i| char::from(ALPHABET[((bits >> (i * 5)) & 31) as usize]))
            .collect();
        Self(
            chars
                .chunks(4)
                .map(|c| c.iter().collect::<String>())
                .collect::<Vec<_>>()
                .join("-"),
        )
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PackagePassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PackagePassword(<redacted>)")
    }
}

/// What goes into a package.
#[derive(Debug)]
pub struct PackageInput<'a> {
    pub username: &'a str,
    pub email: &'a str,
    pub cert_pem: &'a str,
    pub cert_der: &'a [u8],
    pub key_pem: &'a PrivateKeyPem,
    pub ca_pem: &'a str,
    pub ca_der: &'a [u8],
    /// The anchor of the server's own TLS chain when it is not the
    /// Sightline CA's (an operator's chain): the desktop trusts it for the
    /// server, as `server-ca.crt`.
    pub server_anchor_pem: Option<&'a str>,
    pub server_url: &'a str,
    pub password: &'a PackagePassword,
    /// Timestamps of the zip entries.
    pub now: OffsetDateTime,
}

#[derive(Debug)]
pub struct Package {
    pub file_name: String,
    pub zip: Vec<u8>,
}

/// A PKCS#12 file holding the key, its certificate and the CA.
pub fn pkcs12(input: &PackageInput<'_>) -> Result<Vec<u8>> {
    let invalid = |e: p12_keystore::error::Error| CertError::Invalid {
        what: "PKCS#12 contents",
        reason: e.to_string(),
    };
    let key_der = rcgen::KeyPair::from_pem(input.key_pem.expose())?.serialize_der();
    let key = PrivateKey::from_der(&key_der).map_err(invalid)?;
    let leaf = Certificate::from_der(input.cert_der).map_err(invalid)?;
    let ca = Certificate::from_der(input.ca_der).map_err(invalid)?;
    let local_key_id = sha256(input.cert_der)[..20].to_vec();
    let mut store = KeyStore::new();
    store.add_entry(
        input.username,
        KeyStoreEntry::PrivateKeyChain(PrivateKeyChain::new(local_key_id, key, [leaf, ca])),
    );
    store
        .writer(input.password.expose())
        .encryption_algorithm(EncryptionAlgorithm::PbeWithShaAnd3KeyTripleDesCbc)
        .mac_algorithm(MacAlgorithm::HmacSha1)
        .encryption_iterations(2048)
        .mac_iterations(2048)
        .write()
        .map_err(invalid)
}

/// Builds the zip for `platform`.
pub fn build(platform: Platform, input: &PackageInput<'_>) -> Result<Package> {
    let folder = format!("sightline-{}", input.username);
    let mut files: Vec<(String, Vec<u8>, u32)> = Vec::new();
    let ca_fingerprint = colon_hex(&sha256(input.ca_der));
    match platform {
        Platform::Windows => {
            files.push((format!("{}.pfx", input.username), pkcs12(input)?, 0o600));
            files.push(("sightline-ca.crt".into(), input.ca_pem.as_bytes().to_vec(), 0o644));
        }
        Platform::Macos => {
            files.push((format!("{}.p12", input.username), pkcs12(input)?, 0o600));
            files.push(("sightline-ca.crt".into(), input.ca_pem.as_bytes().to_vec(), 0o644));
        }
        Platform::Linux => {
            files.push(("client.crt".into(), input.cert_pem.as_bytes().to_vec(), 0o644));
            files.push((
                "client.key".into(),
                input.key_pem.expose().as_bytes().to_vec(),
                0o600,
            ));
            files.push(("ca.crt".into(), input.ca_pem.as_bytes().to_vec(), 0o644));
            files.push((format!("{}.p12", input.username), pkcs12(input)?, 0o600));
        }
    }
    if let Some(anchor) = input.server_anchor_pem {
        files.push(("server-ca.crt".into(), anchor.as_bytes().to_vec(), 0o644));
    }
    files.push((
        "INSTALL.txt".into(),
        install_guide(platform, input, &ca_fingerprint).into_bytes(),
        0o644,
    ));

    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let modified = zip_time(input.now);
    for (name, contents, mode) in files {
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .unix_permissions(mode)
            .last_modified_time(modified);
        zip.start_file(format!("{folder}/{name}"), options)
            .map_err(zip_error)?;
        zip.write_all(&contents).map_err(|e| zip_error(e.into()))?;
    }
    let zip = zip.finish().map_err(zip_error)?.into_inner();
    Ok(Package {
        file_name: format!("sightline-{}-{}.zip", input.username, platform.as_str()),
        zip,
    })
}

fn zip_error(error: zip::result::ZipError) -> CertError {
    CertError::Invalid {
        what: "zip archive",
        reason: error.to_string(),
    }
}

fn zip_time(now: OffsetDateTime) -> zip::DateTime {
    let month: u8 = now.month().into();
    zip::DateTime::from_date_and_time(
        u16::try_from(now.year()).unwrap_or(1980),
        month,
        now.day(),
        now.hour(),
        now.minute(),
        now.second(),
    )
    .unwrap_or_default()
}

fn install_guide(platform: Platform, input: &PackageInput<'_>, ca_fingerprint: &str) -> String {
    let user = input.username;
    let header = format!(
        "Sightline client certificate for {user} <{email}>\n\
         Server: {url}\n\n\
         The package password was shown once on the download page. It is not\n\
         in this package and was not e-mailed. If you no longer have it, ask\n\
         your administrator for a new download link.\n\n\
         The Sightline certificate authority (CA) has this SHA-256 fingerprint;\n\
         check it before you trust the CA:\n  {ca_fingerprint}\n\n",
        email = input.email,
        url = input.server_url,
    );
    let body = match platform {
        Platform::Windows => format!(
            "Files\n\
             \x20 {user}.pfx        your certificate and private key (password-protected)\n\
             \x20 sightline-ca.crt   the Sightline CA\n\n\
             1. Install your certificate\n\
             \x20  Double-click {user}.pfx, choose \"Current User\", enter the package\n\
             \x20  password, and let Windows choose the store. Or, in a terminal:\n\
             \x20    certutil -user -p <package password> -importpfx {user}.pfx\n\n\
             2. Trust the Sightline CA (for browsers; the desktop app trusts it itself)\n\
             \x20    certutil -user -addstore Root sightline-ca.crt\n\n\
             3. Sightline desktop app\n\
             \x20  On first start, enter the server address above and choose {user}.pfx\n\
             \x20  with the package password.\n"
        ),
        Platform::Macos => format!(
            "Files\n\
             \x20 {user}.p12        your certificate and private key (password-protected)\n\
             \x20 sightline-ca.crt   the Sightline CA\n\n\
             1. Install your certificate\n\
             \x20  Double-click {user}.p12, choose the \"login\" keychain and enter the\n\
             \x20  package password. Or, in Terminal:\n\
             \x20    security import {user}.p12 -f pkcs12 -P <package password> -k ~/Library/Keychains/login.keychain-db\n\n\
             2. Trust the Sightline CA (for browsers; the desktop app trusts it itself)\n\
             \x20  Double-click sightline-ca.crt, then in Keychain Access set \"When using\n\
             \x20  this certificate\" to \"Always Trust\". Or, in Terminal:\n\
             \x20    security add-trusted-cert -r trustRoot -k ~/Library/Keychains/login.keychain-db sightline-ca.crt\n\n\
             3. Sightline desktop app\n\
             \x20  On first start, enter the server address above and choose {user}.p12\n\
             \x20  with the package password.\n"
        ),
        Platform::Linux => format!(
            "Files\n\
             \x20 client.crt   your certificate (PEM)\n\
             \x20 client.key   your private key (PEM, keep it readable only by you: 0600)\n\
             \x20 ca.crt       the Sightline CA (PEM)\n\
             \x20 {user}.p12   the same certificate and key for browsers (password-protected)\n\n\
             1. Sightline desktop app\n\
             \x20  On first start, enter the server address above and choose \"PEM files\":\n\
             \x20  client.crt, client.key and ca.crt. Or set it up from a terminal:\n\
             \x20    sightline --server {url} --import client.crt\n\
             \x20  (the app finds client.key and ca.crt beside it and stores all three).\n\n\
             2. Browsers that use NSS (Firefox, Chromium)\n\
             \x20    pk12util -i {user}.p12 -d sql:$HOME/.pki/nssdb -W <package password>\n\
             \x20    certutil -d sql:$HOME/.pki/nssdb -A -t \"C,,\" -n \"Sightline CA\" -i ca.crt\n\
             \x20  Firefox keeps its own database: Settings > Privacy & Security >\n\
             \x20  Certificates > View Certificates > Your Certificates > Import.\n\n\
             3. Keep client.key private\n\
             \x20    chmod 600 client.key\n",
            url = input.server_url,
        ),
    };
    format!("{header}{body}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CertificateAuthority, Serial, Validity};
    use std::io::Read;

    fn issued() -> (CertificateAuthority, crate::IssuedCertificate) {
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let ca =
            CertificateAuthority::create("CA", Validity::days_from(now, 30), Serial::from_random([1; 16]))
                .unwrap();
        let cert = ca
            .issue_client(
                "ada",
                "ada@example.com",
                Validity::days_from(now, 30),
                Serial::from_random([2; 16]),
            )
            .unwrap();
        (ca, cert)
    }

    fn input<'a>(
        ca: &'a CertificateAuthority,
        ca_pem: &'a str,
        cert: &'a crate::IssuedCertificate,
        password: &'a PackagePassword,
    ) -> PackageInput<'a> {
        PackageInput {
            username: "ada",
            email: "ada@example.com",
            cert_pem: &cert.cert_pem,
            cert_der: &cert.cert_der,
            key_pem: &cert.key_pem,
            ca_pem,
            ca_der: ca.cert_der(),
            server_anchor_pem: None,
            server_url: "https://sightline.example:8443",
            password,
            now: OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap(),
        }
    }

    #[test]
    fn passwords_have_120_bits_and_are_redacted() {
        let a = PackagePassword::from_random([0xa5; 15]);
        let b = PackagePassword::from_random([0x5a; 15]);
        assert_eq!(a.expose().len(), 29);
        assert_ne!(a, b);
        assert!(!format!("{a:?}").contains(a.expose()));
    }

    #[test]
    fn pkcs12_reads_back_with_the_password_and_uses_3des_and_sha1() {
        let (ca, cert) = issued();
        let ca_pem = ca.cert_pem();
        let password = PackagePassword::from_random([7; 15]);
        let p12 = pkcs12(&input(&ca, &ca_pem, &cert, &password)).unwrap();
        let store =
            KeyStore::from_pkcs12(&p12, password.expose(), p12_keystore::Pkcs12ImportPolicy::Strict).unwrap();
        let (_, chain) = store.private_key_chain().unwrap();
        assert_eq!(chain.certs()[0].as_der(), cert.cert_der.as_slice());
        assert!(KeyStore::from_pkcs12(&p12, "wrong", p12_keystore::Pkcs12ImportPolicy::Strict).is_err());
        // OIDs in DER: pbeWithSHAAnd3-KeyTripleDES-CBC 1.2.840.113549.1.12.1.3
        // and SHA-1 1.3.14.3.2.26; no PBES2 (1.2.840.113549.1.5.13).
        let contains = |needle: &[u8]| p12.windows(needle.len()).any(|w| w == needle);
        assert!(contains(&[
            0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x0c, 0x01, 0x03
        ]));
        assert!(contains(&[0x2b, 0x0e, 0x03, 0x02, 0x1a]));
        assert!(!contains(&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x05, 0x0d]));
    }

    #[test]
    fn each_platform_gets_its_files_and_guide() {
        let (ca, cert) = issued();
        let ca_pem = ca.cert_pem();
        let password = PackagePassword::from_random([9; 15]);
        let input = input(&ca, &ca_pem, &cert, &password);
        for (platform, expected) in [
            (
                Platform::Windows,
                vec!["ada.pfx", "sightline-ca.crt", "INSTALL.txt"],
            ),
            (
                Platform::Macos,
                vec!["ada.p12", "sightline-ca.crt", "INSTALL.txt"],
            ),
            (
                Platform::Linux,
                vec!["client.crt", "client.key", "ca.crt", "ada.p12", "INSTALL.txt"],
            ),
        ] {
            let package = build(platform, &input).unwrap();
            assert_eq!(
                package.file_name,
                format!("sightline-ada-{}.zip", platform.as_str())
            );
            let mut archive = zip::ZipArchive::new(std::io::Cursor::new(package.zip)).unwrap();
            let names: Vec<String> = archive
                .file_names()
                .map(|n| n.unwrap().trim_start_matches("sightline-ada/").to_owned())
                .collect();
            for name in &expected {
                assert!(
                    names.contains(&name.to_string()),
                    "{platform:?}: {name} missing from {names:?}"
                );
            }
            let mut guide = String::new();
            archive
                .by_name("sightline-ada/INSTALL.txt")
                .unwrap()
                .read_to_string(&mut guide)
                .unwrap();
            assert!(
                !guide.contains(password.expose()),
                "the guide must not carry the password"
            );
            match platform {
                Platform::Windows => {
                    assert!(guide.contains("certutil -user -p <package password> -importpfx ada.pfx"))
                }
                Platform::Macos => assert!(guide.contains("security import ada.p12 -f pkcs12 -P")),
                Platform::Linux => {
                    assert!(guide.contains("pk12util"));
                    let key = archive.by_name("sightline-ada/client.key").unwrap();
                    assert_eq!(key.unix_mode().unwrap() & 0o777, 0o600);
                }
            }
        }
    }
}
