//! Keys made on the device. The desktop generates an ECDSA P-256 key and
//! a certificate signing request ([`DeviceKey`]); the server reads the
//! request back ([`DeviceRequest`]), which checks its signature, and signs
//! a certificate for that key with a subject from its own records. The
//! private key never leaves the device.

use crate::{
    client_params, inspect, sha256, CertError, CertificateAuthority, IssuedCertificate, PrivateKeyPem,
    Result, Serial, Validity,
};
use rcgen::{
    CertificateParams, CertificateSigningRequestParams, KeyPair, PublicKeyData, PKCS_ECDSA_P256_SHA256,
};

/// The longest request read (a P-256 request is about 500 bytes of PEM).
pub const MAX_REQUEST_PEM: usize = 8 * 1024;

/// A new device key and its signing request.
pub struct DeviceKey {
    pub key_pem: PrivateKeyPem,
    pub request_pem: String,
}

impl std::fmt::Debug for DeviceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceKey").finish_non_exhaustive()
    }
}

impl DeviceKey {
    /// Generates a P-256 key and a request signed with it. The request's
    /// subject is a placeholder: the server takes the subject from its
    /// records, never from the request.
    pub fn generate() -> Result<Self> {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let mut params = CertificateParams::default();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "Sightline device");
        let request = params.serialize_request(&key)?;
        Ok(Self {
            key_pem: PrivateKeyPem::new(key.serialize_pem()),
            request_pem: request.pem()?,
        })
    }
}

/// Whether the PEM certificate is for the PEM private key: a device that
/// stopped half-way through storing a renewal can tell which key its
/// certificate needs.
pub fn key_matches_certificate(cert_pem: &str, key_pem: &str) -> bool {
    let Ok(key) = KeyPair::from_pem(key_pem) else {
        return false;
    };
    let Ok((_, pem)) = x509_parser::pem::parse_x509_pem(cert_pem.as_bytes()) else {
        return false;
    };
    crate::inspect(&pem.contents).is_ok_and(|info| info.key_sha256 == sha256(key.public_key_raw()))
}

impl CertificateAuthority {
    /// Issues a client certificate like [`Self::issue_client`] for a key
    /// the device made itself; the returned key text is empty, as the key
    /// never came here.
    pub fn issue_client_for_device(
        &self,
        username: &str,
        email: &str,
        validity: Validity,
        serial: Serial,
        request: &DeviceRequest,
    ) -> Result<IssuedCertificate> {
        let mut params = client_params(username, email, validity, serial)?;
        params.crl_distribution_points = self.distribution_points();
        let cert = params.signed_by(&request.public_key, &self.cert, &self.key)?;
        Ok(IssuedCertificate {
            info: inspect(cert.der())?,
            cert_pem: cert.pem(),
            cert_der: cert.der().to_vec(),
            key_pem: PrivateKeyPem(String::new()),
        })
    }
}

/// A certificate signing request whose signature has been checked and
/// whose key is ECDSA P-256.
pub struct DeviceRequest {
    pub(crate) public_key: rcgen::PublicKey,
}

impl std::fmt::Debug for DeviceRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceRequest")
            .field("key_sha256", &crate::hex(&self.key_sha256()))
            .finish()
    }
}

impl DeviceRequest {
    /// Reads a PEM request. Refused: text that is not one request, a
    /// signature that does not verify, a key other than P-256, and
    /// extensions beyond names and key usages.
    pub fn parse(pem: &str) -> Result<Self> {
        let invalid = |reason: &str| CertError::Invalid {
            what: "certificate signing request",
            reason: reason.to_owned(),
        };
        if pem.len() > MAX_REQUEST_PEM {
            return Err(invalid("it is longer than 8 KiB"));
        }
        if !pem
            .trim_start()
            .starts_with("-----BEGIN CERTIFICATE REQUEST-----")
        {
            return Err(invalid("it is not a PEM CERTIFICATE REQUEST"));
        }
        let request = CertificateSigningRequestParams::from_pem(pem).map_err(|error| match error {
            rcgen::Error::RingUnspecified => invalid("its signature does not verify"),
            rcgen::Error::UnsupportedExtension => invalid("it asks for extensions that are not accepted"),
            _ => invalid("it cannot be read"),
        })?;
        let key = request.public_key;
        // An uncompressed P-256 point: 0x04, then 32 bytes each of x and y.
        let p256 = key.algorithm() == &PKCS_ECDSA_P256_SHA256
            && key.der_bytes().len() == 65
            && key.der_bytes().first() == Some(&0x04);
        if !p256 {
            return Err(invalid("its key is not an ECDSA P-256 key"));
        }
        Ok(Self { public_key: key })
    }

