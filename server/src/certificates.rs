//! Client certificates issued to users, and the lookup that ties a
//! presented certificate to its user.

use crate::db::{audit, Actor, AuditEvent, Db};
use crate::error::Result;
use crate::fsutil;
use crate::users::User;
use rand::RngCore;
use sightline_certs::{CertificateAuthority, IssuedCertificate, Serial, Validity};
use std::path::{Path, PathBuf};

/// A random serial (119 random bits, see [`Serial::from_random`]).
pub fn random_serial() -> Serial {
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    Serial::from_random(bytes)
}

/// Issues a client certificate for `user` and records it.
pub async fn issue_for_user(
    db: &Db,
    ca: &CertificateAuthority,
    user: &User,
    validity_days: u32,
    now: time::OffsetDateTime,
    actor: Actor<'_>,
) -> Result<IssuedCertificate> {
    let issued = ca.issue_client(
        &user.username,
        &user.email,
        Validity::days_from(now, validity_days),
        random_serial(),
    )?;
    let mut tx = db.begin().await?;
    sqlx::query(
        "INSERT INTO certificates (serial, user_id, thumbprint, not_before, not_after, issued_at) VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(&issued.info.serial_hex)
    .bind(user.id)
    .bind(issued.info.thumbprint_sha256.as_slice())
    .bind(issued.info.not_before.unix_timestamp())
    .bind(issued.info.not_after.unix_timestamp())
    .bind(now.unix_timestamp())
    .execute(&mut *tx)
    .await?;
    audit(
        &mut *tx,
        now.unix_timestamp(),
        AuditEvent {
            actor,
            action: "cert.issue",
            subject: Some(&user.username),
            client_addr: None,
            detail: Some(&issued.info.serial_hex),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(issued)
}

/// The files of a PEM identity in a folder.
#[derive(Debug, Clone)]
pub struct PemBundlePaths {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub ca: PathBuf,
}

/// Writes `client.crt`, `client.key` (0600) and `ca.crt` into `dir`.
pub fn write_pem_bundle(dir: &Path, issued: &IssuedCertificate, ca_pem: &str) -> Result<PemBundlePaths> {
    fsutil::create_private_dir(dir)?;
    let paths = PemBundlePaths {
        cert: dir.join("client.crt"),
        key: dir.join("client.key"),
        ca: dir.join("ca.crt"),
    };
    fsutil::write_public(&paths.cert, issued.cert_pem.as_bytes())?;
    fsutil::write_private(&paths.key, issued.key_pem.expose().as_bytes())?;
    fsutil::write_public(&paths.ca, ca_pem.as_bytes())?;
    Ok(paths)
}

/// What the database says about a presented certificate.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CertificateOwner {
    pub serial: String,
    pub user_id: i64,
    pub revoked: bool,
}

pub async fn owner_by_thumbprint(db: &Db, thumbprint: &[u8]) -> Result<Option<CertificateOwner>> {
    Ok(sqlx::query_as::<_, CertificateOwner>(
        "SELECT serial, user_id, revoked_at IS NOT NULL AS revoked FROM certificates WHERE thumbprint = ?",
    )
    .bind(thumbprint)
    .fetch_optional(db)
    .await?)
}
