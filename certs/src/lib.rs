//! Sightline's certificate authority.
//!
//! Creates the CA, issues server and client certificates, and reads back the
//! facts the server needs from a presented certificate. The crate is pure:
//! validity periods and serial numbers are inputs, so tests control them.
//! Private keys come from the operating system's random source (the key
//! generator of `ring` takes no caller RNG); they are returned in
//! [`PrivateKeyPem`], whose `Debug` output is redacted.

pub mod device;
pub mod names;
pub mod package;
mod revocation;

pub use revocation::{RevocationReason, RevokedEntry};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose, SanType, SerialNumber, PKCS_ECDSA_P256_SHA256,
};
use std::fmt;
use std::net::IpAddr;
use time::OffsetDateTime;

#[derive(Debug, thiserror::Error)]
pub enum CertError {
    #[error("certificate generation failed: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("certificate could not be parsed: {0}")]
    Parse(String),
    #[error("invalid {what}: {reason}")]
    Invalid { what: &'static str, reason: String },
}

pub type Result<T, E = CertError> = std::result::Result<T, E>;

/// A PEM-encoded private key. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct PrivateKeyPem(String);

impl PrivateKeyPem {
    pub fn new(pem: String) -> Self {
        Self(pem)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PrivateKeyPem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PrivateKeyPem(<redacted>)")
    }
}

/// When a certificate is valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validity {
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
}

impl Validity {
    /// Valid from `now` (back-dated by five minutes for clocks that run a
    /// little slow) for `days` days.
    pub fn days_from(now: OffsetDateTime, days: u32) -> Self {
        Self::lasting(now, time::Duration::days(i64::from(days)))
    }

    /// Valid from `now` for `lifetime`, back-dated likewise but by at most
    /// a tenth of the lifetime: a device renews at two thirds of the span
    /// it sees, and a short certificate must not look twice as long.
    pub fn lasting(now: OffsetDateTime, lifetime: time::Duration) -> Self {
        Self {
            not_before: now - time::Duration::minutes(5).min(lifetime / 10),
            not_after: now + lifetime,
        }
    }
}

/// A certificate serial number: 16 bytes, positive, never zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Serial([u8; 16]);

impl Serial {
    /// Builds a serial from random bytes. The top bit is cleared so the DER
    /// integer stays positive without padding, and the first byte is made
    /// non-zero so the encoding is always 16 bytes: 119 random bits remain.
    pub fn from_random(mut bytes: [u8; 16]) -> Self {
        bytes[0] = (bytes[0] & 0x7f) | 0x01;
        Self(bytes)
    }

    pub fn to_hex(&self) -> String {
        hex(&self.0)
    }
}

/// The facts about a certificate the server relies on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateInfo {
    /// Lower-case hex, without leading zero bytes.
    pub serial_hex: String,
    /// The first e-mail address in the subject alternative names, if any.
    pub email: Option<String>,
    /// SHA-256 of the DER encoding (RFC 8705 `x5t#S256`).
    pub thumbprint_sha256: [u8; 32],
    /// SHA-256 of the subject public key's bits: tells a reused key.
    pub key_sha256: [u8; 32],
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
}

/// A freshly issued certificate and its key.
#[derive(Debug)]
pub struct IssuedCertificate {
    pub cert_pem: String,
    pub cert_der: Vec<u8>,
    pub key_pem: PrivateKeyPem,
    pub info: CertificateInfo,
}

/// The CA: its certificate and signing key.
pub struct CertificateAuthority {
    /// Signs issued certificates and CRLs (rcgen needs a `Certificate`).
    cert: rcgen::Certificate,
    key: KeyPair,
    /// The CA certificate as published: exactly what `create` produced,
    /// whatever `from_pem` re-derives for signing.
    published_pem: String,
    published_der: Vec<u8>,
    /// Where issued certificates say the CRL is, if the server knows.
    crl_url: Option<String>,
}

impl fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertificateAuthority").finish_non_exhaustive()
    }
}

