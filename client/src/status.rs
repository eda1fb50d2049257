//! The connection status the sidebar shows, and the reconnect schedule:
//! after a failure wait 1 s, then 2, 4, 8, 16 and at most 30 s between tries.

use crate::error::ClientError;
use serde::Serialize;
use std::future::Future;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ConnectionStatus {
    Connected,
    /// Trying again after `in_secs` seconds.
    Reconnecting {
        in_secs: u64,
    },
    ServerUnreachable,
    CertificateRejected,
    CertificateRevoked,
    /// The certificate ran out before it was renewed: the user asks for
    /// access again.
    CertificateExpired,
    ServerNotTrusted,
    LoginNeeded,
    /// No server or certificate yet: onboarding comes first.
    NotSetUp,
}

impl ConnectionStatus {
    /// What an error means for the connection, and whether trying again
    /// can help (a rejected certificate will not get better by itself).
    pub fn after(error: &ClientError) -> (Self, bool) {
        match error {
            ClientError::ServerUnreachable | ClientError::Io(_) => (Self::ServerUnreachable, true),
            ClientError::NotSetUp => (Self::NotSetUp, false),
            ClientError::CertificateRejected => (Self::CertificateRejected, false),
            ClientError::CertificateRevoked => (Self::CertificateRevoked, false),
            ClientError::CertificateExpired => (Self::CertificateExpired, false),
            ClientError::ServerNotTrusted { .. } => (Self::ServerNotTrusted, false),
            ClientError::LoginNeeded => (Self::LoginNeeded, false),
            ClientError::Api { status, .. } if *status >= 500 => (Self::ServerUnreachable, true),
            ClientError::Api { .. }
            | ClientError::Invalid { .. }
            | ClientError::Protocol(_)
            | ClientError::Capture(_)
            | ClientError::ScreenAccess(_)
            | ClientError::FocusUnknown(_)
            | ClientError::Clipboard(_)
            | ClientError::Injection(_)
            | ClientError::Redaction(_) => (Self::Connected, false),
        }
    }

    /// One line for the status bar.
    pub fn describe(&self) -> String {
        match self {
            Self::Connected => "Connected".into(),
            Self::Reconnecting { in_secs } => format!("Reconnecting in {in_secs} s"),
            Self::ServerUnreachable => "Server unreachable".into(),
            Self::CertificateRejected => "The server rejected this computer's certificate".into(),
            Self::CertificateRevoked => {
                "This computer's certificate was revoked; ask your administrator for a new one".into()
            }
            Self::CertificateExpired => {
                "This computer's certificate has expired; ask for access again".into()
            }
            Self::ServerNotTrusted => "The server's certificate is not the one this computer trusts".into(),
            Self::LoginNeeded => "Please log in".into(),
            Self::NotSetUp => "Not set up".into(),
        }
    }
}

/// What the sidebar shows about the certificate: nothing while all is well.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum CertificateNotice {
    Fine,
    /// Renewal keeps failing and the certificate ends soon.
    RenewalFailing {
        message: String,
    },
    /// The certificate has run out.
    Expired,
}

/// Exponential backoff: 1, 2, 4, 8, 16, 30, 30, ... seconds.
#[derive(Debug, Default, Clone)]
pub struct Backoff {
    failures: u32,
}

pub const MAX_BACKOFF: Duration = Duration::from_secs(30);

impl Backoff {
    pub fn next_delay(&mut self) -> Duration {
        let delay = Duration::from_secs(1u64 << self.failures.min(5)).min(MAX_BACKOFF);
        self.failures = self.failures.saturating_add(1);
        delay
    }

    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

/// Watches the connection: probes, reports each status change, waits with
/// backoff after failures and `healthy_interval` after successes, and stops
/// at a status that retrying cannot fix. `sleep` is a parameter so tests
/// control time.
pub async fn watch<P, PF, S, SF, R>(
    mut probe: P,
    mut sleep: S,
    mut report: R,
    healthy_interval: Duration,
) -> ConnectionStatus
where
    P: FnMut() -> PF,
    PF: Future<Output = Result<(), ClientError>>,
    S: FnMut(Duration) -> SF,
    SF: Future<Output = bool>,
    R: FnMut(&ConnectionStatus),
{
    let mut backoff = Backoff::default();
    loop {
        let delay = match probe().await {
            Ok(()) => {
                backoff.reset();
                report(&ConnectionStatus::Connected);
                healthy_interval
            }
            Err(error) => {
                let (status, retry) = ConnectionStatus::after(&error);
                if status == ConnectionStatus::Connected {
                    // The server answered (refusing one request): the
                    // connection is fine; keep watching.
                    backoff.reset();
                    report(&status);
                    match error {
                        ClientError::Api {
                            retry_after: Some(wait),
                            ..
                        } => Duration::from_secs(wait).max(healthy_interval),
                        _ => healthy_interval,
                    }
                } else if !retry {
                    report(&status);
                    return status;
                } else {
                    let delay = backoff.next_delay();
                    report(&ConnectionStatus::Reconnecting {
                        in_secs: delay.as_secs(),
                    });
                    delay
                }
            }
        };
        // `sleep` answers false when the watch should end (app quitting).
        if !sleep(delay).await {
            return ConnectionStatus::Connected;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    #[test]
    fn backoff_doubles_to_thirty_seconds_and_resets() {
        let mut backoff = Backoff::default();
        let delays: Vec<u64> = (0..8).map(|_| backoff.next_delay().as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 30, 30, 30]);
        backoff.reset();
        assert_eq!(backoff.next_delay().as_secs(), 1);
    }

    #[tokio::test]
    async fn watch_reconnects_with_backoff_then_recovers() {
        // The server is down for seven probes, then back.
        let outcomes = RefCell::new(
            std::iter::repeat_n(Err(ClientError::ServerUnreachable), 7)
                .chain([Ok(()), Err(ClientError::ServerUnreachable), Ok(())])
                .collect::<Vec<_>>(),
        );
        let slept = RefCell::new(Vec::new());
        let reported = RefCell::new(Vec::new());
        watch(
            || {
                let next = outcomes.borrow_mut().remove(0);
                async move { next }
            },
            |delay| {
                slept.borrow_mut().push(delay.as_secs());
                let more = !outcomes.borrow().is_empty();
                async move { more }
            },
            |status| reported.borrow_mut().push(status.clone()),
            Duration::from_secs(15),
        )
        .await;
        assert_eq!(*slept.borrow(), [1, 2, 4, 8, 16, 30, 30, 15, 1, 15]);
        assert_eq!(
            reported.borrow()[0],
            ConnectionStatus::Reconnecting { in_secs: 1 }
        );
        assert_eq!(reported.borrow()[7], ConnectionStatus::Connected);
    }

    #[tokio::test]
    async fn watch_stops_at_what_retrying_cannot_fix() {
        let slept = RefCell::new(0);
        let status = watch(
            || async { Err(ClientError::CertificateRevoked) },
            |_| {
                *slept.borrow_mut() += 1;
                async { true }
            },
            |_| {},
            Duration::from_secs(15),
        )
        .await;
        assert_eq!(status, ConnectionStatus::CertificateRevoked);
        assert_eq!(*slept.borrow(), 0);
    }
}
