//! The cost of watching the server: keep-alive `GET /native/me` against
//! two servers from the same binary, one plain (no metrics listener, no
//! access log) and one observed (`[metrics] listen`, scraped every second
//! as Prometheus would, and `[log] format = "json"` with an access line per
//! request written to a file). Rounds alternate between the two so drift
//! on the machine touches both alike; the table shows each round and the
//! medians' ratio (the target: under 5 % fewer requests per second).
//!
//! Usage: `observability_bench [--seconds N] [--rounds N] [--connections N]
//! [--observed TOML]` (the last replaces the observed server's settings, to
//! weigh one part alone).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use anyhow::{Context, Result};
use sightline_tests::measure::{self, ms, percentile};
use sightline_tests::{first_login, Identity, TestServer};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PASSWORD: &str = "violet-otter-harbour";

struct Target {
    name: &'static str,
    server: TestServer,
    ada: Identity,
    token: Arc<String>,
}

async fn target(name: &'static str, config: &str, logged: bool) -> Result<Target> {
    let server = if logged {
        TestServer::start_logged(config, &[]).await?
    } else {
        TestServer::start_configured(config, &[]).await?
    };
    let ada = server.add_user("ada", PASSWORD).await?;
    let mut conn = server.connect(Some(&ada)).await?;
    let session = first_login(&mut conn, "ada", PASSWORD).await?;
    Ok(Target {
        name,
        server,
        ada,
        token: Arc::new(session.access_token),
    })
}

/// Scrapes the metrics once a second until `stop`.
fn scraper(server: &TestServer, stop: Arc<AtomicBool>) -> Option<tokio::task::JoinHandle<Result<u32>>> {
    let addr = server.metrics_addr?;
    Some(tokio::spawn(async move {
        let mut scrapes = 0;
        while !stop.load(Ordering::Relaxed) {
            let mut tcp = tokio::net::TcpStream::connect(addr).await?;
            tcp.write_all(b"GET /metrics HTTP/1.1\r\nHost: m\r\nConnection: close\r\n\r\n")
                .await?;
            let mut answer = Vec::new();
            tcp.read_to_end(&mut answer).await?;
            anyhow::ensure!(answer.starts_with(b"HTTP/1.1 200"), "scrape failed");
            scrapes += 1;
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        Ok(scrapes)
    }))
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

#[tokio::main]
async fn main() -> Result<()> {
    let mut seconds = 5u64;
    let mut rounds = 5usize;
    let mut connections = 16usize;
    let mut observed_config =
        "[metrics]\nlisten = \"127.0.0.1:0\"\n\n[log]\nformat = \"json\"\naccess_log = true\n".to_owned();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--seconds" => seconds = args.next().context("--seconds N")?.parse()?,
            "--rounds" => rounds = args.next().context("--rounds N")?.parse()?,
            "--connections" => connections = args.next().context("--connections N")?.parse()?,
            "--observed" => observed_config = args.next().context("--observed TOML")?,
            other => anyhow::bail!("unknown argument {other}"),
        }
    }
    let duration = Duration::from_secs(seconds);
    let plain = target("plain", "[log]\naccess_log = false\n", false).await?;
    let observed = target("observed", &observed_config, true).await?;
    println!("keep-alive GET /native/me, {connections} connections, {seconds} s per round, {rounds} rounds");
    println!("{:>10} {}", "server", measure::header("round", "requests/s"));
    let mut rates = [Vec::new(), Vec::new()];
    let mut p99s = [Vec::new(), Vec::new()];
    for round in 1..=rounds {
        for (index, target) in [&plain, &observed].into_iter().enumerate() {
            let stop = Arc::new(AtomicBool::new(false));
            let scraping = scraper(&target.server, stop.clone());
            let config = target.server.client_config(Some(&target.ada))?;
            let sample = measure::keepalive(
                target.server.addr,
                config,
                target.token.clone(),
                connections,
                duration,
            )
            .await?;
            stop.store(true, Ordering::Relaxed);
            if let Some(scraping) = scraping {
                scraping.await??;
            }
            anyhow::ensure!(
                sample.errors == 0,
                "{} answered {} errors",
                target.name,
                sample.errors
            );
            println!("{:>10} {}", target.name, sample.row(round));
            rates[index].push(sample.per_second());
            p99s[index].push(ms(percentile(&sample.latencies, 0.99)));
        }
    }
    let log = observed.server.log_text()?;
    let access_lines = log
        .lines()
        .filter(|line| line.contains("sightline::access"))
        .count();
    let [plain_rate, observed_rate] = [median(&mut rates[0]), median(&mut rates[1])];
    let [plain_p99, observed_p99] = [median(&mut p99s[0]), median(&mut p99s[1])];
    println!(
        "\nmedian requests/s: plain {plain_rate:.0}, observed {observed_rate:.0} (observed/plain {:.3}, cost {:+.1} %)",
        observed_rate / plain_rate,
        (1.0 - observed_rate / plain_rate) * 100.0
    );
    println!(
        "median p99: plain {plain_p99:.2} ms, observed {observed_p99:.2} ms (observed/plain {:.3})",
        observed_p99 / plain_p99
    );
    println!("access-log lines written by the observed server: {access_lines}");
    Ok(())
}
