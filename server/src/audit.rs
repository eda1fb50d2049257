//! The audit trail: who did what to whom, from where, and when. Every
//! change of accounts, certificates, requests and modes records an event in
//! the same transaction; the admin pages and `audit list` read it back.

use crate::context::Context;
use crate::error::Result;

/// Who did something, for the audit trail.
#[derive(Debug, Clone)]
pub enum Actor<'a> {
    /// The command line on the server host.
    Cli,
    User(&'a str),
    /// A user acting through the admin pages, from this address.
    Web(&'a str, std::net::IpAddr),
    Anonymous,
    /// The server on its own schedule (a renewal's grace period ending).
    Server,
}

impl Actor<'_> {
    fn name(&self) -> String {
        match self {
            Self::Cli => "cli".into(),
            Self::User(name) | Self::Web(name, _) => format!("user:{name}"),
            Self::Anonymous => "anonymous".into(),
            Self::Server => "server".into(),
        }
    }
}

/// One audit record. `detail` must never hold a secret.
#[derive(Debug)]
pub struct AuditEvent<'a> {
    pub actor: Actor<'a>,
    pub action: &'a str,
    pub subject: Option<&'a str>,
    pub client_addr: Option<String>,
    pub detail: Option<&'a str>,
}

impl<'a> AuditEvent<'a> {
    /// An event with no address or detail beyond the actor's.
    pub fn of(actor: Actor<'a>, action: &'a str, subject: &'a str) -> Self {
        Self {
            actor,
            action,
            subject: Some(subject),
            client_addr: None,
            detail: None,
        }
    }
}

/// Records `event` through `executor` (usually the transaction of the
/// change it describes, so both happen or neither).
pub async fn audit<'e, E>(executor: E, now: i64, event: AuditEvent<'_>) -> Result<()>
where
    E: sqlx::AnyExecutor<'e>,
{
    sqlx::query(
        "INSERT INTO audit_events (at, actor, action, subject, client_addr, detail) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(now)
    .bind(event.actor.name())
    .bind(event.action)
    .bind(event.subject)
    .bind(event.client_addr.or_else(|| match event.actor {
        Actor::Web(_, address) => Some(address.to_string()),
        _ => None,
    }))
    .bind(event.detail)
    .execute(executor)
    .await?;
    Ok(())
}

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct AuditRecord {
    pub id: i64,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub subject: Option<String>,
    pub client_addr: Option<String>,
    pub detail: Option<String>,
}

pub async fn list(ctx: &Context, limit: i64) -> Result<Vec<AuditRecord>> {
    Ok(sqlx::query_as::<_, AuditRecord>(
        "SELECT id, at, actor, action, subject, client_addr, detail FROM audit_events ORDER BY id DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(&ctx.db)
    .await?)
}

/// What to look for in the audit trail; empty fields match everything.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct AuditFilter {
    #[serde(default)]
    pub action: String,
    #[serde(default)]
    pub actor: String,
    #[serde(default)]
    pub subject: String,
    /// Unix seconds, inclusive.
    #[serde(default)]
    pub from: Option<i64>,
    #[serde(default)]
    pub to: Option<i64>,
}

/// One page of matching events, newest first, and whether more follow.
pub async fn search(
    ctx: &Context,
    filter: &AuditFilter,
    page: i64,
    per_page: i64,
) -> Result<(Vec<AuditRecord>, bool)> {
    let like = |text: &str| {
        format!(
            "%{}%",
            text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
        )
    };
    let mut rows = sqlx::query_as::<_, AuditRecord>(
        "SELECT id, at, actor, action, subject, client_addr, detail FROM audit_events
         WHERE lower(action) LIKE lower($1) ESCAPE '\\' AND lower(actor) LIKE lower($2) ESCAPE '\\' AND lower(COALESCE(subject, '')) LIKE lower($3) ESCAPE '\\'
           AND ($4 IS NULL OR at >= $4) AND ($5 IS NULL OR at <= $5)
         ORDER BY id DESC LIMIT $6 OFFSET $7",
    )
    .bind(like(&filter.action))
    .bind(like(&filter.actor))
    .bind(like(&filter.subject))
    .bind(filter.from)
    .bind(filter.to)
    .bind(per_page + 1)
    .bind(page.max(0) * per_page)
    .fetch_all(&ctx.db)
    .await?;
    let more = rows.len() as i64 > per_page;
    rows.truncate(usize::try_from(per_page).unwrap_or(0));
    Ok((rows, more))
}
