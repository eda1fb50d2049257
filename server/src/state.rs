//! Everything a request handler may need, shared behind one `Arc`.

use crate::analysis::Limits;
use crate::auth::jwt::JwtKeys;
use crate::auth::password;
use crate::auth::throttle::{Policy, Throttle};
use crate::clock::Clock;
use crate::config::Config;
use crate::datadir::DataDir;
use crate::db::Db;
use crate::error::{Error, Result};
use crate::links::PackageVault;
use crate::mail::Mailer;
use crate::providers::Providers;
use crate::revocation::Revocations;
use sightline_certs::CertificateAuthority;
use sightline_proto::Secret;
use std::ops::Deref;
use std::path::PathBuf;
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
    pub ca: CertificateAuthority,
    pub ca_pem: String,
    pub mailer: Arc<Mailer>,
    pub revocations: Arc<Revocations>,
    /// Packages built by a spent link, waiting for their one download.
    pub vault: PackageVault,
    /// Access requests per client address and per e-mail address.
    pub request_limit_by_address: Throttle,
    pub providers: Providers,
    pub analysis_limits: Limits,
    pub request_limit_by_email: Throttle,
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
        let ca = dir.load_ca()?;
        Self::new(db, config, jwt, ca, dir.root().join("outbox"), clock).await
    }

    pub async fn new(
        db: Db,
        config: Config,
        jwt: JwtKeys,
        ca: CertificateAuthority,
        outbox_dir: PathBuf,
        clock: Clock,
    ) -> Result<Self> {
        let mailer = Arc::new(Mailer::new(
            db.clone(),
            outbox_dir,
            config.mail.as_ref(),
            &public_host(&config.server.public_url),
        )?);
        let revocations = Arc::new(Revocations::default());
        revocations.refresh(&db, clock.now()).await?;
        let per_hour = |allowance: u32| Policy {
            allowance: allowance.max(1),
            window_secs: 3600,
            first_lock_secs: 600,
            max_lock_secs: 3600,
        };
        let providers = Providers::from_config(&config.providers)?;
        let analysis_limits = Limits::new(
            config.analysis.concurrent_per_user,
            config.analysis.requests_per_minute_per_user,
        );
        let request_limit_by_address =
            Throttle::new(per_hour(config.provisioning.requests_per_address_per_hour));
        let request_limit_by_email = Throttle::new(per_hour(config.provisioning.requests_per_email_per_hour));
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
            ca_pem: ca.cert_pem(),
            ca,
            mailer,
            revocations,
            vault: PackageVault::default(),
            request_limit_by_address,
            request_limit_by_email,
            providers,
            analysis_limits,
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

    /// Hashes a new password on the blocking pool, within the hashing budget.
    pub async fn hash_password(&self, password: Secret) -> Result<String> {
        let _permit = self
            .hash_permits
            .acquire()
            .await
            .map_err(|_| Error::PasswordHash("hashing pool closed".into()))?;
        tokio::task::spawn_blocking(move || password::hash(&password)).await?
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

/// The host part of the public URL (for the default mail sender).
pub fn public_host(public_url: &str) -> String {
    public_url
        .trim_start_matches("https://")
        .split(['/', ':'])
        .next()
        .filter(|host| !host.is_empty())
        .unwrap_or("localhost")
        .to_owned()
}
