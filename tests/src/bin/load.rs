//! Load generator: starts a fresh server (release build next to this binary),
//! logs a user in over mTLS, and measures
//!
//! 1. keep-alive `GET /native/me` (JWT + certificate checks) at 1, 16 and 64
//!    connections: requests/s, p50, p99;
//! 2. full mTLS handshakes per second (no resumption, one request each);
//! 3. `/healthz` latency while 20 logins hash passwords concurrently.
//!
//! Usage: `load [--seconds N] [--only keepalive|handshakes|logins]`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use anyhow::{Context, Result};
use http::StatusCode;
use sightline_tests::{first_login, Connection, TestServer};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const PASSWORD: &str = "violet-otter-harbour";

#[tokio::main]
async fn main() -> Result<()> {
    let mut seconds = 5u64;
    let mut only: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--seconds" => seconds = args.next().context("--seconds N")?.parse()?,
            "--only" => only = Some(args.next().context("--only SCENARIO")?),
            other => anyhow::bail!("unknown argument {other}"),
        }
    }
    let duration = Duration::from_secs(seconds);
    let wants = |name: &str| only.as_deref().is_none_or(|o| o == name);

    let server = TestServer::start().await?;
    let ada = server.add_user("ada", PASSWORD).await?;
    let mut conn = server.connect(Some(&ada)).await?;
    let session = first_login(&mut conn, "ada", PASSWORD).await?;
    let token = Arc::new(session.access_token);
    println!(
        "server pid-free run on {}; {} s per measurement",
        server.addr, seconds
    );

    if wants("keepalive") {
        println!("\nkeep-alive GET /native/me");
        println!(
            "{:>12} {:>12} {:>10} {:>10} {:>10}",
            "connections", "requests/s", "p50 ms", "p99 ms", "errors"
        );
        for connections in [1usize, 16, 64] {
            let config = server.client_config(Some(&ada))?;
            let deadline = Instant::now() + duration;
            let mut workers = Vec::new();
            for _ in 0..connections {
                let config = config.clone();
                let token = token.clone();
                let addr = server.addr;
                workers.push(tokio::spawn(async move {
                    let mut latencies = Vec::new();
                    let mut errors = 0u64;
                    let mut conn = Connection::open(addr, config).await?;
                    while Instant::now() < deadline {
                        let started = Instant::now();
                        match conn.get("/native/me", Some(&token)).await {
                            Ok(answer) if answer.status == StatusCode::OK => {
                                latencies.push(started.elapsed())
                            }
                            _ => errors += 1,
                        }
                    }
                    Ok::<_, anyhow::Error>((latencies, errors))
                }));
            }
            let (latencies, errors) = gather(workers).await?;
            print_row(connections, &latencies, errors, duration);
        }
    }

    if wants("handshakes") {
        println!("\nfull mTLS handshakes (no resumption), one GET /native/me each");
        println!(
            "{:>12} {:>12} {:>10} {:>10} {:>10}",
            "workers", "conns/s", "p50 ms", "p99 ms", "errors"
        );
        let mut config = (*server.client_config(Some(&ada))?).clone();
        config.resumption = rustls::client::Resumption::disabled();
        let config = Arc::new(config);
        let workers_count = 8usize;
        let deadline = Instant::now() + duration;
        let mut workers = Vec::new();
        for _ in 0..workers_count {
            let config = config.clone();
            let token = token.clone();
            let addr = server.addr;
            workers.push(tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut errors = 0u64;
                while Instant::now() < deadline {
                    let started = Instant::now();
                    let outcome = async {
                        let mut conn = Connection::open(addr, config.clone()).await?;
                        conn.get("/native/me", Some(&token)).await
                    }
                    .await;
                    match outcome {
                        Ok(answer) if answer.status == StatusCode::OK => latencies.push(started.elapsed()),
                        _ => errors += 1,
                    }
                }
                Ok::<_, anyhow::Error>((latencies, errors))
            }));
        }
        let (latencies, errors) = gather(workers).await?;
        print_row(workers_count, &latencies, errors, duration);
    }

    if wants("logins") {
        println!("\n/healthz while 20 logins hash passwords concurrently");
        let config = server.client_config(Some(&ada))?;
        let stop = Arc::new(AtomicBool::new(false));
        let mut login_workers = Vec::new();
        for _ in 0..20 {
            let config = config.clone();
            let stop = stop.clone();
            let addr = server.addr;
            login_workers.push(tokio::spawn(async move {
                let mut done = 0u64;
                let mut conn = Connection::open(addr, config).await?;
                let body = serde_json::json!({"username": "ada", "password": PASSWORD});
                while !stop.load(Ordering::Relaxed) {
                    let answer = conn.post_json("/native/login", &body, None).await?;
                    anyhow::ensure!(
                        answer.status == StatusCode::OK,
                        "login answered {}",
                        answer.status
                    );
                    done += 1;
                }
                Ok::<_, anyhow::Error>(done)
            }));
        }
        // Let the logins queue up before probing.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let mut probe = Connection::open(server.addr, config.clone()).await?;
        let mut latencies = Vec::new();
        let deadline = Instant::now() + duration;
        while Instant::now() < deadline {
            let started = Instant::now();
            let answer = probe.get("/healthz", None).await?;
            anyhow::ensure!(answer.status == StatusCode::OK);
            latencies.push(started.elapsed());
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        stop.store(true, Ordering::Relaxed);
        let mut logins = 0;
        for worker in login_workers {
            logins += worker.await??;
        }
        latencies.sort();
        println!(
            "healthz probes {:>6}   p50 {:>7.2} ms   p99 {:>7.2} ms   max {:>7.2} ms   logins completed {} ({:.1}/s)",
            latencies.len(),
            ms(percentile(&latencies, 0.50)),
            ms(percentile(&latencies, 0.99)),
            ms(latencies.last().copied().unwrap_or_default()),
            logins,
            logins as f64 / duration.as_secs_f64()
        );
    }
    server.stop().await?;
    Ok(())
}

type WorkerResult = Result<(Vec<Duration>, u64)>;

async fn gather(workers: Vec<tokio::task::JoinHandle<WorkerResult>>) -> Result<(Vec<Duration>, u64)> {
    let mut all = Vec::new();
    let mut errors = 0;
    for worker in workers {
        let (latencies, worker_errors) = worker.await??;
        all.extend(latencies);
        errors += worker_errors;
    }
    all.sort();
    Ok((all, errors))
}

fn print_row(width: usize, latencies: &[Duration], errors: u64, duration: Duration) {
    println!(
        "{:>12} {:>12.0} {:>10.2} {:>10.2} {:>10}",
        width,
        latencies.len() as f64 / duration.as_secs_f64(),
        ms(percentile(latencies, 0.50)),
        ms(percentile(latencies, 0.99)),
        errors
    );
}

fn percentile(sorted: &[Duration], quantile: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() as f64 - 1.0) * quantile).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}
