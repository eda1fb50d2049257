//! [`Metrics`]: what a running server counts for Prometheus. Every
//! instance keeps its own counters (Prometheus adds them up across
//! instances); they are served on a listener of their own when
//! `[metrics] listen` is set (`http::metrics_router`), and cost a few
//! atomic increments per request when it is not.
//!
//! Labels are small closed sets (route classes, status codes, reasons,
//! provider ids from the configuration), never a path, an address or a
//! user, so the number of series stays bounded whatever clients send.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::time::Duration;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    class: &'static str,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ClassLabel {
    class: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LoginLabels {
    step: &'static str,
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProviderLabel {
    provider: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProviderErrorLabels {
    provider: String,
    code: &'static str,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn request_histogram() -> Histogram {
    // 0.5 ms to about 16 s.
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

fn first_token_histogram() -> Histogram {
    // 50 ms to about 100 s: models are slow to start.
    Histogram::new(exponential_buckets(0.05, 2.0, 12))
}

/// One login step's result, as counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginOutcome {
    Accepted,
    Refused,
    /// Refused because the account or the address is locked out.
    Locked,
}

impl LoginOutcome {
    fn as_str(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Refused => "refused",
            Self::Locked => "locked",
        }
    }
}

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    request_seconds: HistogramFamily<ClassLabel>,
    handshakes: Counter,
    handshake_failures: Family<ReasonLabel, Counter>,
    connections_refused: Family<ReasonLabel, Counter>,
    open_connections: Gauge,
    logins: Family<LoginLabels, Counter>,
    lockouts: Counter,
    provider_first_token_seconds: HistogramFamily<ProviderLabel>,
    provider_errors: Family<ProviderErrorLabels, Counter>,
    mail_queued: Gauge,
    mail_failing: Gauge,
    revoked_certificates: Gauge,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("open_connections", &self.open_connections.get())
            .finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("sightline");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by route class (public, native, admin, health) and status",
            requests.clone(),
        );
        let request_seconds: HistogramFamily<ClassLabel> = Family::new_with_constructor(request_histogram);
        registry.register(
            "http_request_duration_seconds",
            "Time from a request's arrival to its answer's head, by route class",
            request_seconds.clone(),
        );
        let handshakes = Counter::default();
        registry.register("tls_handshakes", "TLS handshakes completed", handshakes.clone());
        let handshake_failures = Family::<ReasonLabel, Counter>::default();
        registry.register(
            "tls_handshake_failures",
            "TLS handshakes that failed, by reason",
            handshake_failures.clone(),
        );
        let connections_refused = Family::<ReasonLabel, Counter>::default();
        registry.register(
            "connections_refused",
            "Connections refused by the connection caps, by cap",
            connections_refused.clone(),
        );
        let open_connections = Gauge::default();
        registry.register(
            "open_connections",
            "TCP connections open now",
            open_connections.clone(),
        );
        let logins = Family::<LoginLabels, Counter>::default();
        registry.register(
            "logins",
            "Login steps (password, second_factor) by outcome (accepted, refused, locked)",
            logins.clone(),
        );
        let lockouts = Counter::default();
        registry.register(
            "lockouts",
            "Login attempts that found an account or address locked out",
            lockouts.clone(),
        );
        let provider_first_token_seconds: HistogramFamily<ProviderLabel> =
            Family::new_with_constructor(first_token_histogram);
        registry.register(
            "provider_first_token_seconds",
            "Time from starting a provider to its first answer event, by provider",
            provider_first_token_seconds.clone(),
        );
        let provider_errors = Family::<ProviderErrorLabels, Counter>::default();
        registry.register(
            "provider_errors",
            "Provider runs that ended in an error, by provider and error code",
            provider_errors.clone(),
        );
        let mail_queued = Gauge::default();
        registry.register(
            "mail_queued",
            "Mails waiting for delivery (read at scrape time)",
            mail_queued.clone(),
        );
        let mail_failing = Gauge::default();
        registry.register(
            "mail_failing",
            "Waiting mails whose last delivery attempt failed (read at scrape time)",
            mail_failing.clone(),
        );
        let revoked_certificates = Gauge::default();
        registry.register(
            "revoked_certificates",
            "Revoked client certificates known to this instance",
            revoked_certificates.clone(),
        );
        Self {
            registry,
            requests,
            request_seconds,
            handshakes,
            handshake_failures,
            connections_refused,
            open_connections,
            logins,
            lockouts,
            provider_first_token_seconds,
            provider_errors,
            mail_queued,
            mail_failing,
            revoked_certificates,
        }
    }

    pub fn request(&self, class: &'static str, status: u16, elapsed: Duration) {
        self.requests
            .get_or_create(&RequestLabels { class, status })
            .inc();
        self.request_seconds
            .get_or_create(&ClassLabel { class })
            .observe(elapsed.as_secs_f64());
    }

    pub fn handshake_succeeded(&self) {
        self.handshakes.inc();
    }

    pub fn handshake_failed(&self, reason: &'static str) {
        self.handshake_failures
            .get_or_create(&ReasonLabel { reason })
            .inc();
    }

    pub fn connection_refused(&self, reason: &'static str) {
        self.connections_refused
            .get_or_create(&ReasonLabel { reason })
            .inc();
    }

    /// The open-connections gauge, shared with the connection caps that
    /// count by it.
    pub fn open_connections(&self) -> Gauge {
        self.open_connections.clone()
    }

    pub fn login(&self, step: &'static str, outcome: LoginOutcome) {
        self.logins
            .get_or_create(&LoginLabels {
                step,
                outcome: outcome.as_str(),
            })
            .inc();
        if outcome == LoginOutcome::Locked {
            self.lockouts.inc();
        }
    }

    pub fn provider_first_token(&self, provider: &str, elapsed: Duration) {
        self.provider_first_token_seconds
            .get_or_create(&ProviderLabel {
                provider: provider.to_owned(),
            })
            .observe(elapsed.as_secs_f64());
    }

    pub fn provider_error(&self, provider: &str, code: &'static str) {
        self.provider_errors
            .get_or_create(&ProviderErrorLabels {
                provider: provider.to_owned(),
                code,
            })
            .inc();
    }

    pub fn set_mail_queue(&self, queued: i64, failing: i64) {
        self.mail_queued.set(queued);
        self.mail_failing.set(failing);
    }

    pub fn set_revoked_certificates(&self, count: usize) {
        self.revoked_certificates
            .set(i64::try_from(count).unwrap_or(i64::MAX));
    }

    /// The text exposition format Prometheus scrapes.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail; an error here would be a
        // metric that cannot encode itself, and the scrape shows a gap.
        if let Err(error) = prometheus_client::encoding::text::encode(&mut text, &self.registry) {
            tracing::warn!(%error, "encoding the metrics failed");
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_appear_in_the_exposition_with_their_labels() {
        let metrics = Metrics::new();
        metrics.request("native", 200, Duration::from_millis(3));
        metrics.handshake_failed("timeout");
        metrics.login("password", LoginOutcome::Locked);
        metrics.provider_error("ollama", "provider_timeout");
        metrics.set_mail_queue(4, 1);
        let text = metrics.encode();
        assert!(
            text.contains("sightline_http_requests_total{class=\"native\",status=\"200\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("sightline_http_request_duration_seconds_count{class=\"native\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("sightline_tls_handshake_failures_total{reason=\"timeout\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("sightline_logins_total{step=\"password\",outcome=\"locked\"} 1"),
            "{text}"
        );
        assert!(text.contains("sightline_lockouts_total 1"), "{text}");
        assert!(
            text.contains("sightline_provider_errors_total{provider=\"ollama\",code=\"provider_timeout\"} 1"),
            "{text}"
        );
        assert!(text.contains("sightline_mail_queued 4"), "{text}");
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
