//! [`AppState`]: what the serving process holds behind one `Arc` — the
//! domain's [`Context`] plus what only a running server needs (the login
//! guard's keys and throttles, the analysis service, the revocation
//! set, the access-request throttles, the metrics). The command
//! line never builds one; it needs only a `Context`.

use crate::analysis::Analysis;
use crate::auth::jwt::JwtKeys;
use crate::auth::throttle::{Policy, Throttle};
use crate::clock::Clock;
use crate::config::Config;
use crate::context::Context;
use crate::datadir::DataDir;
use crate::db::Migrations;
use crate::error::Result;
use crate::login::LoginGuard;
use crate::metrics::Metrics;
use crate::providers::Providers;
use crate::revocation::Revocations;
use std::ops::Deref;
use std::sync::Arc;

#[derive(Debug, Clone)]
pub struct AppState(Arc<Inner>);

#[derive(Debug)]
pub struct Inner {
    pub ctx: Context,
    pub login: LoginGuard,
    pub revocations: Arc<Revocations>,
    /// Access requests per client address and per e-mail address.
    pub request_limit_by_address: Throttle,
    pub request_limit_by_email: Throttle,
    pub analysis: Analysis,
    /// What this instance counts for Prometheus.
    pub metrics: Arc<Metrics>,
}

impl Deref for AppState {
    type Target = Inner;

    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    pub async fn load(dir: &DataDir, config: Config, clock: Clock, migrations: Migrations) -> Result<Self> {
        let jwt = JwtKeys::from_pem(&dir.read(&dir.jwt_key())?, &config.server.public_url)?;
        Self::new(dir.context(config, clock, migrations).await?, jwt).await
    }

    pub async fn new(ctx: Context, jwt: JwtKeys) -> Result<Self> {
        ctx.hasher.warm_up().await?;
        let revocations = Arc::new(Revocations::default());
        revocations.refresh(&ctx.db, ctx.clock.now()).await?;
        let per_hour = |allowance: u32| Policy {
            allowance: allowance.max(1),
            window_secs: 3600,
            first_lock_secs: 600,
            max_lock_secs: 3600,
        };
        let config = &ctx.config;
        let providers = Providers::from_config(&config.providers)?;
        let metrics = Arc::new(Metrics::new());
        let analysis = Analysis::new(
            providers,
            metrics.clone(),
            config.analysis.concurrent_per_user,
            config.analysis.requests_per_minute_per_user,
        );
        let request_limit_by_address = Throttle::new(
            "request-address",
            per_hour(config.provisioning.requests_per_address_per_hour),
        );
        let request_limit_by_email = Throttle::new(
            "request-email",
            per_hour(config.provisioning.requests_per_email_per_hour),
        );
        Ok(Self(Arc::new(Inner {
            login: LoginGuard::new(jwt, metrics.clone()),
            metrics,
            revocations,
            request_limit_by_address,
            request_limit_by_email,
            analysis,
            ctx,
        })))
    }
}
