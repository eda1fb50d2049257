//! Everything a request handler may need, shared behind one `Arc`.

use crate::auth::jwt::JwtKeys;
use crate::auth::password;
use crate::auth::throttle::{Policy, Throttle};
use crate::clock::Clock;
use crate::config::Config;
use crate::datadir::DataDir;
use crate::db::Db;
use crate::error::{Error, Result};
use sightline_proto::Secret;
use std::ops::Deref;
use std::sync::Arc;
use tokio::sync::Semaphore;

#[derive(Debug, Clone)]
pub struct AppState(Arc<Inner>);

#[derive(Debug)]
pub struct Inner {
    pub db: Db,
    pub config: Config,
    pub jwt: JwtKeys,
    pub clock: Clock,
    /// Bounds concurrent argon2 work to leave a core for everything else, so
    /// a burst of logins never stalls other requests.
    pub hash_permits: Semaphore,
    /// Password failures per submitted username (known or not, so the
    /// throttle itself reveals nothing).
    pub account_throttle: Throttle,
    /// Password and code failures per client address.
    pub client_throttle: Throttle,
    /// A real argon2id hash of a random password: unknown users are checked
    /// against it so that they cost the same time as known ones.
    pub dummy_hash: String,
}

impl Deref for AppState {
    type Target = Inner;

    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    pub async fn load(dir: &DataDir, config: Config, clock: Clock) -> Result<Self> {
        let db = dir.open_db().await?;
        let jwt = JwtKeys::from_pem(&dir.read(&dir.jwt_key())?, &config.server.public_url)?;
        Self::new(db, config, jwt, clock).await
    }

    pub async fn new(db: Db, config: Config, jwt: JwtKeys, clock: Clock) -> Result<Self> {
        let dummy_hash =
            tokio::task::spawn_blocking(|| password::hash(&Secret::new(crate::datadir::generate_password())))
                .await
                .map_err(Error::from)??;
        let cores = std::thread::available_parallelism().map(usize::from).unwrap_or(2);
        Ok(Self(Arc::new(Inner {
            db,
            config,
            jwt,
            clock,
            hash_permits: Semaphore::new((cores / 2).max(1)),
            account_throttle: Throttle::new(Policy {
                allowance: 5,
                window_secs: 900,
                first_lock_secs: 30,
                max_lock_secs: 900,
            }),
            client_throttle: Throttle::new(Policy {
                allowance: 20,
                window_secs: 900,
                first_lock_secs: 60,
                max_lock_secs: 3600,
            }),
            dummy_hash,
        })))
    }

    /// Verifies a password on the blocking pool, within the hashing budget.
    pub async fn verify_password(&self, password: Secret, stored: String) -> Result<bool> {
        let _permit = self
            .hash_permits
            .acquire()
            .await
            .map_err(|_| Error::PasswordHash("hashing pool closed".into()))?;
        Ok(tokio::task::spawn_blocking(move || password::verify(&password, &stored)).await?)
    }
}
