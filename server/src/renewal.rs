//! Client certificates that renew themselves. A device proves its current
//! certificate in the TLS handshake and sends a signing request for a key
//! it made itself; it gets a certificate for the same user and device with
//! a fresh validity (the subject from the records, never the request).
//!
//! The replaced certificate stays valid until its successor is first used
//! (a refresh or login over it) or the grace period ends
//! (`[certs] renewal_grace_hours`), and is then revoked as `superseded`, so
//! an answer lost on the way cannot strand a device. At that first use the
//! old certificate's login sessions move to the new one: the refresh that
//! follows a renewal goes on with no new login.

use crate::audit::Actor;
use crate::certificates::{self, Device};
use crate::context::Context;
use crate::error::{Error, Result};
use crate::users::User;
use sightline_certs::device::DeviceRequest;
use sightline_certs::{CertError, IssuedCertificate, RevocationReason, Validity};

/// Renewals one certificate may make within [`RATE_WINDOW_SECS`]: enough
/// to retry after lost answers, too few to mint certificates in bulk.
pub const RENEWALS_PER_WINDOW: i64 = 3;
pub const RATE_WINDOW_SECS: i64 = 3600;

/// The certificate a renewal starts from, as the records have it.
#[derive(Debug, sqlx::FromRow)]
struct Current {
    serial: String,
    user_id: i64,
    key_sha256: Option<Vec<u8>>,
    not_after: i64,
    issued_at: i64,
    device: Option<String>,
    revoked_at: Option<i64>,
}

/// Issues a successor to the certificate with `thumbprint` (the one the
/// request's connection presented) for the key in `csr_pem`.
pub async fn renew(ctx: &Context, thumbprint: &[u8], csr_pem: &str) -> Result<IssuedCertificate> {
    let request = DeviceRequest::parse(csr_pem).map_err(|error| match error {
        CertError::Invalid { reason, .. } => Error::InvalidCsr(reason),
        other => Error::InvalidCsr(other.to_string()),
    })?;
    let now = ctx.clock.now();
    let current: Option<Current> = sqlx::query_as(
        "SELECT serial, user_id, key_sha256, not_after, issued_at, device, revoked_at
         FROM certificates WHERE thumbprint = $1",
    )
    .bind(thumbprint)
    .fetch_optional(&ctx.db)
    .await?;
    let current = current.ok_or(Error::ClientCertificateRequired)?;
    if current.revoked_at.is_some() {
        return Err(Error::CertificateRevoked);
    }
    if current.not_after <= now {
        return Err(Error::CertificateExpired);
    }
    let user = crate::users::by_id(ctx, current.user_id)
        .await?
        .ok_or(Error::ClientCertificateRequired)?;
    if user.disabled {
        return Err(Error::AccountDisabled);
    }
    if user.renewal_disabled {
        return Err(Error::RenewalDisabled);
    }
    let key = request.key_sha256();
    let reused = current.key_sha256.as_deref() == Some(key.as_slice())
        || sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM certificates WHERE key_sha256 = $1")
            .bind(key.as_slice())
            .fetch_one(&ctx.db)
            .await?
            > 0;
    if reused {
        return Err(Error::KeyReused);
    }
    let recent: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM certificates WHERE renewed_from = $1 AND issued_at > $2")
            .bind(&current.serial)
            .bind(now - RATE_WINDOW_SECS)
            .fetch_one(&ctx.db)
            .await?;
    if recent >= RENEWALS_PER_WINDOW {
        return Err(Error::RateLimited {
            retry_after: u64::try_from(RATE_WINDOW_SECS).unwrap_or(3600),
            reason:
                "This certificate was renewed several times within the hour; wait before renewing it again.",
        });
    }
    issue_successor(ctx, &user, &current, &request, now).await
}