impl CertificateAuthority {
    /// Creates a new CA with an ECDSA P-256 key.
    pub fn create(common_name: &str, validity: Validity, serial: Serial) -> Result<Self> {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let mut params = CertificateParams::default();
        params.distinguished_name = distinguished_name(common_name);
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        apply_validity(&mut params, validity, serial);
        let cert = params.self_signed(&key)?;
        Ok(Self {
            published_pem: cert.pem(),
            published_der: cert.der().to_vec(),
            cert,
            key,
            crl_url: None,
        })
    }

    /// Loads a CA written earlier by [`CertificateAuthority::cert_pem`] and
    /// [`CertificateAuthority::key_pem`].
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Self> {
        let key = KeyPair::from_pem(key_pem)?;
        let params = CertificateParams::from_ca_cert_pem(cert_pem)?;
        // rcgen signs with a `Certificate`; re-creating it from the stored
        // parameters and key yields the same subject and key identifier, which
        // is all that issued certificates refer to.
        let cert = params.self_signed(&key)?;
        let (_, pem) = x509_parser::pem::parse_x509_pem(cert_pem.as_bytes())
            .map_err(|e| CertError::Parse(e.to_string()))?;
        Ok(Self {
            published_pem: cert_pem.to_owned(),
            published_der: pem.contents,
            cert,
            key,
            crl_url: None,
        })
    }

    /// Issued certificates name `url` as their CRL distribution point, so
    /// clients and scanners that check revocation find the list.
    pub fn with_crl_url(mut self, url: String) -> Self {
        self.crl_url = Some(url);
        self
    }

    pub fn cert_pem(&self) -> String {
        self.published_pem.clone()
    }

    fn distribution_points(&self) -> Vec<rcgen::CrlDistributionPoint> {
        self.crl_url
            .iter()
            .map(|url| rcgen::CrlDistributionPoint {
                uris: vec![url.clone()],
            })
            .collect()
    }

    pub fn cert_der(&self) -> &[u8] {
        &self.published_der
    }

    pub fn key_pem(&self) -> PrivateKeyPem {
        PrivateKeyPem(self.key.serialize_pem())
    }

    /// Issues a TLS server certificate for `hostnames`. Entries that parse as
    /// IP addresses become IP SANs; `localhost` also adds 127.0.0.1 and ::1.
    pub fn issue_server(
        &self,
        hostnames: &[String],
        validity: Validity,
        serial: Serial,
    ) -> Result<IssuedCertificate> {
        let first = hostnames.first().ok_or_else(|| CertError::Invalid {
            what: "hostnames",
            reason: "at least one hostname is required".into(),
        })?;
        let mut sans = Vec::new();
        for name in hostnames {
            for san in server_sans(name)? {
                if !sans.contains(&san) {
                    sans.push(san);
                }
            }
        }
        let mut params = CertificateParams::default();
        params.distinguished_name = distinguished_name(first);
        params.subject_alt_names = sans;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        params.crl_distribution_points = self.distribution_points();
        apply_validity(&mut params, validity, serial);
        self.sign(params)
    }

    /// Issues a client certificate for one user: EKU clientAuth only,
    /// `CA:FALSE`, the e-mail address as an rfc822Name SAN. The key is made
    /// here and returned with it (the certificate package carries it).
    pub fn issue_client(
        &self,
        username: &str,
        email: &str,
        validity: Validity,
        serial: Serial,
    ) -> Result<IssuedCertificate> {
        let mut params = client_params(username, email, validity, serial)?;
        params.crl_distribution_points = self.distribution_points();
        self.sign(params)
    }

