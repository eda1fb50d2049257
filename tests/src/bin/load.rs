//! Load generator: starts a fresh server (release build next to this binary),
//! logs a user in over mTLS, and measures
//!
//! 1. keep-alive `GET /native/me` (JWT + certificate checks) at 1, 16 and 64
//!    connections: requests/s, p50, p99;
//! 2. full mTLS handshakes per second (no resumption, one request each);
//! 3. `/healthz` latency while 20 logins hash passwords concurrently;
//! 4. the latency the server adds to the first delta of `/native/analyze`
//!    with a 2 MB JPEG, at 1 and 16 concurrent clients (stub provider
//!    answering at once), and its peak memory with 32 concurrent 4 MB uploads.
//!
//! Usage: `load [--seconds N] [--only keepalive|handshakes|logins|analyze|memory]`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use anyhow::{Context, Result};
use http::StatusCode;
use sightline_tests::measure::{self, ms, percentile};
use sightline_tests::stub::{Behaviour, StubProvider};
use sightline_tests::{first_login, multipart, read_events, Connection, TestServer};
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

    let stub = StubProvider::start().await?;
    let config = format!(
        "[analysis]\nconcurrent_per_user = 64\nrequests_per_minute_per_user = 100000\n\n\
         [[providers]]\nid = \"stub\"\nkind = \"openai\"\nbase_url = \"{}\"\ndefault_model = \"stub\"\n",
        stub.base_url()
    );
    let server = TestServer::start_configured(&config, &[]).await?;
    server.add_mode("Bench", "chat", "stub", &[]).await?;
    let ada = server.add_user("ada", PASSWORD).await?;
    let mut conn = server.connect(Some(&ada)).await?;
    let session = first_login(&mut conn, "ada", PASSWORD).await?;
    let token = Arc::new(session.access_token);
    println!("server on {}; {} s per measurement", server.addr, seconds);

    if wants("keepalive") {
        println!("\nkeep-alive GET /native/me");
        println!("{}", measure::header("connections", "requests/s"));
        for connections in [1usize, 16, 64] {
            let config = server.client_config(Some(&ada))?;
            let sample =
                measure::keepalive(server.addr, config, token.clone(), connections, duration).await?;
            println!("{}", sample.row(connections));
        }
    }

    if wants("handshakes") {
        println!("\nfull mTLS handshakes (no resumption), one GET /native/me each");
        println!("{}", measure::header("workers", "conns/s"));
        let config = server.client_config(Some(&ada))?;
        let sample = measure::handshakes(server.addr, &config, token.clone(), 8, duration).await?;
        println!("{}", sample.row(8));
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
    if wants("analyze") {
        println!("\n/native/analyze, 2 MB JPEG: latency the server adds to the first delta");
        println!(
            "{:>12} {:>10} {:>10} {:>10} {:>10}",
            "clients", "requests", "p50 ms", "p99 ms", "errors"
        );
        stub.set(Behaviour {
            stamp_first: true,
            ..Behaviour::default()
        });
        let jpeg = Arc::new(noise_jpeg(2_000_000));
        for clients in [1usize, 16] {
            let deadline = Instant::now() + duration;
            let mut workers = Vec::new();
            for _ in 0..clients {
                let config = server.client_config(Some(&ada))?;
                let (token, jpeg, addr) = (token.clone(), jpeg.clone(), server.addr);
                workers.push(tokio::spawn(async move {
                    let mut conn = Connection::open(addr, config).await?;
                    let mut added = Vec::new();
                    let mut errors = 0u64;
                    while Instant::now() < deadline {
                        match first_delta_delay(&mut conn, &token, &jpeg).await {
                            Ok(delay) => added.push(delay),
                            Err(_) => errors += 1,
                        }
                    }
                    Ok::<_, anyhow::Error>((added, errors))
                }));
            }
            let sample = measure::gather(workers, duration).await?;
            let (added, errors) = (sample.latencies, sample.errors);
            println!(
                "{:>12} {:>10} {:>10.2} {:>10.2} {:>10}",
                clients,
                added.len(),
                ms(percentile(&added, 0.50)),
                ms(percentile(&added, 0.99)),
                errors
            );
        }
    }

    if wants("memory") {
        // On its own server, so that the peak before is an idle server's.
        if only.as_deref() != Some("memory") {
            println!("\n(run `--only memory` for the memory measurement on a fresh server)");
            server.stop().await?;
            return Ok(());
        }
        println!("\npeak server memory with 32 concurrent 4 MB uploads");
        let pid = server.pid().context("no server pid")?;
        let before = peak_rss_kib(pid)?;
        stub.set(Behaviour {
            first_delay: Duration::from_secs(2),
            ..Behaviour::default()
        });
        let big = Arc::new(noise_jpeg(4_000_000));
        let mut uploads = Vec::new();
        for _ in 0..32 {
            let config = server.client_config(Some(&ada))?;
            let (token, big, addr) = (token.clone(), big.clone(), server.addr);
            uploads.push(tokio::spawn(async move {
                let mut conn = Connection::open(addr, config).await?;
                first_delta_delay(&mut conn, &token, &big).await
            }));
        }
        let mut failed = 0;
        for upload in uploads {
            if upload.await?.is_err() {
                failed += 1;
            }
        }
        let after = peak_rss_kib(pid)?;
        let in_flight_mib = 32.0 * big.len() as f64 / (1024.0 * 1024.0);
        println!(
            "peak RSS before {:.1} MiB, after {:.1} MiB: +{:.1} MiB for {:.0} MiB in flight ({:.2}x), {} failed",
            before as f64 / 1024.0,
            after as f64 / 1024.0,
            (after - before) as f64 / 1024.0,
            in_flight_mib,
            (after - before) as f64 / 1024.0 / in_flight_mib,
            failed
        );
    }
    server.stop().await?;
    Ok(())
}

