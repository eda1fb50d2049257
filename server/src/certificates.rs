//! Client certificates issued to users, and the lookup that ties a
//! presented certificate to its user.

use crate::announce::{self, Announcement};
use crate::audit::{audit, Actor, AuditEvent};
use crate::context::Context;
use crate::db::Db;
use crate::error::{Error, Result};
use crate::fsutil;
use crate::users::User;
use rand::RngCore;
use sightline_certs::{
    CertificateAuthority, IssuedCertificate, RevocationReason, RevokedEntry, Serial, Validity,
};
use std::path::{Path, PathBuf};

/// A random serial (119 random bits, see [`Serial::from_random`]).
pub fn random_serial() -> Serial {
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    Serial::from_random(bytes)
}

/// Issues a client certificate for `user` and records it, inside the
/// caller's transaction (so a download link is spent only if issuance
/// succeeds, for example).
pub async fn issue_for_user(
    conn: &mut sqlx::AnyConnection,
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
    sqlx::query(
        "INSERT INTO certificates (serial, user_id, thumbprint, not_before, not_after, issued_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&issued.info.serial_hex)
    .bind(user.id)
    .bind(issued.info.thumbprint_sha256.as_slice())
    .bind(issued.info.not_before.unix_timestamp())
    .bind(issued.info.not_after.unix_timestamp())
    .bind(now.unix_timestamp())
    .execute(&mut *conn)
    .await?;
    audit(
        &mut *conn,
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
    Ok(issued)
}

/// Issues a certificate for `username` with the CA of `ctx`, valid for
/// `days`.
pub async fn issue(
    ctx: &Context,
    username: &str,
    days: u32,
    actor: Actor<'_>,
) -> Result<(User, IssuedCertificate)> {
    if days < 1 {
        return Err(Error::invalid("validity", "must be at least 1 day"));
    }
    let user = crate::users::require(ctx, username).await?;
    let mut tx = ctx.db.begin().await?;
    let issued = issue_for_user(&mut tx, &ctx.ca, &user, days, ctx.clock.now_datetime(), actor).await?;
    tx.commit().await?;
    Ok((user, issued))
}

/// A certificate as the registry knows it.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct CertificateRecord {
    pub serial: String,
    pub username: String,
    pub email: String,
    pub issued_at: i64,
    pub not_after: i64,
    pub revoked_at: Option<i64>,
    pub revocation_reason: Option<String>,
}

impl CertificateRecord {
    pub fn status(&self, now: i64) -> &'static str {
        if self.revoked_at.is_some() {
            "revoked"
        } else if self.not_after <= now {
            "expired"
        } else {
            "valid"
        }
    }
}

pub async fn list(ctx: &Context) -> Result<Vec<CertificateRecord>> {
    Ok(sqlx::query_as::<_, CertificateRecord>(
        "SELECT c.serial, u.username, u.email, c.issued_at, c.not_after, c.revoked_at, c.revocation_reason
         FROM certificates c JOIN users u ON u.id = c.user_id ORDER BY c.issued_at DESC, c.serial",
    )
    .fetch_all(&ctx.db)
    .await?)
}

