//! `serve`: the TLS listener, the router, the mail and revocation workers.

use anyhow::Context as _;
use clap::Args;
use sightline_server::clock::Clock;
use sightline_server::datadir::DataDir;
use sightline_server::state::AppState;
use sightline_server::{http, tls};
use std::io::Write;
use std::net::SocketAddr;
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
    config.validate()?;
    let state = AppState::load(dir, config.clone(), Clock::system()).await?;
    let tls_config = tls::server_config(dir, state.revocations.clone())?;
    let ctx = &state.ctx;
    ctx.mailer()?.clone().spawn_worker(ctx.clock.clone());
    state
        .revocations
        .clone()
        .spawn_poller(ctx.db.clone(), ctx.clock.clone());
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
        tls_config,
        http::router(state),
        Duration::from_secs(config.server.handshake_timeout_secs),
        revocations,
        shutdown_signal(),
    )
    .await;
    tracing::info!("stopped");
    Ok(())
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
