//! Access requests: submitted on the public page, decided by an admin (from
//! the command line or the admin pages, which both call this module).
//! Approval creates or links the account, creates a one-time download link
//! and mails it; rejection mails the requester too.

use crate::audit::{audit, Actor, AuditEvent};
use crate::auth::{random_token, token_hash};
use crate::clock::format_time;
use crate::context::Context;
use crate::error::{Error, Result};
use crate::mail::OutgoingMail;
use crate::users;
use serde::Serialize;

pub const MAX_NAME_CHARS: usize = 200;
pub const MAX_REASON_CHARS: usize = 2000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RequestState {
    Pending,
    Approved,
    Rejected,
}

impl RequestState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "pending" => Some(Self::Pending),
            "approved" => Some(Self::Approved),
            "rejected" => Some(Self::Rejected),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct AccessRequest {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub reason: Option<String>,
    pub state: String,
    pub created_at: i64,
    pub client_addr: Option<String>,
    pub decided_at: Option<i64>,
    pub decided_by: Option<String>,
    pub note: Option<String>,
    pub user_id: Option<i64>,
}

/// What a requester submits.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct NewRequest {
    pub email: String,
    pub name: String,
    #[serde(default)]
    pub reason: Option<String>,
}

/// Which rule a submission broke.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invalid {
    Email,
    Name(String),
    Reason(String),
}

/// Trims and checks a submission.
pub fn validate(request: &NewRequest) -> Result<NewRequest, Invalid> {
    let email = request.email.trim().to_owned();
    if users::validate_email(&email).is_err() {
        return Err(Invalid::Email);
    }
    // Forms decode invalid UTF-8 to U+FFFD; refuse it rather than store it.
    let unreadable = |text: &str| text.contains('\u{FFFD}');
    if unreadable(&request.name) || request.reason.as_deref().is_some_and(unreadable) {
        return Err(Invalid::Name(
            "The form contained characters that could not be read (not UTF-8).".into(),
        ));
    }
    let name = request.name.trim().to_owned();
    if name.is_empty() {
        return Err(Invalid::Name("Please give your name.".into()));
    }
    if name.chars().count() > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(Invalid::Name(format!(
            "The name must be at most {MAX_NAME_CHARS} characters, without control characters."
        )));
    }
    let reason = request
        .reason
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(str::to_owned);
    if let Some(reason) = &reason {
        let bad_control = reason
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t');
        if reason.chars().count() > MAX_REASON_CHARS || bad_control {
            return Err(Invalid::Reason(format!(
                "The reason must be at most {MAX_REASON_CHARS} characters."
            )));
        }
    }
    Ok(NewRequest { email, name, reason })
}

/// Records a request. A second request from an address that already has a
/// pending one changes nothing. The caller answers the same in every case.
pub async fn submit(ctx: &Context, request: &NewRequest, client_addr: &str) -> Result<()> {
    let now = ctx.clock.now();
    let inserted = sqlx::query(
        "INSERT INTO access_requests (email, name, reason, created_at, client_addr) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT DO NOTHING",
    )
    .bind(&request.email)
    .bind(&request.name)
    .bind(&request.reason)
    .bind(now)
    .bind(client_addr)
    .execute(&ctx.db)
    .await?;
    if inserted.rows_affected() == 1 {
        audit(
            &ctx.db,
            now,
            AuditEvent {
                actor: Actor::Anonymous,
                action: "request.submit",
                subject: Some(&request.email),
                client_addr: Some(client_addr.to_owned()),
                detail: None,
            },
        )
        .await?;
    }
    Ok(())
}

const REQUEST_COLUMNS: &str =
    "id, email, name, reason, state, created_at, client_addr, decided_at, decided_by, note, user_id";

pub async fn list(ctx: &Context, state: Option<RequestState>, limit: i64) -> Result<Vec<AccessRequest>> {
    Ok(sqlx::query_as::<_, AccessRequest>(&format!(
        "SELECT {REQUEST_COLUMNS} FROM access_requests WHERE ($1 IS NULL OR state = $1) ORDER BY created_at DESC, id DESC LIMIT $2"
    ))
    .bind(state.map(RequestState::as_str))
    .bind(limit)
    .fetch_all(&ctx.db)
    .await?)
}

