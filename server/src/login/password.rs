//! The first step of a login: the password, checked against the account
//! (or a dummy hash, so unknown users cost the same), the certificate the
//! attempt comes with, and the throttles; success hands out a challenge for
//! the second factor and, on a first login, a new TOTP enrolment.

use super::attempt::{LoginGuard, Origin, Purpose};
use crate::audit::{audit, Actor, AuditEvent};
use crate::auth::{random_token, token_hash, totp};
use crate::certificates;
use crate::context::Context;
use crate::error::{Error, Result};
use sightline_proto::{LoginRequest, LoginResponse, Secret, TotpEnrollment};

#[derive(sqlx::FromRow)]
struct PasswordRow {
    id: i64,
    username: String,
    email: String,
    password_hash: Option<String>,
    #[sqlx(try_from = "crate::db::Flag")]
    disabled: bool,
    #[sqlx(try_from = "crate::db::Flag")]
    is_admin: bool,
    totp_secret: Option<String>,
}

pub async fn login(
    ctx: &Context,
    guard: &LoginGuard,
    origin: Origin<'_>,
    request: LoginRequest,
    purpose: Purpose,
) -> Result<LoginResponse> {
    let result = check_password(ctx, guard, origin, request, purpose).await;
    guard.count("password", &result);
    result
}

async fn check_password(
    ctx: &Context,
    guard: &LoginGuard,
    origin: Origin<'_>,
    request: LoginRequest,
    purpose: Purpose,
) -> Result<LoginResponse> {
    if request.username.len() > 256
        || request.password.expose().len() > crate::auth::password::MAX_PASSWORD_LEN
    {
        return Err(Error::TooLong("username or password"));
    }
    let now = ctx.clock.now();
    let account_key = request.username.to_lowercase();
    let client_key = origin.client.to_string();
    // Both throttles count this attempt before the hash is checked (the
    // check and the count are one statement), so parallel guesses are held
    // to the allowance; a success gives the places back.
    let account_attempt = guard.account_throttle.reserve(&ctx.db, &account_key, now).await?;
    let client_attempt = match guard.client_throttle.reserve(&ctx.db, &client_key, now).await {
        Ok(attempt) => attempt,
        Err(error) => {
            guard
                .account_throttle
                .give_back(&ctx.db, &account_key, account_attempt)
                .await?;
            return Err(error);
        }
    };

    let row: Option<PasswordRow> = sqlx::query_as(
        "SELECT id, username, email, password_hash, disabled, is_admin, totp_secret FROM users WHERE lower(username) = lower($1)",
    )
    .bind(&request.username)
    .fetch_optional(&ctx.db)
    .await?;
    // Unknown users and users without a password are checked against a dummy
    // hash, so every attempt costs one argon2 verification.
    let stored = row.as_ref().and_then(|row| row.password_hash.clone());
    let matches = ctx.hasher.verify(request.password, stored).await?;
    let row = match row {
        Some(row) if matches && row.password_hash.is_some() => row,
        _ => {
            guard
                .account_throttle
                .settle_failure(&ctx.db, &account_key, now, account_attempt)
                .await?;
            guard
                .client_throttle
                .settle_failure(&ctx.db, &client_key, now, client_attempt)
                .await?;
            let attempted: String = request.username.chars().take(64).collect();
            audit(
                &ctx.db,
                now,
                AuditEvent {
                    actor: Actor::Anonymous,
                    action: "login.failure",
                    subject: Some(&attempted),
                    client_addr: Some(client_key),
                    detail: Some("password"),
                },
            )
            .await?;
            return Err(Error::InvalidCredentials);
        }
    };
    guard.account_throttle.success(&ctx.db, &account_key).await?;
    guard
        .client_throttle
        .give_back(&ctx.db, &client_key, client_attempt)
        .await?;

    if row.disabled {
        return Err(Error::AccountDisabled);
    }
    if purpose == Purpose::Admin && !row.is_admin {
        return Err(Error::NotAnAdmin);
    }
    let owner = match origin.peer {
        Some(peer) => Some(certificates::owner_by_thumbprint(ctx, &peer.thumbprint).await?),
        None if purpose == Purpose::Admin => None,
        None => return Err(Error::ClientCertificateRequired),
    };
    match owner.flatten() {
        None if origin.peer.is_none() => {}
        None => return Err(Error::ClientCertificateRequired),
        Some(owner) if owner.revoked => return Err(Error::CertificateRevoked),
        Some(owner) if owner.user_id != row.id => return Err(Error::CertificateUserMismatch),
        Some(_) => {}
    }

    let challenge = random_token();
    let ttl = ctx.config.auth.challenge_ttl_secs;
    let mut tx = ctx.db.begin().await?;
    sqlx::query("DELETE FROM login_challenges WHERE expires_at < $1")
        .bind(now)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO login_challenges (challenge_hash, user_id, cert_thumbprint, expires_at, purpose) VALUES ($1, $2, $3, $4, $5)",
    )
        .bind(token_hash(&challenge))
        .bind(row.id)
        .bind(origin.thumbprint())
        .bind(now + i64::try_from(ttl).unwrap_or(300))
        .bind(purpose.as_str())
        .execute(&mut *tx)
        .await?;
    let enrollment = if row.totp_secret.is_none() {
        let secret = totp::generate_secret();
        sqlx::query("UPDATE users SET totp_pending_secret = $1 WHERE id = $2")
            .bind(totp::encode_secret(&secret))
            .bind(row.id)
            .execute(&mut *tx)
            .await?;
        let uri = totp::otpauth_uri(&secret, &row.email);
        let qr_svg = totp::qr_svg(&uri)?;
        Some(TotpEnrollment {
            otpauth_uri: uri,
            qr_svg,
        })
    } else {
        None
    };
    tx.commit().await?;
    tracing::info!(user = %row.username, "password accepted; waiting for second factor");
    Ok(LoginResponse {
        challenge: Secret::new(challenge),
        expires_in: ttl,
        enrollment,
    })
}
