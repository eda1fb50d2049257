//! User accounts: the operations the command line and the admin pages
//! perform. Every change is audited.

use crate::announce::{self, Announcement};
use crate::audit::{audit, Actor, AuditEvent};
use crate::auth::password;
use crate::context::Context;
use crate::error::{Error, Result};
use sightline_proto::Secret;

pub const MAX_USERNAME_LEN: usize = 64;
pub const MAX_EMAIL_LEN: usize = 254;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub email: String,
    #[sqlx(try_from = "crate::db::Flag")]
    pub is_admin: bool,
    #[sqlx(try_from = "crate::db::Flag")]
    pub disabled: bool,
    #[sqlx(try_from = "crate::db::Flag")]
    pub totp_enrolled: bool,
    /// An admin turned certificate renewal off for this user.
    #[sqlx(try_from = "crate::db::Flag")]
    pub renewal_disabled: bool,
    pub created_at: i64,
}

const USER_COLUMNS: &str =
    "id, username, email, is_admin, disabled, totp_secret IS NOT NULL AS totp_enrolled, renewal_disabled, created_at";

/// Usernames: 1–64 of `a-z 0-9 . _ -`, starting with a letter or digit.
pub fn validate_username(username: &str) -> Result<()> {
    let valid_chars = username
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
    let starts_well = username
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if username.is_empty() || username.len() > MAX_USERNAME_LEN || !valid_chars || !starts_well {
        return Err(Error::invalid(
            "username",
            format!("use 1–{MAX_USERNAME_LEN} lower-case letters, digits, '.', '_' or '-', starting with a letter or digit"),
        ));
    }
    Ok(())
}

/// An e-mail address that mail to it can be written for. lettre's
/// [`Address`](lettre::Address) decides the syntax (local part and
/// domain), so what it cannot mail, such as `a<b@x.com`, is refused when
/// it is submitted and not when the approval mail is written. The address
/// must also read back unchanged as the bare mailbox of a `To:` header
/// (that is how the outbox parses it). On top of lettre's rules, a
/// practical subset: ASCII only, since certificates carry the address as
/// an IA5String; no quoted local part, which every place that shows or
/// stores the address would have to quote; and a dotted host name or
/// `localhost`, not an IP address, which lettre allows but no user's
/// mailbox is at.
pub fn validate_email(email: &str) -> Result<()> {
    let invalid = || Error::invalid("e-mail address", format!("{email:?} is not a valid address"));
    if email.len() > MAX_EMAIL_LEN
        || !email.is_ascii()
        || email
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control() || b == b'"' || b == b'\\')
    {
        return Err(invalid());
    }
    let address: lettre::Address = email.parse().map_err(|_| invalid())?;
    let mailbox: lettre::message::Mailbox = email.parse().map_err(|_| invalid())?;
    if mailbox.name.is_some() || mailbox.email != address {
        return Err(invalid());
    }
    let domain = address.domain();
    let host_name = domain.contains('.')
        && domain.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
        && domain.parse::<std::net::IpAddr>().is_err();
    if !(host_name || domain == "localhost") {
        return Err(invalid());
    }
    Ok(())
}

#[derive(Debug)]
pub struct NewUser<'a> {
    pub username: &'a str,
    pub email: &'a str,
    pub is_admin: bool,
    /// `None` leaves the account without a password until one is set.
    pub password: Option<Secret>,
}

/// Creates a user; the password is strength-checked and hashed off the
/// async runtime.
pub async fn add(ctx: &Context, new: NewUser<'_>, actor: Actor<'_>) -> Result<User> {
    let now = ctx.clock.now();
    validate_username(new.username)?;
    validate_email(new.email)?;
    let hash = match new.password {
        Some(password) => {
            password::check_strength(&password, new.email, new.username)?;
            Some(ctx.hasher.hash(password).await?)
        }
        None => None,
    };
    let mut tx = ctx.db.begin().await?;
    let id = insert(&mut tx, now, new.username, new.email, new.is_admin, hash, actor).await?;
    tx.commit().await?;
    by_id(ctx, id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("user {id}")))
}