pub async fn get(ctx: &Context, id: i64) -> Result<AccessRequest> {
    sqlx::query_as::<_, AccessRequest>(&format!(
        "SELECT {REQUEST_COLUMNS} FROM access_requests WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(&ctx.db)
    .await?
    .ok_or_else(|| Error::NotFound(format!("access request {id}")))
}

/// The outcome of an approval, for the operator.
#[derive(Debug, Clone)]
pub struct Approved {
    pub request: AccessRequest,
    pub username: String,
    pub created_account: bool,
    pub link_expires_at: i64,
}

/// Approves a pending request: creates the account (or links the one with
/// that address), creates a one-time link, and mails it.
pub async fn approve(ctx: &Context, id: i64, note: Option<&str>, actor: Actor<'_>) -> Result<Approved> {
    let now = ctx.clock.now();
    let request = get(ctx, id).await?;
    if request.state != RequestState::Pending.as_str() {
        return Err(Error::Conflict(format!(
            "a decision on request {id} ({})",
            request.state
        )));
    }
    let mut tx = ctx.db.begin().await?;
    // The decision is taken first: of two admins approving at once (on one
    // instance or two), the second waits on this row and then finds it
    // decided, before either has made an account.
    decide(&mut tx, id, RequestState::Approved, note, &actor, now).await?;
    let existing: Option<(i64, String)> =
        sqlx::query_as("SELECT id, username FROM users WHERE lower(email) = lower($1)")
            .bind(&request.email)
            .fetch_optional(&mut *tx)
            .await?;
    let (user_id, username, created_account) = match existing {
        Some((user_id, username)) => (user_id, username, false),
        None => {
            let username = users::derive_username(&mut tx, &request.email).await?;
            let user_id = users::insert(
                &mut tx,
                now,
                &username,
                &request.email,
                false,
                None,
                actor.clone(),
            )
            .await?;
            (user_id, username, true)
        }
    };
    sqlx::query("UPDATE access_requests SET user_id = $1 WHERE id = $2")
        .bind(user_id)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    let (link, expires_at) = create_link(ctx, &mut tx, user_id, Some(id), now).await?;
    let expiry = format_time(expires_at);
    let mail = OutgoingMail {
        to: request.email.clone(),
        subject: "Your Sightline access is approved".into(),
        body: format!(
            "Hello {name},\n\n\
             Your request for access to Sightline has been approved.\n\n\
             Download your certificate package here. The link works once, until {expiry}:\n\n\
             \x20 {link}\n\n\
             Open it on the computer where you will use Sightline, choose your operating\n\
             system{password_hint}. The page shows the package password once: keep it\n\
             until you have installed the certificate.\n\n\
             Your username: {username}\n\n\
             If you did not ask for access, you can ignore this message.\n",
            name = request.name,
            password_hint = if created_account {
                " and set your password"
            } else {
                ""
            },
        ),
    };
    let detail = format!("request {id}; user {username}");
    let event = AuditEvent {
        detail: Some(&detail),
        ..AuditEvent::of(actor, "request.approve", &request.email)
    };
    conclude(ctx, tx, now, &mail, event).await?;
    Ok(Approved {
        request: get(ctx, id).await?,
        username,
        created_account,
        link_expires_at: expires_at,
    })
}

/// Records the decision on a pending request, or refuses with a conflict
/// when it was decided already (perhaps a moment ago, by another admin).
async fn decide(
    conn: &mut sqlx::AnyConnection,
    id: i64,
    state: RequestState,
    note: Option<&str>,
    actor: &Actor<'_>,
    now: i64,
) -> Result<()> {
    let decided = sqlx::query(
        "UPDATE access_requests SET state = $1, decided_at = $2, decided_by = $3, note = $4
         WHERE id = $5 AND state = 'pending'",
    )
    .bind(state.as_str())
    .bind(now)
    .bind(actor_name(actor))
    .bind(note)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    if decided.rows_affected() != 1 {
        return Err(Error::Conflict(format!("a decision on request {id}")));
    }
    Ok(())
}

/// Rejects a pending request and tells the requester.
pub async fn reject(ctx: &Context, id: i64, note: Option<&str>, actor: Actor<'_>) -> Result<AccessRequest> {
    let now = ctx.clock.now();
    let request = get(ctx, id).await?;
    let mut tx = ctx.db.begin().await?;
    decide(&mut tx, id, RequestState::Rejected, note, &actor, now).await?;
    let note_text = note
        .filter(|n| !n.trim().is_empty())
        .map(|n| format!("A note from the administrator:\n\n  {}\n\n", n.trim()))
        .unwrap_or_default();
    let mail = OutgoingMail {
        to: request.email.clone(),
        subject: "Your Sightline access request".into(),
        body: format!(
            "Hello {name},\n\n\
             Your request for access to Sightline ({email}) was not approved.\n\n\
             {note_text}\
             If you think this is a mistake, please contact your administrator.\n",
            name = request.name,
            email = request.email,
        ),
    };
    let detail = format!("request {id}");
    let event = AuditEvent {
        detail: Some(&detail),
        ..AuditEvent::of(actor, "request.reject", &request.email)
    };
    conclude(ctx, tx, now, &mail, event).await?;
    get(ctx, id).await
}

/// Creates an account for `email` (username derived unless given) and
/// mails it a one-time link to set a password and download a certificate.
pub async fn invite(
    ctx: &Context,
    email: &str,
    username: &str,
    is_admin: bool,
    actor: Actor<'_>,
) -> Result<String> {
    users::validate_email(email)?;
    let now = ctx.clock.now();
    let mut tx = ctx.db.begin().await?;
    let username = if username.is_empty() {
        users::derive_username(&mut tx, email).await?
    } else {
        users::validate_username(username)?;
        username.to_owned()
    };
    let user_id = users::insert(&mut tx, now, &username, email, is_admin, None, actor).await?;
    let (link, expires_at) = create_link(ctx, &mut tx, user_id, None, now).await?;
    let mail = OutgoingMail {
        to: email.to_owned(),
        subject: "Your Sightline account".into(),
        body: format!(
            "Hello,\n\n\
             An administrator created a Sightline account for you. Your username: {username}\n\n\
             Set your password and download your certificate package here. The link works once,\n\
             until {expiry}:\n\n\
             \x20 {link}\n\n\
             Open it on the computer where you will use Sightline. The page shows the package\n\
             password once: keep it until you have installed the certificate.\n",
            expiry = format_time(expires_at),
        ),
    };
    ctx.mailer()?.enqueue(&mut tx, now, &mail).await?;
    tx.commit().await?;
    ctx.deliver_mail_now().await;
    Ok(username)
}

/// Creates a one-time link for `user_id`: 256 random bits, only the hash kept.
pub async fn create_link(
    ctx: &Context,
    conn: &mut sqlx::AnyConnection,
    user_id: i64,
    request_id: Option<i64>,
    now: i64,
) -> Result<(String, i64)> {
    let token = random_token();
    let expires_at = now + i64::from(ctx.config.provisioning.link_ttl_hours) * 3600;
    sqlx::query(
        "INSERT INTO download_links (token_hash, user_id, request_id, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(token_hash(&token))
    .bind(user_id)
    .bind(request_id)
    .bind(now)
    .bind(expires_at)
    .execute(conn)
    .await?;
    let base = ctx.config.server.public_url.trim_end_matches('/');
    Ok((format!("{base}/public/download-certs/{token}"), expires_at))
}

/// Ends a decision: queues the requester's mail and the audit record in the
/// decision's transaction, commits, and tries to deliver at once.
async fn conclude(
    ctx: &Context,
    mut tx: sqlx::Transaction<'_, sqlx::Any>,
    now: i64,
    mail: &OutgoingMail,
    event: AuditEvent<'_>,
) -> Result<()> {
    ctx.mailer()?.enqueue(&mut tx, now, mail).await?;
    audit(&mut *tx, now, event).await?;
    tx.commit().await?;
    ctx.deliver_mail_now().await;
    Ok(())
}

fn actor_name(actor: &Actor<'_>) -> String {
    match actor {
        Actor::Cli => "cli".into(),
        Actor::User(name) | Actor::Web(name, _) => (*name).to_owned(),
        Actor::Anonymous => "anonymous".into(),
        Actor::Server => "server".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(email: &str, name: &str, reason: Option<&str>) -> NewRequest {
        NewRequest {
            email: email.into(),
            name: name.into(),
            reason: reason.map(Into::into),
        }
    }

    #[test]
    fn validation() {
        let ok = validate(&request(" ada@example.com ", " Ada ", Some("  "))).unwrap();
        assert_eq!(
            (ok.email.as_str(), ok.name.as_str(), ok.reason),
            ("ada@example.com", "Ada", None)
        );
        assert_eq!(
            validate(&request("nope", "Ada", None)).unwrap_err(),
            Invalid::Email
        );
        assert!(matches!(
            validate(&request("a@b.co", "", None)),
            Err(Invalid::Name(_))
        ));
        assert!(matches!(
            validate(&request("a@b.co", &"x".repeat(201), None)),
            Err(Invalid::Name(_))
        ));
        assert!(matches!(
            validate(&request("a@b.co", "A", Some(&"x".repeat(2001)))),
            Err(Invalid::Reason(_))
        ));
        // Markup is stored as given; pages escape it.
        assert!(validate(&request(
            "a@b.co",
            "<script>x</script>",
            Some("<b>hi</b>\nthanks")
        ))
        .is_ok());
    }
}
