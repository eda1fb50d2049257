//! The SQLite database: opening and migrations, and the dashboard's counts.

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

/// The numbers on the admin dashboard.
#[derive(Debug, Clone, Copy, Default)]
pub struct Counts {
    pub pending_requests: i64,
    pub active_users: i64,
    pub expiring_certificates: i64,
}

pub async fn counts(db: &Db, now: i64) -> Result<Counts> {
    let (pending_requests, active_users, expiring_certificates): (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT COUNT(*) FROM access_requests WHERE state = 'pending'),
                (SELECT COUNT(*) FROM users WHERE disabled = 0),
                (SELECT COUNT(*) FROM certificates WHERE revoked_at IS NULL AND not_after > ?1 AND not_after <= ?1 + 30 * 86400)",
    )
    .bind(now)
    .fetch_one(db)
    .await?;
    Ok(Counts {
        pending_requests,
        active_users,
        expiring_certificates,
    })
}
