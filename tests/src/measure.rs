//! What the benchmarks share: keep-alive requests and full handshakes
//! against one address, for a while, from several workers; latencies
//! gathered and summarised; the texts the rewrite benchmarks type.

use crate::connection::Connection;
use anyhow::Result;
use http::StatusCode;
use rustls::ClientConfig;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Latencies of the requests that succeeded (sorted), and how many failed.
#[derive(Debug, Default)]
pub struct Sample {
    pub latencies: Vec<Duration>,
    pub errors: u64,
    pub duration: Duration,
}

impl Sample {
    pub fn per_second(&self) -> f64 {
        self.latencies.len() as f64 / self.duration.as_secs_f64()
    }

    /// `width  rate  p50  p99  errors`, aligned with [`header`].
    pub fn row(&self, width: usize) -> String {
        format!(
            "{:>12} {:>12.0} {:>10.2} {:>10.2} {:>10}",
            width,
            self.per_second(),
            ms(percentile(&self.latencies, 0.50)),
            ms(percentile(&self.latencies, 0.99)),
            self.errors
        )
    }
}

/// The column titles above [`Sample::row`].
pub fn header(width: &str, rate: &str) -> String {
    format!(
        "{:>12} {:>12} {:>10} {:>10} {:>10}",
        width, rate, "p50 ms", "p99 ms", "errors"
    )
}

/// `GET /native/me` over `connections` kept-alive connections for `duration`.
pub async fn keepalive(
    addr: SocketAddr,
    config: Arc<ClientConfig>,
    token: Arc<String>,
    connections: usize,
    duration: Duration,
) -> Result<Sample> {
    let deadline = Instant::now() + duration;
    let mut workers = Vec::new();
    for _ in 0..connections {
        let (config, token) = (config.clone(), token.clone());
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0u64;
            let mut conn = Connection::open(addr, config).await?;
            while Instant::now() < deadline {
                let started = Instant::now();
                match conn.get("/native/me", Some(&token)).await {
                    Ok(answer) if answer.status == StatusCode::OK => latencies.push(started.elapsed()),
                    _ => errors += 1,
                }
            }
            Ok::<_, anyhow::Error>((latencies, errors))
        }));
    }
    gather(workers, duration).await
}

/// Full mutual-TLS handshakes (no resumption), one `GET /native/me` each,
/// from `workers` workers for `duration`.
pub async fn handshakes(
    addr: SocketAddr,
    config: &ClientConfig,
    token: Arc<String>,
    workers_count: usize,
    duration: Duration,
) -> Result<Sample> {
    let mut config = config.clone();
    config.resumption = rustls::client::Resumption::disabled();
    let config = Arc::new(config);
    let deadline = Instant::now() + duration;
    let mut workers = Vec::new();
    for _ in 0..workers_count {
        let (config, token) = (config.clone(), token.clone());
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
    gather(workers, duration).await
}

pub type WorkerResult = Result<(Vec<Duration>, u64)>;

/// Joins the workers' latencies (sorted) and error counts.
pub async fn gather(
    workers: Vec<tokio::task::JoinHandle<WorkerResult>>,
    duration: Duration,
) -> Result<Sample> {
    let mut latencies = Vec::new();
    let mut errors = 0;
    for worker in workers {
        let (worker_latencies, worker_errors) = worker.await??;
        latencies.extend(worker_latencies);
        errors += worker_errors;
    }
    latencies.sort();
    Ok(Sample {
        latencies,
        errors,
        duration,
    })
}

pub fn percentile(sorted: &[Duration], quantile: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() as f64 - 1.0) * quantile).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

pub fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// A text of about `chars` characters for the rewrite benchmarks: words,
/// ASCII or not (accents, CJK, Greek, a symbol, an emoji), with a line
/// break every twelve words in the longer ones, as in a paragraph.
pub fn sample_text(chars: usize, ascii: bool) -> String {
    let words: &[&str] = if ascii {
        &[
            "Sightline",
            "types",
            "only",
            "approved",
            "text,",
            "into",
            "the",
            "same",
            "window.",
        ]
    } else {
        &[
            "naïve",
            "café",
            "—",
            "東京",
            "✓",
            "Grüße",
            "señor",
            "Ελλάδα",
            "déjà",
            "😀",
        ]
    };
    let mut text = String::new();
    let mut index = 0;
    while text.chars().count() < chars {
        if !text.is_empty() {
            text.push(if chars >= 100 && index % 12 == 0 {
                '\n'
            } else {
                ' '
            });
        }
        text.push_str(words[index % words.len()]);
        index += 1;
    }
    text.chars().take(chars).collect::<String>().trim_end().to_owned()
}
