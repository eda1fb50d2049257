//! Certificate renewal, measured against the release server on SQLite:
//!
//! 1. renewals per second the server sustains (the CSR's signature checked,
//!    a certificate signed and recorded), with `--workers N` devices each
//!    renewing in a chain: renew, connect with the new certificate, refresh
//!    (its first use, which supersedes the old one), renew again;
//! 2. the time a renewal adds to the request that carries it: the renew
//!    request against a plain `GET /native/me` on the same connection.
//!
//! The devices' keys and signing requests are made before each timed
//! request, so only the server's work is measured.
//!
//! Usage: `renewal_bench [--seconds N] [--workers N]`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use anyhow::{Context, Result};
use http::StatusCode;
use serde_json::json;
use sightline_certs::device::DeviceKey;
use sightline_tests::measure::{ms, percentile};
use sightline_tests::{first_login, Connection, Identity, TestServer};
use std::time::{Duration, Instant};

const PASSWORD: &str = "violet-otter-harbour";

struct Chain {
    renewals: usize,
    renew_times: Vec<Duration>,
    me_times: Vec<Duration>,
}

async fn renew_in_a_chain(server: &TestServer, username: &str, until: Instant) -> Result<Chain> {
    let mut identity = server.add_user(username, PASSWORD).await?;
    let mut conn = Connection::open(server.addr, server.client_config(Some(&identity))?).await?;
    let login = first_login(&mut conn, username, PASSWORD).await?;
    let (mut access, mut refresh) = (login.access_token, login.refresh_token);
    let mut chain = Chain {
        renewals: 0,
        renew_times: Vec::new(),
        me_times: Vec::new(),
    };
    while Instant::now() < until {
        let started = Instant::now();
        let me = conn.get("/native/me", Some(&access)).await?;
        chain.me_times.push(started.elapsed());
        anyhow::ensure!(me.status == StatusCode::OK, "me: {}", me.text());

        let device = DeviceKey::generate()?;
        let started = Instant::now();
        let answer = conn
            .post_json(
                "/native/renew-certificate",
                &json!({ "csr": device.request_pem }),
                Some(&access),
            )
            .await?;
        chain.renew_times.push(started.elapsed());
        anyhow::ensure!(answer.status == StatusCode::OK, "renew: {}", answer.text());
        let certificate = answer.json()["certificate"]
            .as_str()
            .context("certificate")?
            .to_owned();
        chain.renewals += 1;

        identity = Identity {
            cert_pem: certificate,
            key_pem: device.key_pem.expose().to_owned(),
        };
        conn = Connection::open(server.addr, server.client_config(Some(&identity))?).await?;
        let moved = conn
            .post_json("/native/refresh", &json!({ "refresh_token": refresh }), None)
            .await?;
        anyhow::ensure!(moved.status == StatusCode::OK, "refresh: {}", moved.text());
        let tokens = moved.json();
        access = tokens["access_token"]
            .as_str()
            .context("access token")?
            .to_owned();
        refresh = tokens["refresh_token"]
            .as_str()
            .context("refresh token")?
            .to_owned();
    }
    Ok(chain)
}

#[tokio::main]
async fn main() -> Result<()> {
    let mut seconds = 10u64;
    let mut workers = 4usize;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--seconds" => seconds = args.next().context("--seconds N")?.parse()?,
            "--workers" => workers = args.next().context("--workers N")?.parse()?,
            other => anyhow::bail!("unknown argument {other}"),
        }
    }
    let server = TestServer::start().await?;
    let until = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let chains = futures_util::future::try_join_all((0..workers).map(|i| {
        let server = &server;
        async move { renew_in_a_chain(server, &format!("device{i}"), until).await }
    }))
    .await?;
    let elapsed = started.elapsed().as_secs_f64();
    let renewals: usize = chains.iter().map(|c| c.renewals).sum();
    let mut renew: Vec<Duration> = chains.iter().flat_map(|c| c.renew_times.clone()).collect();
    let mut me: Vec<Duration> = chains.iter().flat_map(|c| c.me_times.clone()).collect();
    renew.sort();
    me.sort();
    println!("{workers} devices renewing in chains for {seconds} s (each step: renew, reconnect, refresh)");
    println!(
        "renewals: {renewals} in {elapsed:.1} s = {:.1} per second",
        renewals as f64 / elapsed
    );
    println!(
        "renew request: p50 {:.2} ms, p99 {:.2} ms; GET /native/me on the same connection: p50 {:.2} ms, p99 {:.2} ms",
        ms(percentile(&renew, 0.5)),
        ms(percentile(&renew, 0.99)),
        ms(percentile(&me, 0.5)),
        ms(percentile(&me, 0.99)),
    );
    println!(
        "a renewal adds {:.2} ms (p50) to the request that carries it",
        ms(percentile(&renew, 0.5)) - ms(percentile(&me, 0.5))
    );
    Ok(())
}
