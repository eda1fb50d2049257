//! What one instance tells the others at once: a certificate revoked, a
//! user's access changed (sessions ended, rights changed). On PostgreSQL
//! each announcement is a `NOTIFY` sent inside the transaction that made
//! the change, so it is heard exactly when the change is visible; every
//! instance (the sender too) listens and refreshes its revoked set or
//! forgets that user's cached sessions. On SQLite there is one serving
//! process and nothing is announced: the revoked set is polled every
//! second and no sessions are cached.
//!
//! A listener that loses its connection may have missed announcements: on
//! every (re)connection it refreshes the revoked set and clears the
//! session cache. The revoked set's one-second poll stays as a backstop.

use crate::clock::Clock;
use crate::db::{Backend, DatabaseUrl, Db};
use crate::error::Result;
use crate::login::SessionCache;
use crate::revocation::Revocations;
use std::sync::Arc;
use std::time::Duration;

const CHANNEL: &str = "sightline";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Announcement<'a> {
    /// The certificate with this serial was revoked.
    Revoked(&'a str),
    /// This user's sessions ended or their rights changed.
    AccessChanged(i64),
}

impl Announcement<'_> {
    fn payload(&self) -> String {
        match self {
            Self::Revoked(serial) => format!("revoked {serial}"),
            Self::AccessChanged(user_id) => format!("access {user_id}"),
        }
    }
}

/// Announces a change when `conn`'s transaction commits (PostgreSQL; a
/// no-op on SQLite).
pub async fn send(conn: &mut sqlx::AnyConnection, announcement: Announcement<'_>) -> Result<()> {
    if conn.backend_name().eq_ignore_ascii_case("postgresql") {
        sqlx::query("SELECT 1 FROM (SELECT pg_notify($1, $2)) AS announced")
            .bind(CHANNEL)
            .bind(announcement.payload())
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// What a listening instance keeps up to date.
#[derive(Debug, Clone)]
pub struct Listeners {
    pub revocations: Arc<Revocations>,
    pub sessions: Arc<SessionCache>,
    pub db: Db,
    pub clock: Clock,
}

/// Listens for announcements from every instance (PostgreSQL only).
pub fn spawn_listener(url: DatabaseUrl, listeners: Listeners) {
    if url.backend().ok() != Some(Backend::Postgres) {
        return;
    }
    tokio::spawn(async move {
        loop {
            if let Err(error) = listen(&url, &listeners).await {
                tracing::warn!(%error, "announcements interrupted; reconnecting");
            }
            listeners.sessions.clear();
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
}

async fn listen(url: &DatabaseUrl, listeners: &Listeners) -> Result<()> {
    let mut listener = sqlx::postgres::PgListener::connect(url.expose()).await?;
    listener.listen(CHANNEL).await?;
    catch_up(listeners).await?;
    loop {
        match listener.try_recv().await? {
            Some(notification) => heard(listeners, notification.payload()).await?,
            // The connection dropped and was made again: anything said
            // in between was missed.
            None => {
                tracing::info!("announcement channel reconnected");
                catch_up(listeners).await?;
            }
        }
    }
}

async fn catch_up(listeners: &Listeners) -> Result<()> {
    listeners.sessions.clear();
    listeners
        .revocations
        .refresh(&listeners.db, listeners.clock.now())
        .await?;
    Ok(())
}

async fn heard(listeners: &Listeners, payload: &str) -> Result<()> {
    match payload.split_once(' ') {
        Some(("revoked", _)) => {
            if listeners
                .revocations
                .refresh(&listeners.db, listeners.clock.now())
                .await?
            {
                tracing::info!("revocation list changed (announced)");
            }
        }
        Some(("access", user_id)) => match user_id.parse() {
            Ok(user_id) => listeners.sessions.forget_user(user_id),
            Err(_) => listeners.sessions.clear(),
        },
        _ => tracing::warn!(payload, "unknown announcement ignored"),
    }
    Ok(())
}