    /// SHA-256 of the public key's bits, as [`crate::CertificateInfo`]
    /// reports it for an issued certificate: equal keys, equal hashes.
    pub fn key_sha256(&self) -> [u8; 32] {
        sha256(self.public_key.der_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{ca, now};

    #[test]
    fn a_device_certificate_carries_the_device_key_and_the_recorded_subject() {
        let device = DeviceKey::generate().unwrap();
        let request = DeviceRequest::parse(&device.request_pem).unwrap();
        let issued = ca()
            .issue_client_for_device(
                "ada",
                "ada@example.com",
                Validity::lasting(now(), time::Duration::minutes(10)),
                Serial::from_random([5; 16]),
                &request,
            )
            .unwrap();
        assert_eq!(issued.info.key_sha256, request.key_sha256());
        assert_eq!(issued.info.email.as_deref(), Some("ada@example.com"));
        assert!(issued.key_pem.expose().is_empty());
        assert_eq!(
            issued.info.not_after - issued.info.not_before,
            time::Duration::minutes(11),
            "back-dated by a tenth of ten minutes"
        );
        let (_, cert) = x509_parser::parse_x509_certificate(&issued.cert_der).unwrap();
        assert!(cert.subject().to_string().contains("CN=ada"));
        assert!(!cert.subject().to_string().contains("device"));
    }

    #[test]
    fn a_generated_request_reads_back_with_its_key() {
        let device = DeviceKey::generate().unwrap();
        assert!(device.key_pem.expose().contains("PRIVATE KEY"));
        assert!(!format!("{device:?}").contains("PRIVATE"));
        let request = DeviceRequest::parse(&device.request_pem).unwrap();
        let key = KeyPair::from_pem(device.key_pem.expose()).unwrap();
        assert_eq!(request.key_sha256(), sha256(key.public_key_raw()));
    }

    #[test]
    fn a_key_matches_only_its_own_certificate() {
        let device = DeviceKey::generate().unwrap();
        let request = DeviceRequest::parse(&device.request_pem).unwrap();
        let validity = Validity::days_from(now(), 1);
        let issued = ca()
            .issue_client_for_device(
                "ada",
                "a@example.com",
                validity,
                Serial::from_random([2; 16]),
                &request,
            )
            .unwrap();
        assert!(key_matches_certificate(&issued.cert_pem, device.key_pem.expose()));
        let other = DeviceKey::generate().unwrap();
        assert!(!key_matches_certificate(&issued.cert_pem, other.key_pem.expose()));
        assert!(!key_matches_certificate("nonsense", device.key_pem.expose()));
    }

    #[test]
    fn a_tampered_request_is_refused() {
        let device = DeviceKey::generate().unwrap();
        let pem = pem::parse(&device.request_pem).unwrap();
        let mut der = pem.contents().to_vec();
        // A byte inside the subject: the signature no longer matches.
        let at = der.windows(6).position(|w| w == b"device").unwrap();
        der[at] ^= 0x20;
        let tampered = pem::encode(&pem::Pem::new("CERTIFICATE REQUEST", der));
        let error = DeviceRequest::parse(&tampered).unwrap_err().to_string();
        assert!(error.contains("signature"), "{error}");
    }

    #[test]
    fn other_keys_and_other_text_are_refused() {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap();
        let p384 = CertificateParams::default()
            .serialize_request(&key)
            .unwrap()
            .pem()
            .unwrap();
        let error = DeviceRequest::parse(&p384).unwrap_err().to_string();
        assert!(error.contains("P-256"), "{error}");
        for text in [
            "",
            "hello",
            "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
        ] {
            assert!(DeviceRequest::parse(text).is_err(), "{text:?}");
        }
        let long = format!("-----BEGIN CERTIFICATE REQUEST-----\n{}", "A".repeat(9000));
        assert!(DeviceRequest::parse(&long)
            .unwrap_err()
            .to_string()
            .contains("8 KiB"));
    }
}
