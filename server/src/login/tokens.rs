//! Tokens: a short-lived access token (a JWT bound to the certificate by
//! its thumbprint) and a refresh token in a family; refresh rotates, and a
//! refresh token presented twice ends the whole family.

use super::attempt::{LoginGuard, Origin};
use super::session_cache::CachedSession;
use crate::announce::{self, Announcement};
use crate::audit::{audit, Actor, AuditEvent};
use crate::auth::jwt::{Claims, Confirmation, TokenRejection, AUDIENCE};
use crate::auth::{constant_time_eq, random_token, token_hash};
use crate::certificates;
use crate::context::Context;
use crate::error::{Error, Result};
use sightline_proto::{Secret, TokenResponse};

/// Signs an access token and stores a new refresh token in `family_id`.
pub(super) async fn issue_tokens(
    ctx: &Context,
    guard: &LoginGuard,
    tx: &mut sqlx::AnyConnection,
    user_id: i64,
    family_id: &str,
    thumbprint: &[u8; 32],
    now: i64,
) -> Result<TokenResponse> {
    let refresh = random_token();
    sqlx::query("INSERT INTO refresh_tokens (token_hash, family_id, issued_at) VALUES ($1, $2, $3)")
        .bind(token_hash(&refresh))
        .bind(family_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    let ttl = ctx.config.auth.access_token_ttl_secs;
    let claims = Claims {
        iss: guard.jwt.issuer().to_owned(),
        aud: AUDIENCE.to_owned(),
        sub: user_id.to_string(),
        iat: now,
        exp: now + i64::try_from(ttl).unwrap_or(900),
        jti: random_token(),
        sid: family_id.to_owned(),
        cnf: Confirmation::for_thumbprint(thumbprint),
    };
    Ok(TokenResponse {
        access_token: Secret::new(guard.jwt.sign(&claims)?),
        token_type: "Bearer".into(),
        expires_in: ttl,
        refresh_token: Secret::new(refresh),
        recovery_codes: None,
        policy: ctx.config.policy.client_policy(),
    })
}

#[derive(sqlx::FromRow)]
struct RefreshRow {
    family_id: String,
    used_at: Option<i64>,
    user_id: i64,
    username: String,
    cert_thumbprint: Vec<u8>,
    expires_at: i64,
    #[sqlx(try_from = "crate::db::Flag")]
    revoked: bool,
    #[sqlx(try_from = "crate::db::Flag")]
    disabled: bool,
}

/// Rotates a refresh token. Presenting one that was already rotated means it
/// leaked: the whole family is revoked, the newest token included.
pub async fn refresh(
    ctx: &Context,
    guard: &LoginGuard,
    origin: Origin<'_>,
    token: &Secret,
) -> Result<TokenResponse> {
    let peer = origin.peer.ok_or(Error::ClientCertificateRequired)?;
    let now = ctx.clock.now();
    let hash = token_hash(token.expose());
    let row: Option<RefreshRow> = sqlx::query_as(
        "SELECT r.family_id, r.used_at, f.user_id, u.username, f.cert_thumbprint, f.expires_at,
                f.revoked_at IS NOT NULL AS revoked, u.disabled
         FROM refresh_tokens r JOIN token_families f ON f.id = r.family_id JOIN users u ON u.id = f.user_id
         WHERE r.token_hash = $1",
    )
    .bind(&hash)
    .fetch_optional(&ctx.db)
    .await?;
    let Some(row) = row else {
        return Err(Error::InvalidRefreshToken);
    };
    if row.used_at.is_some() {
        revoke_family(ctx, &row.family_id, now, "refresh token reused").await?;
        audit(
            &ctx.db,
            now,
            AuditEvent {
                actor: Actor::User(&row.username),
                action: "session.revoke",
                subject: Some(&row.username),
                client_addr: Some(origin.client.to_string()),
                detail: Some("refresh token reused"),
            },
        )
        .await?;
        return Err(Error::RefreshTokenReused);
    }
    if row.revoked || row.expires_at <= now {
        return Err(Error::InvalidRefreshToken);
    }
    // A renewed certificate's first use (the refresh's own, noted by the
    // `ClientCert` extractor before this runs) has moved the session to it.
    if !constant_time_eq(&row.cert_thumbprint, &peer.thumbprint) {
        return Err(Error::TokenBindingMismatch);
    }
    if row.disabled {
        return Err(Error::AccountDisabled);
    }
    if let Some(owner) = certificates::owner_by_thumbprint(ctx, &peer.thumbprint).await? {
        if owner.revoked {
            return Err(Error::CertificateRevoked);
        }
    }
    let mut tx = ctx.db.begin().await?;
    let rotated =
        sqlx::query("UPDATE refresh_tokens SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL")
            .bind(now)
            .bind(&hash)
            .execute(&mut *tx)
            .await?;
    if rotated.rows_affected() != 1 {
        drop(tx);
        revoke_family(ctx, &row.family_id, now, "refresh token reused").await?;
        return Err(Error::RefreshTokenReused);
    }
    let tokens = issue_tokens(
        ctx,
        guard,
        &mut tx,
        row.user_id,
        &row.family_id,
        &peer.thumbprint,
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(tokens)
}

/// Ends a login session: its refresh tokens and access tokens stop working.
pub async fn logout(ctx: &Context, family_id: &str, username: &str) -> Result<()> {
    let now = ctx.clock.now();
    revoke_family(ctx, family_id, now, "logout").await?;
    audit(
        &ctx.db,
        now,
        AuditEvent::of(Actor::User(username), "logout", username),
    )
    .await
}

async fn revoke_family(ctx: &Context, family_id: &str, now: i64, reason: &str) -> Result<()> {
    let mut tx = ctx.db.begin().await?;
    let user_id: Option<i64> = sqlx::query_scalar(
        "UPDATE token_families SET revoked_at = $1, revoked_reason = $2 WHERE id = $3 AND revoked_at IS NULL
         RETURNING user_id",
    )
    .bind(now)
    .bind(reason)
    .bind(family_id)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(user_id) = user_id {
        announce::send(&mut tx, Announcement::AccessChanged(user_id)).await?;
    }
    tx.commit().await?;
    if let Some(user_id) = user_id {
        ctx.sessions.forget_user(user_id);
    }
    Ok(())
}

/// What a valid access token stands for.
#[derive(Debug, Clone)]
pub struct Access {
    pub user_id: i64,
    pub username: String,
    pub email: String,
    pub is_admin: bool,
    pub certificate_serial: String,
    /// The login session (refresh-token family) the token belongs to.
    pub family_id: String,
    pub expires_at: i64,
}

#[derive(sqlx::FromRow)]
struct AccessRow {
    username: String,
    email: String,
    #[sqlx(try_from = "crate::db::Flag")]
    is_admin: bool,
    #[sqlx(try_from = "crate::db::Flag")]
    disabled: bool,
    family_user_id: i64,
    #[sqlx(try_from = "crate::db::Flag")]
    family_revoked: bool,
    cert_user_id: Option<i64>,
    cert_serial: Option<String>,
    cert_revoked: Option<crate::db::Flag>,
}

/// Checks an access token presented over the connection of the certificate
/// with `thumbprint`: signed, unexpired, bound to that certificate, and —
/// in one query, or from the session cache on PostgreSQL — its login
/// session open, its account enabled, the certificate known, unrevoked and
/// the user's.
pub async fn check_access_token(
    ctx: &Context,
    guard: &LoginGuard,
    thumbprint: &[u8; 32],
    token: &str,
) -> Result<Access> {
    let claims = guard
        .jwt
        .verify(token, ctx.clock.now())
        .map_err(|rejection| match rejection {
            TokenRejection::Expired => Error::TokenExpired,
            TokenRejection::Invalid => Error::InvalidToken,
        })?;
    let expected = Confirmation::for_thumbprint(thumbprint);
    if !constant_time_eq(claims.cnf.x5t_s256.as_bytes(), expected.x5t_s256.as_bytes()) {
        return Err(Error::TokenBindingMismatch);
    }
    let user_id: i64 = claims.sub.parse().map_err(|_| Error::InvalidToken)?;
    let session = match ctx.sessions.get(&claims.sid, thumbprint) {
        Some(session) => session,
        None => {
            let generation = ctx.sessions.generation();
            let session = session_from_database(ctx, thumbprint, &claims.sid).await?;
            ctx.sessions.put(&claims.sid, session.clone(), generation);
            session
        }
    };
    if session.user_id != user_id {
        return Err(Error::TokenBindingMismatch);
    }
    Ok(Access {
        user_id,
        username: session.username,
        email: session.email,
        is_admin: session.is_admin,
        certificate_serial: session.certificate_serial,
        family_id: claims.sid,
        expires_at: claims.exp,
    })
}

/// The login session `sid` as the database has it, if it is valid over
/// the connection of `thumbprint`'s certificate.
async fn session_from_database(ctx: &Context, thumbprint: &[u8; 32], sid: &str) -> Result<CachedSession> {
    let row: AccessRow = sqlx::query_as(
        "SELECT u.username, u.email, u.is_admin, u.disabled,
                f.user_id AS family_user_id, f.revoked_at IS NOT NULL AS family_revoked,
                c.user_id AS cert_user_id, c.serial AS cert_serial, c.revoked_at IS NOT NULL AS cert_revoked
         FROM token_families f
         JOIN users u ON u.id = f.user_id
         LEFT JOIN certificates c ON c.thumbprint = $1
         WHERE f.id = $2",
    )
    .bind(thumbprint.as_slice())
    .bind(sid)
    .fetch_optional(&ctx.db)
    .await?
    .ok_or(Error::InvalidToken)?;
    let Some(certificate_serial) = row.cert_serial else {
        return Err(Error::ClientCertificateRequired);
    };
    if row.cert_revoked == Some(crate::db::Flag(true)) {
        return Err(Error::CertificateRevoked);
    }
    if row.cert_user_id != Some(row.family_user_id) {
        return Err(Error::TokenBindingMismatch);
    }
    // Disabling an account also ends its sessions; say which happened.
    if row.disabled {
        return Err(Error::AccountDisabled);
    }
    if row.family_revoked {
        return Err(Error::InvalidToken);
    }
    Ok(CachedSession {
        thumbprint: *thumbprint,
        user_id: row.family_user_id,
        username: row.username,
        email: row.email,
        is_admin: row.is_admin,
        certificate_serial,
    })
}