async fn issue_successor(
    ctx: &Context,
    user: &User,
    current: &Current,
    request: &DeviceRequest,
    now: i64,
) -> Result<IssuedCertificate> {
    // The lifetime the device had: a team that issues short-lived
    // certificates keeps them short.
    let lifetime =
        time::Duration::seconds(current.not_after - current.issued_at).max(certificates::MIN_LIFETIME);
    let issued = ctx.ca.issue_client_for_device(
        &user.username,
        &user.email,
        Validity::lasting(ctx.clock.now_datetime(), lifetime),
        certificates::random_serial(),
        request,
    )?;
    let grace = i64::from(ctx.config.certs.renewal_grace_hours) * 3600;
    let mut tx = ctx.db.begin().await?;
    // The first renewal's deadline stands: renewing again after a lost
    // answer does not stretch the old certificate's life.
    sqlx::query(
        "UPDATE certificates SET superseded_after = $1 WHERE serial = $2 AND superseded_after IS NULL",
    )
    .bind(now + grace)
    .bind(&current.serial)
    .execute(&mut *tx)
    .await?;
    certificates::record_issued(
        &mut tx,
        user,
        &issued,
        Device::Renewal {
            device: current.device.as_deref(),
            renewed_from: &current.serial,
        },
        now,
        Actor::User(&user.username),
    )
    .await?;
    tx.commit().await?;
    tracing::info!(
        user = %user.username,
        old = %current.serial,
        new = %issued.info.serial_hex,
        "client certificate renewed"
    );
    Ok(issued)
}

/// Notes that the renewed certificate `serial` was used: the first time,
/// the login sessions of the certificate it replaced move to it (they are
/// the same device's) and the replaced one is revoked as superseded.
pub async fn note_first_use(ctx: &Context, serial: &str) -> Result<()> {
    let now = ctx.clock.now();
    let renewed_from: Option<Option<String>> = sqlx::query_scalar(
        "UPDATE certificates SET first_used_at = $1 WHERE serial = $2 AND first_used_at IS NULL
         RETURNING renewed_from",
    )
    .bind(now)
    .bind(serial)
    .fetch_optional(&ctx.db)
    .await?;
    if let Some(Some(old)) = renewed_from {
        sqlx::query(
            "UPDATE token_families SET cert_thumbprint = (SELECT thumbprint FROM certificates WHERE serial = $1)
             WHERE cert_thumbprint = (SELECT thumbprint FROM certificates WHERE serial = $2) AND revoked_at IS NULL",
        )
        .bind(serial)
        .bind(&old)
        .execute(&ctx.db)
        .await?;
        supersede(ctx, &old).await?;
    }
    Ok(())
}

/// Revokes, as superseded, every replaced certificate whose grace period
/// has ended without its successor being used. Any instance may run it.
pub async fn supersede_overdue(ctx: &Context) -> Result<usize> {
    let overdue: Vec<String> = sqlx::query_scalar(
        "SELECT serial FROM certificates WHERE superseded_after <= $1 AND revoked_at IS NULL",
    )
    .bind(ctx.clock.now())
    .fetch_all(&ctx.db)
    .await?;
    let mut revoked = 0;
    for serial in overdue {
        if supersede(ctx, &serial).await? {
            revoked += 1;
        }
    }
    Ok(revoked)
}

