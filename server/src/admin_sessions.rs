//! Admin browser sessions: a random cookie (only its SHA-256 stored), a CSRF
//! token for every form, an idle and an absolute timeout, and — when the
//! admin pages require client certificates — the certificate the session
//! was opened with.

use crate::audit::{audit, Actor, AuditEvent};
use crate::auth::{constant_time_eq, random_token, token_hash};
use crate::context::Context;
use crate::error::Result;

pub const COOKIE: &str = "sightline_admin";

/// A live session.
#[derive(Debug, Clone)]
pub struct AdminSession {
    pub user_id: i64,
    pub username: String,
    pub csrf_token: String,
}

/// Opens a session; returns the cookie value and the CSRF token.
pub async fn open(
    ctx: &Context,
    conn: &mut sqlx::AnyConnection,
    user_id: i64,
    thumbprint: &[u8],
    client_addr: &str,
    now: i64,
) -> Result<(String, String)> {
    let cookie = random_token();
    let csrf = random_token();
    sqlx::query(
        "INSERT INTO admin_sessions (id_hash, user_id, csrf_token, cert_thumbprint, client_addr, created_at, last_seen_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(token_hash(&cookie))
    .bind(user_id)
    .bind(&csrf)
    .bind(thumbprint)
    .bind(client_addr)
    .bind(now)
    .bind(now)
    .bind(now + ctx.config.admin.absolute_timeout_secs)
    .execute(conn)
    .await?;
    Ok((cookie, csrf))
}

#[derive(sqlx::FromRow)]
struct Row {
    user_id: i64,
    username: String,
    csrf_token: String,
    cert_thumbprint: Vec<u8>,
    last_seen_at: i64,
    expires_at: i64,
    ended_at: Option<i64>,
    #[sqlx(try_from = "crate::db::Flag")]
    is_admin: bool,
    #[sqlx(try_from = "crate::db::Flag")]
    disabled: bool,
}

/// The session behind a cookie, if it is still good for this connection.
pub async fn find(ctx: &Context, cookie: &str, thumbprint: Option<&[u8]>) -> Result<Option<AdminSession>> {
    let now = ctx.clock.now();
    let hash = token_hash(cookie);
    let row: Option<Row> = sqlx::query_as(
        "SELECT s.user_id, u.username, s.csrf_token, s.cert_thumbprint, s.last_seen_at, s.expires_at, s.ended_at,
                u.is_admin, u.disabled
         FROM admin_sessions s JOIN users u ON u.id = s.user_id WHERE s.id_hash = $1",
    )
    .bind(&hash)
    .fetch_optional(&ctx.db)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let idle = now - row.last_seen_at > ctx.config.admin.idle_timeout_secs;
    let certificate_ok = !ctx.config.admin.require_client_certificate
        || thumbprint
            .is_some_and(|t| !row.cert_thumbprint.is_empty() && constant_time_eq(t, &row.cert_thumbprint));
    if row.ended_at.is_some()
        || idle
        || row.expires_at <= now
        || !row.is_admin
        || row.disabled
        || !certificate_ok
    {
        return Ok(None);
    }
    // Touch at most once a minute: a page view should not always write.
    if now - row.last_seen_at >= 60 {
        sqlx::query("UPDATE admin_sessions SET last_seen_at = $1 WHERE id_hash = $2")
            .bind(now)
            .bind(&hash)
            .execute(&ctx.db)
            .await?;
    }
    Ok(Some(AdminSession {
        user_id: row.user_id,
        username: row.username,
        csrf_token: row.csrf_token,
    }))
}

/// Ends the session behind a cookie.
pub async fn end(ctx: &Context, cookie: &str, username: &str) -> Result<()> {
    let now = ctx.clock.now();
    sqlx::query("UPDATE admin_sessions SET ended_at = $1 WHERE id_hash = $2 AND ended_at IS NULL")
        .bind(now)
        .bind(token_hash(cookie))
        .execute(&ctx.db)
        .await?;
    audit(
        &ctx.db,
        now,
        AuditEvent::of(Actor::User(username), "admin.logout", username),
    )
    .await
}