/// Revokes a certificate. Running servers notice within a second or two
/// (see `revocation`): new handshakes fail, requests on open connections are
/// refused and those connections are closed. Login sessions bound to the
/// certificate end with it.
pub async fn revoke(
    ctx: &Context,
    serial: &str,
    reason: RevocationReason,
    actor: Actor<'_>,
) -> Result<CertificateRecord> {
    let serial = serial.trim().to_ascii_lowercase();
    let serial = serial.trim_start_matches("0x");
    let now = ctx.clock.now();
    let mut tx = ctx.db.begin().await?;
    let found: Option<(i64, Vec<u8>, Option<i64>)> =
        sqlx::query_as("SELECT user_id, thumbprint, revoked_at FROM certificates WHERE serial = $1")
            .bind(serial)
            .fetch_optional(&mut *tx)
            .await?;
    let Some((user_id, thumbprint, revoked_at)) = found else {
        return Err(Error::NotFound(format!("certificate {serial}")));
    };
    if revoked_at.is_some() {
        return Err(Error::Conflict(format!(
            "certificate {serial} is already revoked; a revocation"
        )));
    }
    // Of two revocations at once, the second finds the row revoked here.
    let revoked = sqlx::query(
        "UPDATE certificates SET revoked_at = $1, revocation_reason = $2 WHERE serial = $3 AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(reason.as_str())
    .bind(serial)
    .execute(&mut *tx)
    .await?;
    if revoked.rows_affected() != 1 {
        return Err(Error::Conflict(format!(
            "certificate {serial} is already revoked; a revocation"
        )));
    }
    sqlx::query(
        "UPDATE token_families SET revoked_at = $1, revoked_reason = 'certificate revoked'
         WHERE cert_thumbprint = $2 AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(&thumbprint)
    .execute(&mut *tx)
    .await?;
    sqlx::query("UPDATE admin_sessions SET ended_at = $1 WHERE cert_thumbprint = $2 AND ended_at IS NULL")
        .bind(now)
        .bind(&thumbprint)
        .execute(&mut *tx)
        .await?;
    audit(
        &mut *tx,
        now,
        AuditEvent {
            actor,
            action: "cert.revoke",
            subject: Some(serial),
            client_addr: None,
            detail: Some(reason.as_str()),
        },
    )
    .await?;
    // Every instance hears of it at the commit (PostgreSQL); their poll of
    // the revoked set is the backstop.
    announce::send(&mut tx, Announcement::Revoked(serial)).await?;
    announce::send(&mut tx, Announcement::AccessChanged(user_id)).await?;
    tx.commit().await?;
    ctx.sessions.forget_user(user_id);
    let record = list(ctx)
        .await?
        .into_iter()
        .find(|c| c.serial == serial)
        .ok_or_else(|| Error::NotFound(format!("certificate {serial}")))?;
    Ok(record)
}

/// Serials of every revoked certificate that has not expired yet (expired
/// ones are refused by the handshake anyway).
pub async fn revoked_serials(db: &Db, now: i64) -> Result<Vec<(String, i64, Option<String>)>> {
    Ok(sqlx::query_as(
        "SELECT serial, revoked_at, revocation_reason FROM certificates
         WHERE revoked_at IS NOT NULL AND not_after > $1 ORDER BY revoked_at",
    )
    .bind(now)
    .fetch_all(db)
    .await?)
}

/// The current CRL, signed by the CA: every revoked certificate that has
/// not expired, valid for a day.
pub async fn crl_pem(ctx: &Context) -> Result<String> {
    let now = ctx.clock.now();
    let entries: Vec<RevokedEntry> = revoked_serials(&ctx.db, now)
        .await?
        .into_iter()
        .filter_map(|(serial_hex, revoked_at, reason)| {
            Some(RevokedEntry {
                serial_hex,
                revoked_at: time::OffsetDateTime::from_unix_timestamp(revoked_at).ok()?,
                reason: reason
                    .as_deref()
                    .and_then(RevocationReason::parse)
                    .unwrap_or(RevocationReason::Unspecified),
            })
        })
        .collect();
    let this_update = ctx.clock.now_datetime();
    Ok(ctx.ca.crl(
        &entries,
        this_update,
        this_update + time::Duration::days(1),
        u64::try_from(now).unwrap_or(0),
    )?)
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
    #[sqlx(try_from = "crate::db::Flag")]
    pub revoked: bool,
}

pub async fn owner_by_thumbprint(ctx: &Context, thumbprint: &[u8]) -> Result<Option<CertificateOwner>> {
    Ok(sqlx::query_as::<_, CertificateOwner>(
        "SELECT serial, user_id, revoked_at IS NOT NULL AS revoked FROM certificates WHERE thumbprint = $1",
    )
    .bind(thumbprint)
    .fetch_optional(&ctx.db)
    .await?)
}
