//! The database: SQLite (embedded, the default) or PostgreSQL (several
//! instances sharing one database), behind one pool type.
//!
//! Queries are written once, in the SQL both accept: numbered `$N`
//! placeholders, integers for times and flags (decoded through [`Flag`]),
//! `lower()` on both sides for case-insensitive names and addresses. Each
//! backend has its own migrations (`migrations/sqlite`, `migrations/postgres`)
//! that end at the same tables.

use crate::error::{Error, Result};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions, AnyTypeInfo, AnyTypeInfoKind};
use sqlx::{Any, AnyPool, ConnectOptions, Decode, Executor, Type};
use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

pub type Db = AnyPool;

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Which database a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// `[database] url`: a `sqlite://` or `postgres://` URL. It may carry a
/// password, so it is never printed whole: `Display` and `Debug` hide it.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    pub fn parse(url: &str) -> Result<Self> {
        let url = Self(url.trim().to_owned());
        url.backend()?;
        Ok(url)
    }

    /// Whether the URL carries a password (`user:password@host`).
    pub fn has_password(&self) -> bool {
        self.0
            .split_once("://")
            .and_then(|(_, rest)| rest.rsplit_once('@'))
            .is_some_and(|(credentials, _)| credentials.contains(':'))
    }

    /// The embedded default: a SQLite file.
    pub fn sqlite_file(path: &Path) -> Self {
        Self(format!("sqlite://{}", path.display()))
    }

    pub fn backend(&self) -> Result<Backend> {
        let scheme = self.0.split_once("://").map(|(scheme, _)| scheme);
        match scheme {
            Some("sqlite") => Ok(Backend::Sqlite),
            Some("postgres" | "postgresql") => Ok(Backend::Postgres),
            _ => Err(Error::Config(
                "database.url must start with sqlite:// or postgres://".into(),
            )),
        }
    }

    /// The SQLite file this URL names, if it names one.
    pub fn sqlite_path(&self) -> Option<&Path> {
        let rest = self.0.strip_prefix("sqlite://")?;
        Some(Path::new(rest.split('?').next().unwrap_or(rest)))
    }

    /// The URL to connect with. Only the pool sees it.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DatabaseUrl {
    /// `postgres://sightline:…@db:5432/sightline`: everything but the password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some((scheme, rest)) = self.0.split_once("://") else {
            return f.write_str("(invalid database url)");
        };
        match rest.rsplit_once('@') {
            Some((credentials, host)) => {
                let user = credentials.split(':').next().unwrap_or_default();
                write!(f, "{scheme}://{user}:…@{host}")
            }
            None => write!(f, "{scheme}://{rest}"),
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({self})")
    }
}

/// Whether opening the database also brings its schema up to date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Migrations {
    Run,
    /// Deployments that migrate once (`sightline-server migrate`) start
    /// their instances with `serve --no-migrate`; a schema behind the
    /// binary is then refused rather than used.
    Check,
}

/// Opens (creating a SQLite file if asked) the database.
pub async fn open(url: &DatabaseUrl, create: bool, migrations: Migrations) -> Result<Db> {
    sqlx::any::install_default_drivers();
    let backend = url.backend()?;
    let mut options = AnyConnectOptions::from_str(url.expose())?;
    if backend == Backend::Sqlite && create {
        options = AnyConnectOptions::from_str(&format!("{}?mode=rwc", url.expose()))?;
    }
    let pool = AnyPoolOptions::new()
        .max_connections(match backend {
            Backend::Sqlite => 8,
            Backend::Postgres => 16,
        })
        .acquire_timeout(Duration::from_secs(10))
        .after_connect(move |conn, _| {
            Box::pin(async move {
                if backend == Backend::Sqlite {
                    // WAL lets readers run beside the one writer; the CLI and
                    // the server share the file and wait for each other's locks.
                    conn.execute(
                        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;
                         PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;",
                    )
                    .await?;
                }
                Ok(())
            })
        })
        .connect_with(options.disable_statement_logging())
        .await?;
    let migrator = migrator(backend);
    match migrations {
        // Two instances started at once both get here: PostgreSQL's
        // migrator holds an advisory lock, SQLite's a file lock, so one
        // migrates and the other finds the work done.
        Migrations::Run => migrator.run(&pool).await?,
        Migrations::Check => check_current(&pool, migrator).await?,
    }
    Ok(pool)
}

fn migrator(backend: Backend) -> &'static sqlx::migrate::Migrator {
    match backend {
        Backend::Sqlite => &SQLITE_MIGRATIONS,
        Backend::Postgres => &POSTGRES_MIGRATIONS,
    }
}

