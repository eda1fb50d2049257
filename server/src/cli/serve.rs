//! `serve`: the TLS listener, the router, the mail and revocation workers,
//! the metrics listener, and the stop: the first SIGTERM (or Ctrl-C)
//! drains — no new connections, requests and streamed answers in flight
//! finish within `[server] shutdown_grace_secs`, queued mail is sent — and
//! exits 0; a second one exits at once.

use anyhow::Context as _;
use clap::Args;
use sightline_server::announce;
use sightline_server::auth::throttle;
use sightline_server::clock::Clock;
use sightline_server::connections::ConnectionLimits;
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
use tokio_util::sync::CancellationToken;

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
        limits: ConnectionLimits::new(
            config.server.max_connections,
            config.server.max_connections_per_address,
            state.metrics.open_connections(),
        ),
        metrics: state.metrics.clone(),
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
    let stop = watch_stop_signals()?;
    if let Some(address) = config.metrics.listen {
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .with_context(|| format!("cannot listen for metrics on {address}"))?;
        let local = listener.local_addr()?;
        // Printed before the main listener's line, which tests wait for.
        println!("metrics on http://{local}/metrics");
        let router = http::metrics::metrics_router(state.clone());
        let stopped = stop.clone();
        tokio::spawn(async move {
            let served = axum::serve(listener, router)
                .with_graceful_shutdown(stopped.cancelled_owned())
                .await;
            if let Err(error) = served {
                tracing::warn!(%error, "the metrics listener stopped");
            }
        });
    }
    let listener = tokio::net::TcpListener::bind(config.server.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.server.listen))?;
    let local = listener.local_addr()?;
    // Scripts and tests read this line to learn the bound port.
    println!("listening on https://{local}");
    std::io::stdout().flush()?;
    tracing::info!(%local, public_url = %config.server.public_url, "serving");
    let grace = Duration::from_secs(config.server.shutdown_grace_secs);
    let started_stopping = std::time::Instant::now();
    let drained = tls::serve(
        listener,
        accept,
        http::router(state.clone()),
        revocations,
        stop.cancelled_owned(),
        grace,
    )
    .await;
    if drained.finished {
        tracing::info!(connections = drained.open_at_stop, "every connection finished");
    } else {
        tracing::warn!(
            connections = drained.open_at_stop,
            grace_secs = grace.as_secs(),
            "the grace period ended with connections still open; they are cut"
        );
    }
    // Mail queued by the last requests goes now rather than at the next
    // start; whatever cannot be delivered stays queued in the database.
    let left = grace
        .saturating_sub(started_stopping.elapsed())
        .max(Duration::from_secs(5));
    flush_mail(&state, left).await;
    tracing::info!("stopped");
    Ok(())
}

/// Delivers every due mail, for at most `limit`.
async fn flush_mail(state: &AppState, limit: Duration) {
    let Ok(mailer) = state.ctx.mailer() else {
        return;
    };
    let flushing = async {
        loop {
            match mailer.deliver_due(state.ctx.clock.now()).await {
                // A pass takes at most 50; go on while passes deliver.
                Ok(report) if report.delivered > 0 => continue,
                Ok(report) => return report.failed,
                Err(error) => {
                    tracing::warn!(%error, "sending the queued mail at stop failed");
                    return 0;
                }
            }
        }
    };
    match tokio::time::timeout(limit, flushing).await {
        Ok(0) => {}
        Ok(failed) => tracing::warn!(failed, "mail left queued at stop; it is sent at the next start"),
        Err(_) => tracing::warn!("sending the queued mail at stop took too long; the rest stays queued"),
    }
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

/// The first SIGTERM or Ctrl-C cancels the returned token (the drain
/// begins); a second exits the process at once, status 1, for an operator
/// who will not wait.
fn watch_stop_signals() -> anyhow::Result<CancellationToken> {
    let stop = CancellationToken::new();
    #[cfg(unix)]
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("cannot watch for SIGTERM")?;
    let token = stop.clone();
    tokio::spawn(async move {
        for signals in 1.. {
            #[cfg(unix)]
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {},
                _ = terminate.recv() => {},
            }
            #[cfg(not(unix))]
            let _ = tokio::signal::ctrl_c().await;
            if signals == 1 {
                tracing::info!("stop asked: draining (a second stop exits at once)");
                token.cancel();
            } else {
                tracing::warn!("second stop asked: exiting at once");
                std::process::exit(1);
            }
        }
    });
    Ok(stop)
}
