//! Several instances, measured side by side in one run on one machine:
//!
//! 1. keep-alive `GET /native/me` (16 connections) and full mTLS handshakes
//!    per second (8 workers), against one instance on SQLite, one on
//!    PostgreSQL, and two on PostgreSQL behind HAProxy (PROXY protocol v2);
//! 2. how long a revocation made on one instance takes to close a kept-alive
//!    connection on the other (each of `--revocations N` users in turn).
//!
//! Usage: `instances_bench [--seconds N] [--revocations N]`; the release
//! `sightline-server` next to this binary is the one measured.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use anyhow::{Context, Result};
use http::StatusCode;
use sightline_tests::admin::admin_sign_in;
use sightline_tests::haproxy::Deployment;
use sightline_tests::measure::{self, ms, percentile};
use sightline_tests::postgres::Postgres;
use sightline_tests::{first_login, Connection, TestServer};
use std::sync::Arc;
use std::time::{Duration, Instant};

const PASSWORD: &str = "violet-otter-harbour";

#[tokio::main]
async fn main() -> Result<()> {
    let mut seconds = 5u64;
    let mut revocations = 30usize;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--seconds" => seconds = args.next().context("--seconds N")?.parse()?,
            "--revocations" => revocations = args.next().context("--revocations N")?.parse()?,
            other => anyhow::bail!("unknown argument {other}"),
        }
    }
    let duration = Duration::from_secs(seconds);
    let postgres = Postgres::shared()?;

    let sqlite = TestServer::start_on(None, "", &[]).await?;
    let on_postgres = TestServer::start_on(Some(postgres.new_database()?), "", &[]).await?;
    let mut deployment = Deployment::start("").await?;
    let (first, balancer) = (&deployment.first, &deployment.balancer);

    println!("{seconds} s per measurement; 16 kept-alive connections, 8 handshaking workers\n");
    println!("{:<34} {}", "", measure::header("", "requests/s"));
    let mut keepalive_rates = Vec::new();
    let mut handshake_rows = Vec::new();
    for (name, server, addr) in [
        ("one instance, SQLite", &sqlite, sqlite.addr),
        ("one instance, PostgreSQL", &on_postgres, on_postgres.addr),
        ("two on PostgreSQL behind HAProxy", first, balancer.addr),
    ] {
        let user = server.add_user("ada", PASSWORD).await?;
        let config = server.client_config(Some(&user))?;
        let mut conn = Connection::open(addr, config.clone()).await?;
        let token = Arc::new(first_login(&mut conn, "ada", PASSWORD).await?.access_token);
        let keepalive = measure::keepalive(addr, config.clone(), token.clone(), 16, duration).await?;
        println!("{name:<34} {}   keep-alive", keepalive.row(16));
        keepalive_rates.push(keepalive.per_second());
        let handshakes = measure::handshakes(addr, &config, token, 8, duration).await?;
        handshake_rows.push(format!("{name:<34} {}   handshakes", handshakes.row(8)));
    }
    for row in handshake_rows {
        println!("{row}");
    }
    println!(
        "\nkeep-alive on PostgreSQL / on SQLite: {:.2}; two behind HAProxy / one on SQLite: {:.2}",
        keepalive_rates[1] / keepalive_rates[0],
        keepalive_rates[2] / keepalive_rates[0]
    );

    // Revocation: made through the admin pages of the first instance, seen
    // as the close of a kept-alive connection on the second.
    let admin = first.admin_identity()?;
    let mut admin_conn = Connection::open(first.addr, first.client_config(Some(&admin))?).await?;
    let session = admin_sign_in(&mut admin_conn, "admin", &first.admin_password).await?;
    let mut delays = Vec::new();
    for n in 0..revocations {
        let username = format!("user{n}");
        let identity = first.add_user(&username, PASSWORD).await?;
        let mut conn = deployment
            .connect(deployment.second.addr, Some(&identity))
            .await?;
        let token = first_login(&mut conn, &username, PASSWORD).await?.access_token;
        let serial = first.certificate_serial(&username).await?;
        // From the moment the revocation is sent (its own round trip counts)
        // until the other instance closes the connection, polled meanwhile.
        let sent = Instant::now();
        let poll = tokio::spawn(async move { closed_after(&mut conn, &token, sent).await });
        let answer = session.revoke(&mut admin_conn, &serial).await?;
        anyhow::ensure!(
            answer.status == StatusCode::SEE_OTHER,
            "revoke answered {}",
            answer.status
        );
        delays.push(poll.await??);
    }
    delays.sort();
    println!(
        "\nrevocation on one instance → connection closed on the other ({} revocations): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        delays.len(),
        ms(percentile(&delays, 0.50)),
        ms(percentile(&delays, 0.99)),
        ms(delays.last().copied().unwrap_or_default())
    );
    deployment.second.kill().await?;
    Ok(())
}

/// Polls the connection until the server closes it.
async fn closed_after(conn: &mut Connection, token: &str, since: Instant) -> Result<Duration> {
    loop {
        if conn.get("/native/me", Some(token)).await.is_err() {
            return Ok(since.elapsed());
        }
        anyhow::ensure!(
            since.elapsed() < Duration::from_secs(10),
            "the connection stayed open"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}
