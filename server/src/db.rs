//! The SQLite database: opening, migrations, and the audit trail.

use crate::error::Result;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;
use std::path::Path;
use std::time::Duration;

pub type Db = SqlitePool;

/// Opens (creating if asked) the database and brings its schema up to date.
pub async fn open(path: &Path, create: bool) -> Result<Db> {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(create)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        // The CLI and the server share the file; wait for each other's locks.
        .busy_timeout(Duration::from_secs(5));
    let pool = SqlitePoolOptions::new()
        .max_connections(8)
        .connect_with(options)
        .await?;
    sqlx::migrate!("./migrations").run(&pool).await?;
    Ok(pool)
}

/// Who did something, for the audit trail.
#[derive(Debug, Clone)]
pub enum Actor<'a> {
    /// The command line on the server host.
    Cli,
    User(&'a str),
    Anonymous,
}

impl Actor<'_> {
    fn name(&self) -> String {
        match self {
            Self::Cli => "cli".into(),
            Self::User(name) => format!("user:{name}"),
            Self::Anonymous => "anonymous".into(),
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

pub async fn audit<'e, E>(executor: E, now: i64, event: AuditEvent<'_>) -> Result<()>
where
    E: sqlx::SqliteExecutor<'e>,
{
    sqlx::query(
        "INSERT INTO audit_events (at, actor, action, subject, client_addr, detail) VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(now)
    .bind(event.actor.name())
    .bind(event.action)
    .bind(event.subject)
    .bind(event.client_addr)
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

pub async fn audit_list(db: &Db, limit: i64) -> Result<Vec<AuditRecord>> {
    Ok(sqlx::query_as::<_, AuditRecord>(
        "SELECT id, at, actor, action, subject, client_addr, detail FROM audit_events ORDER BY id DESC LIMIT ?",
    )
    .bind(limit)
    .fetch_all(db)
    .await?)
}