    /// A CRL listing `revoked`, signed by this CA, as PEM.
    pub fn crl(
        &self,
        revoked: &[RevokedEntry],
        this_update: OffsetDateTime,
        next_update: OffsetDateTime,
        crl_number: u64,
    ) -> Result<String> {
        let revoked_certs = revoked
            .iter()
            .map(|entry| {
                Ok(rcgen::RevokedCertParams {
                    serial_number: SerialNumber::from_slice(&from_hex(&entry.serial_hex)?),
                    revocation_time: entry.revoked_at,
                    reason_code: Some(entry.reason.code()),
                    invalidity_date: None,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let params = rcgen::CertificateRevocationListParams {
            this_update,
            next_update,
            crl_number: SerialNumber::from_slice(&crl_number.to_be_bytes()),
            issuing_distribution_point: None,
            revoked_certs,
            key_identifier_method: rcgen::KeyIdMethod::Sha256,
        };
        Ok(params.signed_by(&self.cert, &self.key)?.pem()?)
    }

    fn sign(&self, params: CertificateParams) -> Result<IssuedCertificate> {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let cert = params.signed_by(&key, &self.cert, &self.key)?;
        let info = inspect(cert.der())?;
        Ok(IssuedCertificate {
            cert_pem: cert.pem(),
            cert_der: cert.der().to_vec(),
            key_pem: PrivateKeyPem(key.serialize_pem()),
            info,
        })
    }
}

/// OID 1.2.840.113549.1.9.1 (PKCS #9 emailAddress) in the subject, which
/// some certificate pickers show instead of the SAN.
const EMAIL_ADDRESS_OID: &[u64] = &[1, 2, 840, 113_549, 1, 9, 1];

fn distinguished_name(common_name: &str) -> DistinguishedName {
    let mut name = DistinguishedName::new();
    name.push(DnType::OrganizationName, "Sightline");
    name.push(DnType::CommonName, common_name);
    name
}

fn client_params(
    username: &str,
    email: &str,
    validity: Validity,
    serial: Serial,
) -> Result<CertificateParams> {
    let email_san = rcgen::Ia5String::try_from(email).map_err(|_| CertError::Invalid {
        what: "e-mail address",
        reason: "must be ASCII".into(),
    })?;
    let mut params = CertificateParams::default();
    params.distinguished_name = distinguished_name(username);
    params
        .distinguished_name
        .push(DnType::CustomDnType(EMAIL_ADDRESS_OID.to_vec()), email);
    params.subject_alt_names = vec![SanType::Rfc822Name(email_san)];
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    params.use_authority_key_identifier_extension = true;
    apply_validity(&mut params, validity, serial);
    Ok(params)
}

fn apply_validity(params: &mut CertificateParams, validity: Validity, serial: Serial) {
    params.not_before = validity.not_before;
    params.not_after = validity.not_after;
    params.serial_number = Some(SerialNumber::from_slice(&serial.0));
}

fn server_sans(name: &str) -> Result<Vec<SanType>> {
    if let Ok(ip) = name.parse::<IpAddr>() {
        return Ok(vec![SanType::IpAddress(ip)]);
    }
    let dns = rcgen::Ia5String::try_from(name).map_err(|_| CertError::Invalid {
        what: "hostname",
        reason: format!("{name:?} is not an ASCII host name"),
    })?;
    let mut sans = vec![SanType::DnsName(dns)];
    if name.eq_ignore_ascii_case("localhost") {
        sans.push(SanType::IpAddress(IpAddr::from([127, 0, 0, 1])));
        sans.push(SanType::IpAddress(IpAddr::from([0, 0, 0, 0, 0, 0, 0, 1])));
    }
    Ok(sans)
}

/// Reads serial, e-mail, thumbprint and validity from a DER certificate.
pub fn inspect(der: &[u8]) -> Result<CertificateInfo> {
    use x509_parser::extensions::GeneralName;

    let (_, cert) = x509_parser::parse_x509_certificate(der).map_err(|e| CertError::Parse(e.to_string()))?;
    let raw_serial = cert.raw_serial();
    let first_significant = raw_serial
        .iter()
        .position(|byte| *byte != 0)
        .unwrap_or(raw_serial.len().saturating_sub(1));
    let serial_hex = hex(raw_serial.get(first_significant..).unwrap_or_default());

    let email = cert.subject_alternative_name().ok().flatten().and_then(|san| {
        san.value.general_names.iter().find_map(|name| match name {
            GeneralName::RFC822Name(email) => Some((*email).to_owned()),
            _ => None,
        })
    });
    let not_before = cert.validity().not_before.to_datetime();
    let not_after = cert.validity().not_after.to_datetime();
    Ok(CertificateInfo {
        serial_hex,
        email,
        thumbprint_sha256: sha256(der),
        key_sha256: sha256(&cert.public_key().subject_public_key.data),
        not_before,
        not_after,
    })
}

/// Whether a certificate names itself as its issuer (a root). An anchor
/// that does not is an intermediate of some other root.
pub fn is_self_issued(der: &[u8]) -> Result<bool> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).map_err(|e| CertError::Parse(e.to_string()))?;
    Ok(cert.subject().as_raw() == cert.issuer().as_raw())
}

/// `der` as PEM with `label` (`CERTIFICATE`, `PRIVATE KEY`), lines ending
/// in LF.
pub fn pem(label: &str, der: &[u8]) -> String {
    let config = ::pem::EncodeConfig::new().set_line_ending(::pem::LineEnding::LF);
    ::pem::encode_config(&::pem::Pem::new(label, der), config)
}

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// Bytes from hexadecimal (either case), at most 32 bytes (serial numbers).
pub fn from_hex(text: &str) -> Result<Vec<u8>> {
    let invalid = || CertError::Invalid {
        what: "serial number",
        reason: format!("{text:?} is not hexadecimal"),
    };
    if text.is_empty() || text.len() > 64 {
        return Err(invalid());
    }
    data_encoding::HEXLOWER_PERMISSIVE
        .decode(text.as_bytes())
        .map_err(|_| invalid())
}

/// Lower-case hexadecimal.
pub fn hex(bytes: &[u8]) -> String {
    data_encoding::HEXLOWER.encode(bytes)
}

/// Upper-case hex with a colon between bytes (`AB:CD:…`), as fingerprints are shown.
pub fn colon_hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|byte| data_encoding::HEXUPPER.encode(std::slice::from_ref(byte)))
        .collect::<Vec<_>>()
        .join(":")
}

