//! Keeping the device certificate alive: renewed once two thirds of its
//! lifetime has passed (and at start when past that point), with a key
//! made here; failures retry with backoff and are shown only when the
//! certificate is within [`WARN_BEFORE_EXPIRY_SECS`] of expiry.

use super::{lock, Desktop};
use crate::error::ClientError;
use crate::identity::Identity;
pub use crate::status::CertificateNotice;
use std::sync::Arc;
use std::time::Duration;

/// Renewal failures are shown from this long before expiry.
pub const WARN_BEFORE_EXPIRY_SECS: i64 = 14 * 86_400;
/// The longest wait between looks at the certificate (a laptop that slept
/// through its renewal time renews soon after it wakes).
const LONGEST_WAIT: Duration = Duration::from_secs(3600);
const FIRST_RETRY: Duration = Duration::from_secs(30);

/// When a certificate valid from `not_before` to `not_after` is renewed.
pub fn renewal_due_at(not_before: i64, not_after: i64) -> i64 {
    not_before + (not_after - not_before) * 2 / 3
}

/// The notice after a failed renewal at `now`.
pub fn failure_notice(error: &ClientError, not_after: i64, now: i64) -> CertificateNotice {
    let left = not_after - now;
    if left <= 0 {
        CertificateNotice::Expired
    } else if left <= WARN_BEFORE_EXPIRY_SECS {
        let days = (left + 86_399) / 86_400;
        let when = if days <= 1 {
            "within a day".to_owned()
        } else {
            format!("in {days} days")
        };
        CertificateNotice::RenewalFailing {
            message: format!("Your device certificate expires {when}; renewal failed: {error}"),
        }
    } else {
        CertificateNotice::Fine
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

impl Desktop {
    /// Renews the certificate now: stores the new key where the old one
    /// was, moves the connection and the session over, and returns the new
    /// certificate's end of validity.
    pub async fn renew_certificate(&self) -> Result<i64, ClientError> {
        let api = self.require_api()?;
        let current = self.store.load_identity()?.ok_or(ClientError::NotSetUp)?;
        let renewed = api.renew_certificate(&current).await?;
        self.store.save_identity(&renewed)?;
        let moved = Arc::new(api.moved_to(&renewed).await?);
        *self.api.write().unwrap_or_else(|p| p.into_inner()) = Some(moved.clone());
        // The first request over the new certificate moves the session and
        // retires the old certificate; a failure here is the connection
        // watch's to report, as the new identity is already in place.
        if let Err(error) = moved.me().await {
            tracing::warn!(%error, "the first request over the renewed certificate failed");
        }
        let (_, not_after) = renewed.validity()?;
        tracing::info!(
            old = current.serial().unwrap_or_default(),
            new = renewed.serial().unwrap_or_default(),
            not_after,
            "device certificate renewed"
        );
        Ok(not_after)
    }

    /// What the sidebar should show about the certificate now.
    pub fn certificate_notice(&self) -> CertificateNotice {
        lock(&self.certificate_notice).clone()
    }

    /// The server's request-access page with this certificate's e-mail
    /// address filled in, for a user whose certificate has run out.
    pub fn request_access_url(&self) -> Result<String, ClientError> {
        let server = self.settings().server_url.ok_or(ClientError::NotSetUp)?;
        let server = crate::settings::Settings::validate_server_url(&server)?;
        let email = self.store.load_identity()?.and_then(|identity| identity.email());
        Ok(match email {
            Some(email) => {
                let query: String = form_urlencoded::Serializer::new(String::new())
                    .append_pair("email", &email)
                    .finish();
                format!("{server}/request-access?{query}")
            }
            None => format!("{server}/request-access"),
        })
    }

    /// Renews the certificate whenever it is due, for as long as the app
    /// runs, and reports what the user should see about it.
    pub async fn keep_certificate_fresh<R>(self: Arc<Self>, report: R)
    where
        R: Fn(&CertificateNotice) + Send + Sync,
    {
        let mut retry = FIRST_RETRY;
        let mut last: Option<CertificateNotice> = None;
        let mut tell = |notice: CertificateNotice| {
            if last.as_ref() != Some(&notice) {
                *lock(&self.certificate_notice) = notice.clone();
                report(&notice);
                last = Some(notice);
            }
        };
        loop {
            let wait = match self
                .store
                .load_identity()
                .ok()
                .flatten()
                .map(|i| Identity::validity(&i))
            {
                None | Some(Err(_)) => LONGEST_WAIT,
                Some(Ok((not_before, not_after))) => {
                    let now = unix_now();
                    let due = renewal_due_at(not_before, not_after);
                    if now >= not_after {
                        tell(CertificateNotice::Expired);
                        LONGEST_WAIT
                    } else if now < due {
                        tell(CertificateNotice::Fine);
                        retry = FIRST_RETRY;
                        Duration::from_secs(u64::try_from(due - now).unwrap_or(0)).min(LONGEST_WAIT)
                    } else if self.api().is_none() {
                        LONGEST_WAIT
                    } else {
                        match self.renew_certificate().await {
                            Ok(_) => {
                                tell(CertificateNotice::Fine);
                                retry = FIRST_RETRY;
                                Duration::ZERO
                            }
                            // Renewal needs the session; a login wakes the loop.
                            Err(ClientError::LoginNeeded) => LONGEST_WAIT,
                            Err(error) => {
                                tracing::warn!(%error, retry_in_secs = retry.as_secs(), "certificate renewal failed");
                                tell(failure_notice(&error, not_after, unix_now()));
                                let wait = retry;
                                retry = (retry * 2).min(LONGEST_WAIT);
                                wait
                            }
                        }
                    }
                }
            };
            // A login or a new package wakes the loop early.
            tokio::select! {
                _ = tokio::time::sleep(wait.max(Duration::from_secs(1))) => {}
                _ = self.renewal_kick.notified() => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renewal_is_due_at_two_thirds_of_the_lifetime() {
        assert_eq!(renewal_due_at(0, 300), 200);
        assert_eq!(
            renewal_due_at(1_000, 1_000 + 365 * 86_400),
            1_000 + 243 * 86_400 + 8 * 3600
        );
    }

    #[test]
    fn failures_are_shown_only_in_the_last_two_weeks() {
        let error = ClientError::ServerUnreachable;
        let day = 86_400;
        assert_eq!(
            failure_notice(&error, 100 * day, 50 * day),
            CertificateNotice::Fine
        );
        assert_eq!(
            failure_notice(&error, 100 * day, 91 * day),
            CertificateNotice::RenewalFailing {
                message:
                    "Your device certificate expires in 9 days; renewal failed: the server cannot be reached"
                        .into()
            }
        );
        assert!(matches!(
            failure_notice(&error, 100 * day, 100 * day - 60),
            CertificateNotice::RenewalFailing { message } if message.contains("within a day")
        ));
        assert_eq!(
            failure_notice(&error, 100 * day, 100 * day),
            CertificateNotice::Expired
        );
    }
}
