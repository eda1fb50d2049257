//! `serve`: the TLS listener, the router, the mail and revocation workers.

use anyhow::Context as _;
use clap::Args;
use sightline_server::announce;
use sightline_server::auth::throttle;
use sightline_server::clock::Clock;
use sightline_server::datadir::DataDir;
use sightline_server::db::Migrations;
use sightline_server::proxy_protocol::TrustedProxies;
use sightline_server::renewal;
use sightline_server::server_cert::{self, ServerCertificate};
use sightline_server::state::AppState;
use sightline_server::{http, tls};
use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (config: server.listen).
    #[arg(long, env = "SIGHTLINE_LISTEN")]
    listen: Option<SocketAddr>,
    /// URL people and mails use to reach this server (config: server.public_url).
    #[arg(long, env = "SIGHTLINE_PUBLIC_URL")]
    public_url: Option<String>,
    /// Seconds a TLS handshake may take (config: server.handshake_timeout_secs).
    #[arg(long, env = "SIGHTLINE_HANDSHAKE_TIMEOUT_SECS")]
    handshake_timeout_secs: Option<u64>,
    /// Load balancers that send a PROXY protocol v2 header, comma-separated
    /// addresses or CIDR blocks (config: server.proxy_protocol_from).
    #[arg(long, env = "SIGHTLINE_PROXY_PROTOCOL_FROM", value_delimiter = ',')]
    proxy_protocol_from: Option<Vec<String>>,
    /// Do not migrate the database at start; refuse a schema older than
    /// this binary instead (for deployments that run `migrate` once).
    #[arg(long)]
    no_migrate: bool,
}

pub async fn run(dir: &DataDir, args: ServeArgs) -> anyhow::Result<()> {
    dir.ensure_initialised()?;
    let mut config = dir.load_config()?;
    if let Some(listen) = args.listen {
        config.server.listen = listen;
    }
    if let Some(url) = args.public_url {
        config.server.public_url = url;
    }
    if let Some(seconds) = args.handshake_timeout_secs {
        config.server.handshake_timeout_secs = seconds;
    }
    if let Some(proxies) = args.proxy_protocol_from {
        config.server.proxy_protocol_from = proxies.into_iter().filter(|p| !p.trim().is_empty()).collect();
    }
    config.validate()?;
    let migrations = if args.no_migrate {
        Migrations::Check
    } else {
        Migrations::Run
    };
    let state = AppState::load(dir, config.clone(), Clock::system(), migrations).await?;
    let certificate = ServerCertificate::load(dir, &config.tls)?;
    let accept = tls::Accept {
        tls: tls::server_config(dir, state.revocations.clone(), certificate.clone())?,
        handshake_timeout: Duration::from_secs(config.server.handshake_timeout_secs),
        proxies: Arc::new(TrustedProxies::parse(&config.server.proxy_protocol_from)?),
    };
    let ctx = &state.ctx;
    ctx.mailer()?.clone().spawn_worker(ctx.clock.clone());
    state
        .revocations
        .clone()
        .spawn_poller(ctx.db.clone(), ctx.clock.clone());
    announce::spawn_listener(
        dir.database_url(&config),
        announce::Listeners {
            revocations: state.revocations.clone(),
            sessions: ctx.sessions.clone(),
            db: ctx.db.clone(),
            clock: ctx.clock.clone(),
        },
    );
    spawn_pruner(state.clone());
    spawn_superseder(state.clone());
    spawn_certificate_keeper(dir.clone(), state.clone(), certificate);
    let revocations = state.revocations.clone();
    let listener = tokio::net::TcpListener::bind(config.server.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.server.listen))?;
    let local = listener.local_addr()?;
    // Scripts and tests read this line to learn the bound port.
    println!("listening on https://{local}");
    std::io::stdout().flush()?;
    tracing::info!(%local, public_url = %config.server.public_url, "serving");
    tls::serve(
        listener,
        accept,
        http::router(state),
        revocations,
        shutdown_signal(),
    )
    .await;
    tracing::info!("stopped");
    Ok(())
}

/// Forgets throttle counts that can no longer lock anything, every ten
/// minutes (any instance may; the work is idempotent).
fn spawn_pruner(state: AppState) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(600));
        loop {
            every.tick().await;
            let now = state.ctx.clock.now();
            if let Err(error) = throttle::prune(&state.ctx.db, now, 24 * 3600).await {
                tracing::warn!(%error, "pruning throttles failed");
            }
        }
    });
}

/// Revokes renewed certificates whose successor went unused through the
/// grace period, every minute (any instance may; a second revocation of
/// the same certificate is a no-op).
fn spawn_superseder(state: AppState) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(60));
        loop {
            every.tick().await;
            if let Err(error) = renewal::supersede_overdue(&state.ctx).await {
                tracing::warn!(%error, "revoking superseded certificates failed");
            }
        }
    });
}

/// Keeps the server's TLS certificate current without a restart: every ten
/// seconds it takes the files again if they changed (another instance or
/// `cert rotate-server` renewed them), and renews them at two thirds of the
/// certificate's life.
fn spawn_certificate_keeper(dir: DataDir, state: AppState, certificate: Arc<ServerCertificate>) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(10));
        loop {
            every.tick().await;
            if let Err(error) = certificate.reload_if_changed() {
                tracing::warn!(%error, "the server certificate files could not be read");
                continue;
            }
            let ctx = &state.ctx;
            if !certificate.renewal_due(ctx.clock.now()) {
                continue;
            }
            let renewed = server_cert::rotate(
                &dir,
                &ctx.ca,
                ctx.config.certs.server_validity_days,
                ctx.clock.now_datetime(),
            );
            match renewed.and_then(|_| certificate.reload_if_changed()) {
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "renewing the server certificate failed"),
            }
        }
    });
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(_) => {
                let _ = interrupt.await;
                return;
            }
        };
        tokio::select! {
            _ = interrupt => {},
            _ = terminate.recv() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}
