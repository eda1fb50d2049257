//! Who attempts a login, from where, and for what; and the guard of a
//! running server (token keys, failure throttles, and the counts of
//! outcomes it reports).

use crate::auth::jwt::JwtKeys;
use crate::auth::throttle::{Policy, Throttle};
use crate::error::Error;
use crate::metrics::{LoginOutcome, Metrics};
use crate::tls::PeerCertificate;
use std::net::IpAddr;
use std::sync::Arc;

/// What guards logins in a running server: the key that signs access
/// tokens, and the failure throttles, per account and per client address.
#[derive(Debug)]
pub struct LoginGuard {
    pub jwt: JwtKeys,
    /// Password failures per submitted username (known or not, so the
    /// throttle itself reveals nothing).
    pub account_throttle: Throttle,
    /// Password and code failures per client address.
    pub client_throttle: Throttle,
    pub metrics: Arc<Metrics>,
}

impl LoginGuard {
    pub fn new(jwt: JwtKeys, metrics: Arc<Metrics>) -> Self {
        Self {
            jwt,
            metrics,
            account_throttle: Throttle::new(
                "password-account",
                Policy {
                    allowance: 5,
                    window_secs: 900,
                    first_lock_secs: 30,
                    max_lock_secs: 900,
                },
            ),
            client_throttle: Throttle::new(
                "login-address",
                Policy {
                    allowance: 20,
                    window_secs: 900,
                    first_lock_secs: 60,
                    max_lock_secs: 3600,
                },
            ),
        }
    }
}

impl LoginGuard {
    /// Counts a login step's outcome; the server's own failures (the
    /// database down) are not an outcome of the login and are not counted.
    pub(crate) fn count<T>(&self, step: &'static str, result: &Result<T, Error>) {
        let outcome = match result {
            Ok(_) => LoginOutcome::Accepted,
            Err(Error::TooManyAttempts { .. }) => LoginOutcome::Locked,
            Err(error) if error.is_failure() => return,
            Err(_) => LoginOutcome::Refused,
        };
        self.metrics.login(step, outcome);
    }
}

/// Where a login attempt comes from.
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    /// The verified client certificate; the admin pages may run without one
    /// (`admin.require_client_certificate = false`).
    pub peer: Option<&'a PeerCertificate>,
    pub client: IpAddr,
}

impl Origin<'_> {
    /// The certificate's thumbprint, or empty without one.
    pub(crate) fn thumbprint(&self) -> &[u8] {
        self.peer.map_or(&[], |peer| peer.thumbprint.as_slice())
    }
}

/// What a login is for: tokens for the desktop app, or an admin session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Native,
    Admin,
}

impl Purpose {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Native => "native",
            Self::Admin => "admin",
        }
    }
}
