//! The names a server certificate is for, read back so that a renewal
//! covers the same hosts and addresses.

use crate::{CertError, Result};
use std::net::IpAddr;

/// The host names and addresses a server certificate is for, as
/// [`CertificateAuthority::issue_server`] takes them: renewing with these
/// gives a certificate for the same names.
pub fn server_names(der: &[u8]) -> Result<Vec<String>> {
    use x509_parser::extensions::GeneralName;

    let (_, cert) = x509_parser::parse_x509_certificate(der).map_err(|e| CertError::Parse(e.to_string()))?;
    let san = cert
        .subject_alternative_name()
        .map_err(|e| CertError::Parse(e.to_string()))?
        .ok_or_else(|| CertError::Invalid {
            what: "server certificate",
            reason: "it names no host".into(),
        })?;
    let names = san
        .value
        .general_names
        .iter()
        .filter_map(|name| match name {
            GeneralName::DNSName(dns) => Some((*dns).to_owned()),
            GeneralName::IPAddress(bytes) => match bytes.len() {
                4 => <[u8; 4]>::try_from(*bytes)
                    .ok()
                    .map(|b| IpAddr::from(b).to_string()),
                16 => <[u8; 16]>::try_from(*bytes)
                    .ok()
                    .map(|b| IpAddr::from(b).to_string()),
                _ => None,
            },
            _ => None,
        })
        .collect();
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::ca;
    use crate::{Serial, Validity};

    #[test]
    fn the_names_renew_to_the_same_certificate_names() {
        let now = crate::testing::now();
        let ca = ca();
        let issued = ca
            .issue_server(
                &["localhost".into(), "sightline.example".into()],
                Validity::days_from(now, 90),
                Serial::from_random([2; 16]),
            )
            .unwrap();
        let listed = server_names(&issued.cert_der).unwrap();
        assert_eq!(listed, ["localhost", "127.0.0.1", "::1", "sightline.example"]);
        let again = ca
            .issue_server(
                &listed,
                Validity::days_from(now, 90),
                Serial::from_random([4; 16]),
            )
            .unwrap();
        assert_eq!(server_names(&again.cert_der).unwrap(), listed);
    }
}