/// Revokes `serial` as superseded; `false` when it already was revoked
/// (another instance, or an admin, got there first).
async fn supersede(ctx: &Context, serial: &str) -> Result<bool> {
    match certificates::revoke(ctx, serial, RevocationReason::Superseded, Actor::Server).await {
        Ok(_) => {
            tracing::info!(
                serial,
                "a renewed certificate's predecessor was revoked as superseded"
            );
            Ok(true)
        }
        Err(Error::Conflict(_)) => Ok(false),
        Err(error) => Err(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Clock;
    use crate::config::Config;
    use crate::users::NewUser;
    use sightline_certs::device::DeviceKey;
    use sightline_certs::{CertificateAuthority, Serial};

    struct Fixture {
        ctx: Context,
        clock: Clock,
        user: User,
        _dir: tempfile::TempDir,
    }

    async fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::db::testing::sqlite(dir.path()).await;
        let clock = Clock::system();
        let now = time::OffsetDateTime::now_utc();
        let ca =
            CertificateAuthority::create("t", Validity::days_from(now, 3650), Serial::from_random([1; 16]))
                .unwrap();
        let ctx = Context::new(
            db,
            Config::default(),
            ca,
            dir.path().join("outbox"),
            clock.clone(),
        )
        .unwrap();
        let user = crate::users::add(
            &ctx,
            NewUser {
                username: "ada",
                email: "ada@example.com",
                is_admin: false,
                password: None,
            },
            Actor::Cli,
        )
        .await
        .unwrap();
        Fixture {
            ctx,
            clock,
            user,
            _dir: dir,
        }
    }

    impl Fixture {
        /// A certificate from a package, valid for `lifetime` from now.
        async fn package(&self, lifetime: time::Duration) -> IssuedCertificate {
            let mut tx = self.ctx.db.begin().await.unwrap();
            let issued = certificates::issue_for_user(
                &mut tx,
                &self.ctx.ca,
                &self.user,
                lifetime,
                Device::Package("Linux"),
                self.clock.now_datetime(),
                Actor::Cli,
            )
            .await
            .unwrap();
            tx.commit().await.unwrap();
            issued
        }

        async fn renew(&self, from: &IssuedCertificate) -> Result<IssuedCertificate> {
            let device = DeviceKey::generate().unwrap();
            renew(&self.ctx, &from.info.thumbprint_sha256, &device.request_pem).await
        }

        async fn status(&self, serial: &str) -> &'static str {
            let list = certificates::list(&self.ctx).await.unwrap();
            let record = list.iter().find(|c| c.serial == serial).unwrap();
            record.status(self.clock.now())
        }
    }

    #[tokio::test]
    async fn a_renewal_keeps_user_device_and_lifetime_and_the_old_one_until_first_use() {
        let f = fixture().await;
        let old = f.package(time::Duration::minutes(30)).await;
        f.clock.advance(20 * 60);
        let new = f.renew(&old).await.unwrap();
        assert_eq!(new.info.email.as_deref(), Some("ada@example.com"));
        let lifetime = new.info.not_after - new.info.not_before;
        assert_eq!(
            lifetime,
            time::Duration::minutes(33),
            "30 minutes, back-dated by a tenth"
        );
        assert!(new.key_pem.expose().is_empty(), "the key stays on the device");
        let (device, renewed_from): (Option<String>, Option<String>) =
            sqlx::query_as("SELECT device, renewed_from FROM certificates WHERE serial = $1")
                .bind(&new.info.serial_hex)
                .fetch_one(&f.ctx.db)
                .await
                .unwrap();
        assert_eq!(device.as_deref(), Some("Linux (package)"));
        assert_eq!(renewed_from.as_deref(), Some(old.info.serial_hex.as_str()));
        // Both work until the new one is used; then the old one is superseded.
        assert_eq!(f.status(&old.info.serial_hex).await, "valid");
        // The device's login session, bound to the old certificate.
        sqlx::query(
            "INSERT INTO token_families (id, user_id, cert_thumbprint, created_at, expires_at) VALUES ('s', $1, $2, 0, $3)",
        )
        .bind(f.user.id)
        .bind(old.info.thumbprint_sha256.as_slice())
        .bind(f.clock.now() + 3600)
        .execute(&f.ctx.db)
        .await
        .unwrap();
        note_first_use(&f.ctx, &new.info.serial_hex).await.unwrap();
        let (bound, revoked): (Vec<u8>, Option<i64>) =
            sqlx::query_as("SELECT cert_thumbprint, revoked_at FROM token_families WHERE id = 's'")
                .fetch_one(&f.ctx.db)
                .await
                .unwrap();
        assert_eq!(
            bound, new.info.thumbprint_sha256,
            "the session moved to the new certificate"
        );
        assert_eq!(revoked, None, "and goes on");
        assert_eq!(f.status(&old.info.serial_hex).await, "superseded");
        assert_eq!(f.status(&new.info.serial_hex).await, "valid");
        // A second use changes nothing.
        note_first_use(&f.ctx, &new.info.serial_hex).await.unwrap();
        let actions: Vec<String> = sqlx::query_scalar("SELECT action FROM audit_events ORDER BY id")
            .fetch_all(&f.ctx.db)
            .await
            .unwrap();
        assert!(actions.contains(&"cert.renew".to_owned()), "{actions:?}");
        assert_eq!(actions.iter().filter(|a| *a == "cert.revoke").count(), 1);
    }

    #[tokio::test]
    async fn an_unused_renewal_supersedes_the_old_one_after_the_grace_period() {
        let f = fixture().await;
        let old = f.package(time::Duration::days(365)).await;
        f.clock.advance(250 * 86_400);
        f.renew(&old).await.unwrap();
        // The answer was lost: the device renews again, and the first
        // deadline stands.
        f.clock.advance(3600);
        f.renew(&old).await.unwrap();
        f.clock.advance(22 * 3600);
        assert_eq!(supersede_overdue(&f.ctx).await.unwrap(), 0);
        assert_eq!(f.status(&old.info.serial_hex).await, "valid");
        f.clock.advance(3600);
        assert_eq!(supersede_overdue(&f.ctx).await.unwrap(), 1);
        assert_eq!(f.status(&old.info.serial_hex).await, "superseded");
        assert_eq!(supersede_overdue(&f.ctx).await.unwrap(), 0);
        assert!(matches!(f.renew(&old).await, Err(Error::CertificateRevoked)));
    }

    #[tokio::test]
    async fn renewal_is_refused_clearly() {
        let f = fixture().await;
        let cert = f.package(time::Duration::days(30)).await;

        // A request that is not one, or whose signature was changed.
        let refused = renew(&f.ctx, &cert.info.thumbprint_sha256, "hello").await;
        assert!(matches!(refused, Err(Error::InvalidCsr(_))), "{refused:?}");
        let device = DeviceKey::generate().unwrap();
        let mut der = data_encoding::BASE64_MIME
            .decode(
                device
                    .request_pem
                    .lines()
                    .filter(|l| !l.starts_with("-----"))
                    .collect::<String>()
                    .as_bytes(),
            )
            .unwrap();
        let at = der.windows(6).position(|w| w == b"device").unwrap();
        der[at] ^= 0x20;
        let tampered = format!(
            "-----BEGIN CERTIFICATE REQUEST-----\n{}\n-----END CERTIFICATE REQUEST-----\n",
            data_encoding::BASE64.encode(&der)
        );
        match renew(&f.ctx, &cert.info.thumbprint_sha256, &tampered).await {
            Err(Error::InvalidCsr(reason)) => assert!(reason.contains("signature"), "{reason}"),
            other => panic!("{other:?}"),
        }

        // A request asking for another identity gets this user's anyway.
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["admin.example".to_owned()]).unwrap();
        params.distinguished_name.push(rcgen::DnType::CommonName, "root");
        let other = params.serialize_request(&key).unwrap().pem().unwrap();
        let issued = renew(&f.ctx, &cert.info.thumbprint_sha256, &other).await.unwrap();
        let (_, parsed) = x509_parser::parse_x509_certificate(&issued.cert_der).unwrap();
        assert!(
            parsed.subject().to_string().contains("CN=ada"),
            "{}",
            parsed.subject()
        );
        let names = format!("{:?}", parsed.subject_alternative_name().unwrap().unwrap().value);
        assert!(!names.contains("admin.example"), "{names}");

        // The same key again.
        let again = renew(&f.ctx, &issued.info.thumbprint_sha256, &other).await;
        assert!(matches!(again, Err(Error::KeyReused)), "{again:?}");

        // Too often from one certificate.
        for _ in 0..2 {
            f.renew(&cert).await.unwrap();
        }
        assert!(matches!(f.renew(&cert).await, Err(Error::RateLimited { .. })));

        // Turned off for the user, then a disabled user.
        let fresh = f.package(time::Duration::days(30)).await;
        crate::users::set_renewal(&f.ctx, "ada", false, Actor::Cli)
            .await
            .unwrap();
        assert!(matches!(f.renew(&fresh).await, Err(Error::RenewalDisabled)));
        crate::users::set_renewal(&f.ctx, "ada", true, Actor::Cli)
            .await
            .unwrap();
        crate::users::set_disabled(&f.ctx, "ada", true, Actor::Cli)
            .await
            .unwrap();
        assert!(matches!(f.renew(&fresh).await, Err(Error::AccountDisabled)));
        crate::users::set_disabled(&f.ctx, "ada", false, Actor::Cli)
            .await
            .unwrap();

        // Revoked, then expired.
        certificates::revoke(
            &f.ctx,
            &fresh.info.serial_hex,
            RevocationReason::KeyCompromise,
            Actor::Cli,
        )
        .await
        .unwrap();
        assert!(matches!(f.renew(&fresh).await, Err(Error::CertificateRevoked)));
        let short = f.package(time::Duration::minutes(10)).await;
        f.clock.advance(11 * 60);
        assert!(matches!(f.renew(&short).await, Err(Error::CertificateExpired)));
        // A certificate the server never issued.
        let device = DeviceKey::generate().unwrap();
        let unknown = renew(&f.ctx, &[7; 32], &device.request_pem).await;
        assert!(matches!(unknown, Err(Error::ClientCertificateRequired)));
    }
}