/// Inserts a validated user inside the caller's transaction.
pub async fn insert(
    conn: &mut sqlx::AnyConnection,
    now: i64,
    username: &str,
    email: &str,
    is_admin: bool,
    password_hash: Option<String>,
    actor: Actor<'_>,
) -> Result<i64> {
    let exists: Option<(String,)> = sqlx::query_as(
        "SELECT username FROM users WHERE lower(username) = lower($1) OR lower(email) = lower($2)",
    )
    .bind(username)
    .bind(email)
    .fetch_optional(&mut *conn)
    .await?;
    if exists.is_some() {
        return Err(Error::Conflict(format!(
            "a user named {username:?} or with the e-mail address {email:?}"
        )));
    }
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO users (username, email, password_hash, is_admin, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(username)
    .bind(email)
    .bind(password_hash)
    .bind(crate::db::flag(is_admin))
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    let detail = if is_admin { Some("admin") } else { None };
    audit(
        &mut *conn,
        now,
        AuditEvent {
            actor,
            action: "user.add",
            subject: Some(username),
            client_addr: None,
            detail,
        },
    )
    .await?;
    Ok(id)
}

/// A free username derived from an e-mail address: the local part, reduced
/// to the allowed characters, with `-2`, `-3`, ... appended when taken.
pub async fn derive_username(conn: &mut sqlx::AnyConnection, email: &str) -> Result<String> {
    let local = email.split('@').next().unwrap_or_default().to_ascii_lowercase();
    let mut base: String = local
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .skip_while(|c| !c.is_ascii_alphanumeric())
        .take(MAX_USERNAME_LEN - 6)
        .collect();
    if base.is_empty() {
        base = "user".into();
    }
    for n in 1..10_000 {
        let candidate = if n == 1 {
            base.clone()
        } else {
            format!("{base}-{n}")
        };
        let taken: Option<i64> = sqlx::query_scalar("SELECT id FROM users WHERE lower(username) = lower($1)")
            .bind(&candidate)
            .fetch_optional(&mut *conn)
            .await?;
        if taken.is_none() {
            return Ok(candidate);
        }
    }
    Err(Error::Conflict(format!("every username derived from {email:?}")))
}

pub async fn by_id(ctx: &Context, id: i64) -> Result<Option<User>> {
    Ok(
        sqlx::query_as::<_, User>(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
            .bind(id)
            .fetch_optional(&ctx.db)
            .await?,
    )
}

pub async fn by_username(ctx: &Context, username: &str) -> Result<Option<User>> {
    Ok(sqlx::query_as::<_, User>(&format!(
        "SELECT {USER_COLUMNS} FROM users WHERE lower(username) = lower($1)"
    ))
    .bind(username)
    .fetch_optional(&ctx.db)
    .await?)
}

pub async fn require(ctx: &Context, username: &str) -> Result<User> {
    by_username(ctx, username)
        .await?
        .ok_or_else(|| Error::NotFound(format!("user {username:?}")))
}

pub async fn list(ctx: &Context) -> Result<Vec<User>> {
    Ok(
        sqlx::query_as::<_, User>(&format!("SELECT {USER_COLUMNS} FROM users ORDER BY username"))
            .fetch_all(&ctx.db)
            .await?,
    )
}

/// Disables (or re-enables) an account. Disabling ends every login session
/// at once: the user's next request is refused.
pub async fn set_disabled(ctx: &Context, username: &str, disabled: bool, actor: Actor<'_>) -> Result<()> {
    let now = ctx.clock.now();
    let user = require(ctx, username).await?;
    let mut tx = ctx.db.begin().await?;
    sqlx::query("UPDATE users SET disabled = $1 WHERE id = $2")
        .bind(crate::db::flag(disabled))
        .bind(user.id)
        .execute(&mut *tx)
        .await?;
    if disabled {
        end_sessions(&mut tx, user.id, now, "account disabled").await?;
        // A mailed link must not hand a disabled account a certificate.
        sqlx::query("UPDATE download_links SET used_at = $1 WHERE user_id = $2 AND used_at IS NULL")
            .bind(now)
            .bind(user.id)
            .execute(&mut *tx)
            .await?;
    }
    let action = if disabled { "user.disable" } else { "user.enable" };
    audit(&mut *tx, now, AuditEvent::of(actor, action, username)).await?;
    tx.commit().await?;
    ctx.sessions.forget_user(user.id);
    Ok(())
}

/// Lets a user's devices renew their certificates, or stops them (their
/// certificates then run out, and the user asks for access again).
pub async fn set_renewal(ctx: &Context, username: &str, allowed: bool, actor: Actor<'_>) -> Result<()> {
    let now = ctx.clock.now();
    let user = require(ctx, username).await?;
    let mut tx = ctx.db.begin().await?;
    sqlx::query("UPDATE users SET renewal_disabled = $1 WHERE id = $2")
        .bind(crate::db::flag(!allowed))
        .bind(user.id)
        .execute(&mut *tx)
        .await?;
    let action = if allowed {
        "user.renewal-allow"
    } else {
        "user.renewal-deny"
    };
    audit(&mut *tx, now, AuditEvent::of(actor, action, username)).await?;
    tx.commit().await?;
    Ok(())
}

/// Grants or withdraws administrator rights.
pub async fn set_admin(ctx: &Context, username: &str, is_admin: bool, actor: Actor<'_>) -> Result<()> {
    let now = ctx.clock.now();
    let user = require(ctx, username).await?;
    let mut tx = ctx.db.begin().await?;
    sqlx::query("UPDATE users SET is_admin = $1 WHERE id = $2")
        .bind(crate::db::flag(is_admin))
        .bind(user.id)
        .execute(&mut *tx)
        .await?;
    let action = if is_admin { "user.promote" } else { "user.demote" };
    audit(&mut *tx, now, AuditEvent::of(actor, action, username)).await?;
    announce::send(&mut tx, Announcement::AccessChanged(user.id)).await?;
    tx.commit().await?;
    ctx.sessions.forget_user(user.id);
    Ok(())
}

/// Forgets the user's second factor and recovery codes; the next login
/// enrols a new authenticator. Open sessions end.
pub async fn reset_two_factor(ctx: &Context, username: &str, actor: Actor<'_>) -> Result<()> {
    let now = ctx.clock.now();
    let user = require(ctx, username).await?;
    let mut tx = ctx.db.begin().await?;
    sqlx::query(
        "UPDATE users SET totp_secret = NULL, totp_pending_secret = NULL, totp_last_step = NULL,
         totp_failures = 0, totp_lockouts = 0, totp_locked_until = 0 WHERE id = $1",
    )
    .bind(user.id)
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
        .bind(user.id)
        .execute(&mut *tx)
        .await?;
    end_sessions(&mut tx, user.id, now, "second factor reset").await?;
    audit(&mut *tx, now, AuditEvent::of(actor, "user.reset_2fa", username)).await?;
    tx.commit().await?;
    ctx.sessions.forget_user(user.id);
    Ok(())
}

/// Ends every login and admin session of `user_id` inside the caller's
/// transaction, and announces it to the other instances.
async fn end_sessions(tx: &mut sqlx::AnyConnection, user_id: i64, now: i64, reason: &str) -> Result<()> {
    announce::send(tx, Announcement::AccessChanged(user_id)).await?;
    sqlx::query(
        "UPDATE token_families SET revoked_at = $1, revoked_reason = $2 WHERE user_id = $3 AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(reason)
    .bind(user_id)
    .execute(&mut *tx)
    .await?;
    // Browser sessions on the admin pages end too.
    sqlx::query("UPDATE admin_sessions SET ended_at = $1 WHERE user_id = $2 AND ended_at IS NULL")
        .bind(now)
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        assert!(validate_username("ada").is_ok());
        assert!(validate_username("ada.lovelace-1_x").is_ok());
        assert!(validate_username("").is_err());
        assert!(validate_username("Ada").is_err());
        assert!(validate_username("-ada").is_err());
        assert!(validate_username("ada lovelace").is_err());
        assert!(validate_username(&"a".repeat(65)).is_err());
    }

    #[test]
    fn emails() {
        assert!(validate_email("ada@example.com").is_ok());
        assert!(validate_email("admin@localhost").is_ok());
        assert!(validate_email("ada@example").is_err());
        assert!(validate_email("ada example.com").is_err());
        assert!(validate_email("@example.com").is_err());
        assert!(validate_email("ada@@example.com").is_err());
        assert!(validate_email("ada@exa mple.com").is_err());
        assert!(validate_email("zoë@example.com").is_err());
        assert!(validate_email("ada@-example.com").is_err());
    }

    /// What lettre's own syntax check refuses, and what it accepts but the
    /// practical rules above do not.
    #[test]
    fn emails_through_lettre() {
        assert!(validate_email("ada.lovelace+work@mail.example.co.uk").is_ok());
        assert!(validate_email("o'brien@example.com").is_ok());
        // Refused by lettre: mailbox syntax in the address.
        assert!(validate_email("a<b@x.com").is_err());
        assert!(validate_email("a>b@x.com").is_err());
        assert!(validate_email("Ada <ada@example.com>").is_err());
        assert!(validate_email("<ada@example.com>").is_err());
        assert!(validate_email("a,b@x.com").is_err());
        assert!(validate_email("a;b@x.com").is_err());
        assert!(validate_email("a:b@x.com").is_err());
        assert!(validate_email("a(b)@x.com").is_err());
        assert!(validate_email(".ada@example.com").is_err());
        assert!(validate_email("ada..lovelace@example.com").is_err());
        assert!(validate_email(&format!("{}@example.com", "a".repeat(65))).is_err());
        // Accepted by lettre, refused here.
        assert!("\"a<b\"@x.com".parse::<lettre::Address>().is_ok());
        assert!(validate_email("\"a<b\"@x.com").is_err());
        assert!(validate_email("ada@[192.0.2.1]").is_err());
        assert!(validate_email("ada@192.0.2.1").is_err());
        assert!(validate_email("ada@example").is_err());
        assert!(validate_email("ada@bücher.example").is_err());
        assert!(validate_email(&format!("ada@{}.com", "a".repeat(250))).is_err());
    }

    #[tokio::test]
    async fn derived_usernames_are_valid_and_unique() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::db::testing::sqlite(dir.path()).await;
        let mut conn = db.acquire().await.unwrap();
        let first = derive_username(&mut conn, "Ada.Lovelace+work@Example.com")
            .await
            .unwrap();
        assert_eq!(first, "ada.lovelace-work");
        validate_username(&first).unwrap();
        insert(&mut conn, 0, &first, "a@example.com", false, None, Actor::Cli)
            .await
            .unwrap();
        assert_eq!(
            derive_username(&mut conn, "ada.lovelace+work@other.org")
                .await
                .unwrap(),
            "ada.lovelace-work-2"
        );
        assert_eq!(derive_username(&mut conn, "__@x.org").await.unwrap(), "user");
    }

    #[tokio::test]
    async fn add_disable_and_reset() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = crate::context::testing::context(dir.path(), crate::clock::Clock::system()).await;
        let user = add(
            &ctx,
            NewUser {
                username: "ada",
                email: "ada@example.com",
                is_admin: false,
                password: Some("violet-otter-harbour".into()),
            },
            Actor::Cli,
        )
        .await
        .unwrap();
        assert!(!user.disabled && !user.is_admin && !user.totp_enrolled);
        let duplicate = add(
            &ctx,
            NewUser {
                username: "ada",
                email: "x@example.com",
                is_admin: false,
                password: None,
            },
            Actor::Cli,
        )
        .await;
        assert!(matches!(duplicate, Err(Error::Conflict(_))));

        let stored: String = sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1")
            .bind(user.id)
            .fetch_one(&ctx.db)
            .await
            .unwrap();
        assert!(stored.starts_with("$argon2id$"));

        set_disabled(&ctx, "ada", true, Actor::Cli).await.unwrap();
        assert!(require(&ctx, "ada").await.unwrap().disabled);
        reset_two_factor(&ctx, "ada", Actor::Cli).await.unwrap();
        let actions: Vec<String> = crate::audit::list(&ctx, 10)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.action)
            .collect();
        assert_eq!(actions, ["user.reset_2fa", "user.disable", "user.add"]);
        assert!(matches!(
            set_disabled(&ctx, "nobody", true, Actor::Cli).await,
            Err(Error::NotFound(_))
        ));
    }
}