/// One streamed analysis; the time between the stub handing the first delta
/// to the network and this client reading it.
async fn first_delta_delay(conn: &mut Connection, token: &str, jpeg: &[u8]) -> Result<Duration> {
    let (content_type, body) = multipart(&[
        ("mode", None, b"bench"),
        ("context", None, b"what is this?"),
        ("image", Some("shot.jpg"), jpeg),
    ]);
    let bearer = format!("Bearer {token}");
    let response = conn
        .send_streaming(
            http::Method::POST,
            "/native/analyze",
            &[
                ("content-type", &content_type),
                ("authorization", &bearer),
                ("accept", "text/event-stream"),
            ],
            body,
        )
        .await?;
    anyhow::ensure!(
        response.status() == StatusCode::OK,
        "analyze answered {}",
        response.status()
    );
    let events = read_events(response, Duration::from_secs(30)).await?;
    let (first, arrived) = events.first().context("no events")?;
    let sightline_proto::StreamEvent::Delta { text } = first else {
        anyhow::bail!("first event was {first:?}");
    };
    let Some(stamp) = text.strip_prefix("stamp:") else {
        return Ok(Duration::ZERO);
    };
    let sent = sightline_tests::stub::epoch() + Duration::from_nanos(stamp.parse()?);
    Ok(arrived.saturating_duration_since(sent))
}

/// A JPEG of random pixels of about `target` bytes (noise does not compress).
fn noise_jpeg(target: usize) -> Vec<u8> {
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut side = 800u32;
    loop {
        let image = image::RgbImage::from_fn(side, side, |_, _| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            image::Rgb([seed as u8, (seed >> 8) as u8, (seed >> 16) as u8])
        });
        let mut out = std::io::Cursor::new(Vec::new());
        let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90);
        if image.write_with_encoder(encoder).is_err() {
            return Vec::new();
        }
        let bytes = out.into_inner();
        if bytes.len() >= target || side > 4000 {
            return bytes;
        }
        side = (f64::from(side) * (target as f64 / bytes.len() as f64).sqrt() * 1.02) as u32;
    }
}

/// VmHWM: the peak resident set of a process, in KiB.
fn peak_rss_kib(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmHWM")
}