/// A fixed "now" and a CA valid around it, for the crate's tests.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    pub(crate) fn now() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
    }

    pub(crate) fn ca() -> CertificateAuthority {
        CertificateAuthority::create(
            "Test CA",
            Validity::days_from(now(), 3650),
            Serial::from_random([7; 16]),
        )
        .unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{ca, now};
    use super::*;

    #[test]
    fn serial_is_positive_and_full_length() {
        let serial = Serial::from_random([0xff; 16]);
        assert_eq!(serial.0[0], 0x7f);
        let serial = Serial::from_random([0; 16]);
        assert_eq!(serial.0[0], 0x01);
        assert_eq!(serial.to_hex().len(), 32);
    }

    #[test]
    fn client_certificate_carries_email_serial_and_client_auth_only() {
        let ca = ca();
        let serial = Serial::from_random([0xab; 16]);
        let issued = ca
            .issue_client("ada", "ada@example.com", Validity::days_from(now(), 365), serial)
            .unwrap();
        assert_eq!(issued.info.email.as_deref(), Some("ada@example.com"));
        assert_eq!(issued.info.serial_hex, serial.to_hex());
        assert_eq!(issued.info.thumbprint_sha256, sha256(&issued.cert_der));
        assert_eq!(
            issued.info.not_after - issued.info.not_before,
            time::Duration::days(365) + time::Duration::minutes(5)
        );

        let (_, cert) = x509_parser::parse_x509_certificate(&issued.cert_der).unwrap();
        let eku = cert.extended_key_usage().unwrap().unwrap().value;
        assert!(eku.client_auth);
        assert!(!eku.server_auth);
        let constraints = cert.basic_constraints().unwrap().unwrap().value;
        assert!(!constraints.ca);
        assert!(!format!("{issued:?}").contains("PRIVATE KEY"));
        assert!(cert
            .extensions()
            .iter()
            .all(|e| e.oid != x509_parser::oid_registry::OID_X509_EXT_CRL_DISTRIBUTION_POINTS));
        // With the server's address known, the CRL is named.
        let named = ca
            .with_crl_url("https://s.example/public/crl.pem".into())
            .issue_client("ada", "ada@example.com", Validity::days_from(now(), 1), serial)
            .unwrap();
        let (_, cert) = x509_parser::parse_x509_certificate(&named.cert_der).unwrap();
        let points = format!("{:?}", cert.extensions());
        assert!(points.contains("https://s.example/public/crl.pem"), "{points}");
    }

    #[test]
    fn server_certificate_for_localhost_includes_loopback_addresses() {
        let issued = ca()
            .issue_server(
                &["localhost".into(), "sightline.example".into()],
                Validity::days_from(now(), 365),
                Serial::from_random([3; 16]),
            )
            .unwrap();
        let (_, cert) = x509_parser::parse_x509_certificate(&issued.cert_der).unwrap();
        let names = format!("{:?}", cert.subject_alternative_name().unwrap().unwrap().value);
        assert!(names.contains("localhost"));
        assert!(names.contains("sightline.example"));
        assert!(names.contains("[127, 0, 0, 1]"));
        assert!(names.contains("[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]"));
    }

    #[test]
    fn ca_round_trips_through_pem_and_keeps_signing() {
        let original = ca();
        let reloaded =
            CertificateAuthority::from_pem(&original.cert_pem(), original.key_pem().expose()).unwrap();
        assert_eq!(
            reloaded.cert_der(),
            original.cert_der(),
            "the published CA certificate never changes"
        );
        let issued = reloaded
            .issue_client(
                "bob",
                "bob@example.com",
                Validity::days_from(now(), 1),
                Serial::from_random([9; 16]),
            )
            .unwrap();
        let (_, leaf) = x509_parser::parse_x509_certificate(&issued.cert_der).unwrap();
        let (_, root) = x509_parser::parse_x509_certificate(original.cert_der()).unwrap();
        assert_eq!(leaf.issuer(), root.subject());
    }

    #[test]
    fn crl_lists_revoked_serials_and_is_signed_by_the_ca() {
        let ca = ca();
        let serial = Serial::from_random([0x42; 16]);
        let entry = RevokedEntry {
            serial_hex: serial.to_hex(),
            revoked_at: now(),
            reason: RevocationReason::KeyCompromise,
        };
        let pem = ca
            .crl(&[entry], now(), now() + time::Duration::days(1), 7)
            .unwrap();
        let der = rustls_pki_types_free_pem_decode(&pem);
        use x509_parser::prelude::FromDer;
        let (_, crl) = x509_parser::revocation_list::CertificateRevocationList::from_der(&der).unwrap();
        let listed: Vec<String> = crl
            .iter_revoked_certificates()
            .map(|r| hex(r.raw_serial()))
            .collect();
        assert_eq!(listed, vec![serial.to_hex()]);
        let (_, root) = x509_parser::parse_x509_certificate(ca.cert_der()).unwrap();
        assert_eq!(crl.issuer(), root.subject());
        assert!(from_hex("zz").is_err());
        assert_eq!(from_hex("0aFF").unwrap(), vec![0x0a, 0xff]);
        assert!(from_hex("").is_err());
        assert!(from_hex("abc").is_err());
        assert!(from_hex(&"ab".repeat(33)).is_err());
        assert_eq!(from_hex(&"ab".repeat(32)).unwrap(), vec![0xab; 32]);
        assert_eq!(hex(&[0x00, 0x0a, 0xff]), "000aff");
        assert_eq!(colon_hex(&[0x00, 0x0a, 0xff]), "00:0A:FF");
        assert_eq!(colon_hex(&[]), "");
    }

    fn rustls_pki_types_free_pem_decode(pem: &str) -> Vec<u8> {
        x509_parser::pem::parse_x509_pem(pem.as_bytes())
            .unwrap()
            .1
            .contents
    }

    #[test]
    fn non_ascii_email_is_refused() {
        let result = ca().issue_client(
            "zoë",
            "zoë@example.com",
            Validity::days_from(now(), 1),
            Serial::from_random([1; 16]),
        );
        assert!(matches!(result, Err(CertError::Invalid { .. })));
    }
}
