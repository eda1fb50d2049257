//! One-time download links. Looking at a link (GET, HEAD, mail scanners)
//! spends nothing; redeeming it (the page's POST) spends it atomically,
//! sets the password of a new account, issues a fresh certificate and
//! builds the package, all in one transaction.

use crate::audit::{audit, Actor, AuditEvent};
use crate::auth::{password, token_hash};
use crate::certificates;
use crate::context::Context;
use crate::error::{Error, Result};
use crate::users::{self, User};
use rand::RngCore;
use sightline_certs::package::{self, Package, PackageInput, PackagePassword, Platform};
use sightline_proto::Secret;

/// What a link is worth right now.
#[derive(Debug)]
pub enum LinkStatus {
    Usable {
        user: User,
        needs_password: bool,
        expires_at: i64,
    },
    /// Spent or expired: the page says so (410).
    Gone,
    /// Never issued (404).
    Unknown,
}

/// Tokens are base64url of 32 bytes; anything else is not looked up.
fn plausible(token: &str) -> bool {
    token.len() == 43
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

pub async fn status(ctx: &Context, token: &str) -> Result<LinkStatus> {
    let now = ctx.clock.now();
    // Unknown and expired tokens cost the same: one indexed lookup.
    let hash = token_hash(token);
    let row: Option<(i64, i64, Option<i64>, crate::db::Flag)> = sqlx::query_as(
        "SELECT l.user_id, l.expires_at, l.used_at, u.password_hash IS NULL
         FROM download_links l JOIN users u ON u.id = l.user_id WHERE l.token_hash = $1",
    )
    .bind(&hash)
    .fetch_optional(&ctx.db)
    .await?;
    let Some((user_id, expires_at, used_at, needs_password)) = row.filter(|_| plausible(token)) else {
        return Ok(LinkStatus::Unknown);
    };
    if used_at.is_some() || expires_at <= now {
        return Ok(LinkStatus::Gone);
    }
    let user = users::by_id(ctx, user_id)
        .await?
        .ok_or_else(|| Error::NotFound("user".into()))?;
    // A disabled account's mailed link hands out nothing.
    if user.disabled {
        return Ok(LinkStatus::Gone);
    }
    Ok(LinkStatus::Usable {
        user,
        needs_password: needs_password.0,
        expires_at,
    })
}

/// A redeemed link: the package and the password that opens it.
#[derive(Debug)]
pub struct Redeemed {
    pub package: Package,
    pub password: PackagePassword,
    pub username: String,
    pub platform: Platform,
}

/// Why redeeming failed.
#[derive(Debug, thiserror::Error)]
pub enum RedeemError {
    #[error("this link was already used or has expired")]
    Gone,
    #[error("no such link")]
    Unknown,
    #[error("{0}")]
    Password(String),
    #[error(transparent)]
    Other(#[from] Error),
}

pub async fn redeem(
    ctx: &Context,
    token: &str,
    platform: Platform,
    new_password: Option<Secret>,
    client_addr: &str,
) -> Result<Redeemed, RedeemError> {
    let (user, needs_password) = match status(ctx, token).await? {
        LinkStatus::Usable {
            user, needs_password, ..
        } => (user, needs_password),
        LinkStatus::Gone => return Err(RedeemError::Gone),
        LinkStatus::Unknown => return Err(RedeemError::Unknown),
    };
    // The password is checked and hashed before anything is spent, so a
    // weak password costs the user nothing but another try.
    let password_hash = if needs_password {
        let password = new_password.ok_or_else(|| RedeemError::Password("Choose a password.".into()))?;
        password::check_strength(&password, &user.email, &user.username).map_err(|e| match e {
            Error::Invalid { reason, .. } => RedeemError::Password(format!("The password {reason}.")),
            other => RedeemError::Other(other),
        })?;
        let hash = ctx.hasher.hash(password).await?;
        Some(hash)
    } else {
        None
    };

    let now = ctx.clock.now();
    let mut tx = ctx.db.begin().await.map_err(Error::from)?;
    let spent = sqlx::query(
        "UPDATE download_links SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $3",
    )
    .bind(now)
    .bind(token_hash(token))
    .bind(now)
    .execute(&mut *tx)
    .await
    .map_err(Error::from)?;
    if spent.rows_affected() != 1 {
        return Err(RedeemError::Gone);
    }
    if let Some(hash) = password_hash {
        sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2 AND password_hash IS NULL")
            .bind(hash)
            .bind(user.id)
            .execute(&mut *tx)
            .await
            .map_err(Error::from)?;
    }
    let issued = certificates::issue_for_user(
        &mut tx,
        &ctx.ca,
        &user,
        time::Duration::days(i64::from(ctx.config.certs.client_validity_days)),
        certificates::Device::Package(platform.label()),
        ctx.clock.now_datetime(),
        Actor::User(&user.username),
    )
    .await?;
    let mut random = [0u8; 15];
    rand::rngs::OsRng.fill_bytes(&mut random);
    let package_password = PackagePassword::from_random(random);
    let server_anchor = crate::server_cert::operator_anchor_pem(&ctx.config.tls)?;
    let input = PackageInput {
        username: &user.username,
        email: &user.email,
        cert_pem: &issued.cert_pem,
        cert_der: &issued.cert_der,
        key_pem: &issued.key_pem,
        ca_pem: &ctx.ca_pem,
        ca_der: ctx.ca.cert_der(),
        server_anchor_pem: server_anchor.as_deref(),
        server_url: &ctx.config.server.public_url,
        password: &package_password,
        now: ctx.clock.now_datetime(),
    };
    let package = package::build(platform, &input).map_err(Error::from)?;
    audit(
        &mut *tx,
        now,
        AuditEvent {
            actor: Actor::User(&user.username),
            action: "cert.download",
            subject: Some(&user.username),
            client_addr: Some(client_addr.to_owned()),
            detail: Some(&format!(
                "{}; certificate {}",
                platform.as_str(),
                issued.info.serial_hex
            )),
        },
    )
    .await?;
    tx.commit().await.map_err(Error::from)?;
    Ok(Redeemed {
        package,
        password: package_password,
        username: user.username,
        platform,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_well_formed_tokens_are_plausible() {
        assert!(plausible(&crate::auth::random_token()));
        assert!(!plausible("short"));
        assert!(!plausible(&"é".repeat(22)));
    }
}