/// Whether the database can be used now, for `/readyz`. A pool's open
/// connections outlive a SQLite file that was removed or made unreadable,
/// so SQLite is checked through a new read-only connection; PostgreSQL
/// through the pool (a dead server fails its connections).
pub async fn check_ready(db: &Db) -> Result<()> {
    use sqlx::Connection as _;
    let probe = async {
        match backend(db) {
            Backend::Sqlite => {
                let mut url = db.connect_options().database_url.clone();
                url.set_query(Some("mode=ro"));
                let mut conn = sqlx::AnyConnection::connect(url.as_str()).await?;
                let _: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations")
                    .fetch_one(&mut conn)
                    .await?;
                conn.close().await?;
            }
            Backend::Postgres => {
                let _: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations")
                    .fetch_one(db)
                    .await?;
            }
        }
        Ok::<(), sqlx::Error>(())
    };
    match tokio::time::timeout(Duration::from_secs(3), probe).await {
        Ok(result) => Ok(result?),
        Err(_) => Err(Error::Database(sqlx::Error::PoolTimedOut)),
    }
}

/// Which database a pool is connected to.
pub fn backend(db: &Db) -> Backend {
    match db.connect_options().database_url.scheme() {
        "postgres" | "postgresql" => Backend::Postgres,
        _ => Backend::Sqlite,
    }
}

/// Refuses a database whose schema is older than this binary's.
async fn check_current(pool: &Db, migrator: &sqlx::migrate::Migrator) -> Result<()> {
    let newest = migrator.iter().map(|m| m.version).max().unwrap_or(0);
    let applied: Option<i64> =
        sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success = TRUE")
            .fetch_one(pool)
            .await
            .unwrap_or(None);
    if applied.unwrap_or(0) < newest {
        return Err(Error::Config(format!(
            "the database schema is at version {} and this server needs {newest}; run `sightline-server migrate` first",
            applied.unwrap_or(0)
        )));
    }
    Ok(())
}

/// `init` starts a new installation: a shared database that already holds
/// one (another data directory's users) is refused, untouched.
pub async fn ensure_empty(db: &Db) -> Result<()> {
    let users: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
        .fetch_one(db)
        .await?;
    if users > 0 {
        return Err(Error::Config(
            "the database already holds a Sightline installation; init changed nothing (point every instance's data directory at the one that made it)".into(),
        ));
    }
    Ok(())
}

/// A 0/1 column or a comparison, decoded the same from either backend:
/// SQLite answers integers, PostgreSQL booleans for `x IS NOT NULL`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flag(pub bool);

impl From<Flag> for bool {
    fn from(flag: Flag) -> bool {
        flag.0
    }
}

impl Type<Any> for Flag {
    fn type_info() -> AnyTypeInfo {
        <i64 as Type<Any>>::type_info()
    }

    fn compatible(ty: &AnyTypeInfo) -> bool {
        ty.kind().is_integer() || ty.kind() == AnyTypeInfoKind::Bool
    }
}

impl<'r> Decode<'r, Any> for Flag {
    fn decode(value: sqlx::any::AnyValueRef<'r>) -> std::result::Result<Self, sqlx::error::BoxDynError> {
        match <bool as Decode<Any>>::decode(value.clone()) {
            Ok(flag) => Ok(Self(flag)),
            Err(_) => Ok(Self(<i64 as Decode<Any>>::decode(value)? != 0)),
        }
    }
}

/// Stores a flag as the 0/1 integer both schemas use.
pub fn flag(value: bool) -> i64 {
    i64::from(value)
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
                (SELECT COUNT(*) FROM certificates WHERE revoked_at IS NULL AND not_after > $1 AND not_after <= $1 + 30 * 86400)",
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

/// A fresh SQLite database in `dir`, for the unit tests.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    pub(crate) async fn sqlite(dir: &Path) -> Db {
        let url = DatabaseUrl::sqlite_file(&dir.join("t.db"));
        open(&url, true, Migrations::Run).await.unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_their_backend_and_hide_their_password() {
        let url = DatabaseUrl::parse("postgres://sightline:hunter2@db.example:5432/sightline").unwrap();
        assert_eq!(url.backend().unwrap(), Backend::Postgres);
        assert_eq!(
            url.to_string(),
            "postgres://sightline:…@db.example:5432/sightline"
        );
        assert!(!format!("{url:?}").contains("hunter2"));
        assert!(url.has_password());
        let file = DatabaseUrl::sqlite_file(Path::new("/srv/s/sightline.db"));
        assert_eq!(file.backend().unwrap(), Backend::Sqlite);
        assert_eq!(file.sqlite_path(), Some(Path::new("/srv/s/sightline.db")));
        assert!(DatabaseUrl::parse("mysql://x").is_err());
    }
}
