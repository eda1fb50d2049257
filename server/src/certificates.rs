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

/// The device a certificate was made for, as admins see it.
#[derive(Debug, Clone, Copy)]
pub enum Device<'a> {
    /// Downloaded as the package for this platform.
    Package(&'a str),
    /// Written by `sightline-server cert issue` or `init`.
    CommandLine,
    /// Renewed by the device that held `renewed_from`; the device stays.
    Renewal {
        device: Option<&'a str>,
        renewed_from: &'a str,
    },
}

impl Device<'_> {
    fn name(&self) -> Option<String> {
        match self {
            Self::Package(platform) => Some(format!("{platform} (package)")),
            Self::CommandLine => Some("command line".to_owned()),
            Self::Renewal { device, .. } => device.map(str::to_owned),
        }
    }

    fn renewed_from(&self) -> Option<&str> {
        match self {
            Self::Renewal { renewed_from, .. } => Some(renewed_from),
            _ => None,
        }
    }
}

/// Records a certificate just signed for `user`, inside the caller's
/// transaction, and audits it.
pub async fn record_issued(
    conn: &mut sqlx::AnyConnection,
    user: &User,
    issued: &IssuedCertificate,
    device: Device<'_>,
    now: i64,
    actor: Actor<'_>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO certificates (serial, user_id, thumbprint, key_sha256, not_before, not_after, issued_at, device, renewed_from)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&issued.info.serial_hex)
    .bind(user.id)
    .bind(issued.info.thumbprint_sha256.as_slice())
    .bind(issued.info.key_sha256.as_slice())
    .bind(issued.info.not_before.unix_timestamp())
    .bind(issued.info.not_after.unix_timestamp())
    .bind(now)
    .bind(device.name())
    .bind(device.renewed_from())
    .execute(&mut *conn)
    .await?;
    let detail = match device.renewed_from() {
        Some(old) => format!("{} (renews {old})", issued.info.serial_hex),
        None => issued.info.serial_hex.clone(),
    };
    audit(
        &mut *conn,
        now,
        AuditEvent {
            actor,
            action: if device.renewed_from().is_some() {
                "cert.renew"
            } else {
                "cert.issue"
            },
            subject: Some(&user.username),
            client_addr: None,
            detail: Some(&detail),
        },
    )
    .await
}

/// Issues a client certificate (with a key made here, for a package or the
/// command line) for `user` and records it, inside the caller's
/// transaction (so a download link is spent only if issuance succeeds, for
/// example).
pub async fn issue_for_user(
    conn: &mut sqlx::AnyConnection,
    ca: &CertificateAuthority,
    user: &User,
    lifetime: time::Duration,
    device: Device<'_>,
    now: time::OffsetDateTime,
    actor: Actor<'_>,
) -> Result<IssuedCertificate> {
    let issued = ca.issue_client(
        &user.username,
        &user.email,
        Validity::lasting(now, lifetime),
        random_serial(),
    )?;
    record_issued(conn, user, &issued, device, now.unix_timestamp(), actor).await?;
    Ok(issued)
}

/// The shortest certificate lifetime issued: long enough to connect and
/// renew at two thirds of it.
pub const MIN_LIFETIME: time::Duration = time::Duration::seconds(60);

/// Issues a certificate for `username` with the CA of `ctx`, valid for
/// `lifetime`.
pub async fn issue(
    ctx: &Context,
    username: &str,
    lifetime: time::Duration,
    actor: Actor<'_>,
) -> Result<(User, IssuedCertificate)> {
    if lifetime < MIN_LIFETIME {
        return Err(Error::invalid("validity", "must be at least one minute"));
    }
    if lifetime > time::Duration::days(3650) {
        return Err(Error::invalid("validity", "must be at most 3650 days"));
    }
    let user = crate::users::require(ctx, username).await?;
    let mut tx = ctx.db.begin().await?;
    let issued = issue_for_user(
        &mut tx,
        &ctx.ca,
        &user,
        lifetime,
        Device::CommandLine,
        ctx.clock.now_datetime(),
        actor,
    )
    .await?;
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
    /// What it was made for (a package's platform, the command line); a
    /// renewal keeps its predecessor's.
    pub device: Option<String>,
    /// The certificate this one renewed.
    pub renewed_from: Option<String>,
    /// A renewal's first use, which superseded its predecessor.
    pub first_used_at: Option<i64>,
}

impl CertificateRecord {
    pub fn status(&self, now: i64) -> &'static str {
        if self.revocation_reason.as_deref() == Some(RevocationReason::Superseded.as_str()) {
            "superseded"
        } else if self.revoked_at.is_some() {
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
        "SELECT c.serial, u.username, u.email, c.issued_at, c.not_after, c.revoked_at, c.revocation_reason,
                c.device, c.renewed_from, c.first_used_at
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
    // The write comes first: on SQLite a transaction that read first
    // cannot take the write lock once another connection has written
    // (busy at once, not after a wait). Of two revocations at once, the
    // second finds the row revoked here.
    let revoked: Option<(i64, Vec<u8>)> = sqlx::query_as(
        "UPDATE certificates SET revoked_at = $1, revocation_reason = $2 WHERE serial = $3 AND revoked_at IS NULL
         RETURNING user_id, thumbprint",
    )
    .bind(now)
    .bind(reason.as_str())
    .bind(serial)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((user_id, thumbprint)) = revoked else {
        let exists: Option<String> = sqlx::query_scalar("SELECT serial FROM certificates WHERE serial = $1")
            .bind(serial)
            .fetch_optional(&mut *tx)
            .await?;
        return Err(match exists {
            Some(_) => Error::Conflict(format!("certificate {serial} is already revoked; a revocation")),
            None => Error::NotFound(format!("certificate {serial}")),
        });
    };
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
    /// A renewed certificate not used before: its first use supersedes
    /// the one it replaced (see `renewal`).
    #[sqlx(try_from = "crate::db::Flag")]
    pub awaiting_first_use: bool,
}

pub async fn owner_by_thumbprint(ctx: &Context, thumbprint: &[u8]) -> Result<Option<CertificateOwner>> {
    Ok(sqlx::query_as::<_, CertificateOwner>(
        "SELECT serial, user_id, revoked_at IS NOT NULL AS revoked,
                renewed_from IS NOT NULL AND first_used_at IS NULL AS awaiting_first_use
         FROM certificates WHERE thumbprint = $1",
    )
    .bind(thumbprint)
    .fetch_optional(&ctx.db)
    .await?)
}
