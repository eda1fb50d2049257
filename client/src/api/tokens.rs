//! The login session's tokens: the access token is refreshed shortly
//! before it expires (and once more if the server says it has), the
//! refresh token is handed to a [`SessionSaver`] whenever it rotates, and
//! answers that end the session forget it.

use super::transport::{json, Transport, REQUEST_TIMEOUT};
use crate::error::ClientError;
use sightline_proto::{ClientPolicy, ErrorCode, RefreshRequest, Secret, TokenResponse};
use std::sync::Arc;
use tokio::sync::Mutex;

/// Refresh this long before the access token expires.
const REFRESH_MARGIN_SECS: i64 = 30;

/// The time in Unix seconds; a parameter so tests can move it.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// Told the refresh token whenever it changes (`None`: the session ended),
/// so the app can keep the session across restarts.
pub type SessionSaver = Arc<dyn Fn(Option<&Secret>) + Send + Sync>;

pub(super) fn system_clock() -> Clock {
    Arc::new(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
            .unwrap_or(0)
    })
}

struct Pair {
    access: Secret,
    refresh: Secret,
    expires_at: i64,
}

/// The token pair of one login, if there is one.
pub(super) struct Tokens {
    pair: Mutex<Option<Pair>>,
    pub(super) clock: Clock,
    pub(super) saver: Option<SessionSaver>,
    /// The administrator's policy, as the last token or `me` brought it;
    /// `None` until one did.
    pub(super) policy: std::sync::Mutex<Option<ClientPolicy>>,
}

impl Tokens {
    pub(super) fn new() -> Self {
        Self {
            pair: Mutex::new(None),
            clock: system_clock(),
            saver: None,
            policy: std::sync::Mutex::new(None),
        }
    }

    pub(super) fn set_policy(&self, policy: ClientPolicy) {
        *self.policy.lock().unwrap_or_else(|p| p.into_inner()) = Some(policy);
    }

    pub(super) fn policy(&self) -> Option<ClientPolicy> {
        *self.policy.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A refresh token kept from an earlier run; the first request
    /// refreshes it.
    pub(super) async fn resume(&self, refresh: Secret) {
        *self.pair.lock().await = Some(Pair {
            access: Secret::new(""),
            refresh,
            expires_at: 0,
        });
    }

    pub(super) fn save_session(&self, refresh: Option<&Secret>) {
        if let Some(saver) = &self.saver {
            saver(refresh);
        }
    }

    pub(super) async fn is_set(&self) -> bool {
        self.pair.lock().await.is_some()
    }

    /// Forgets the session (logout).
    pub(super) async fn forget(&self) {
        *self.pair.lock().await = None;
        self.save_session(None);
    }

    pub(super) async fn store(&self, tokens: TokenResponse) {
        let expires_at = (self.clock)() + i64::try_from(tokens.expires_in).unwrap_or(0);
        self.set_policy(tokens.policy);
        self.save_session(Some(&tokens.refresh_token));
        *self.pair.lock().await = Some(Pair {
            access: tokens.access_token,
            refresh: tokens.refresh_token,
            expires_at,
        });
    }

    /// The access token, refreshed first when it is about to expire.
    pub(super) async fn access_token(
        &self,
        transport: &Transport,
        force_refresh: bool,
    ) -> Result<Secret, ClientError> {
        let mut guard = self.pair.lock().await;
        let tokens = guard.as_ref().ok_or(ClientError::LoginNeeded)?;
        if !force_refresh && tokens.expires_at - (self.clock)() > REFRESH_MARGIN_SECS {
            return Ok(tokens.access.clone());
        }
        let request = RefreshRequest {
            refresh_token: tokens.refresh.clone(),
        };
        let refresh = transport
            .http
            .post(transport.url("/native/refresh"))
            .timeout(REQUEST_TIMEOUT)
            .json(&request);
        match transport.send(refresh).await {
            Ok(response) => {
                let fresh: TokenResponse = json(response).await?;
                let expires_at = (self.clock)() + i64::try_from(fresh.expires_in).unwrap_or(0);
                let access = fresh.access_token.clone();
                self.set_policy(fresh.policy);
                self.save_session(Some(&fresh.refresh_token));
                *guard = Some(Pair {
                    access: fresh.access_token,
                    refresh: fresh.refresh_token,
                    expires_at,
                });
                Ok(access)
            }
            // Only answers that end the session forget it; a busy or broken
            // server (5xx, 429, a lost connection) leaves it for a retry.
            Err(ClientError::Api {
                code:
                    ErrorCode::InvalidRefreshToken
                    | ErrorCode::RefreshTokenReused
                    | ErrorCode::TokenBindingMismatch
                    | ErrorCode::AccountDisabled
                    | ErrorCode::InvalidToken,
                ..
            }) => {
                *guard = None;
                self.save_session(None);
                Err(ClientError::LoginNeeded)
            }
            Err(
                error @ (ClientError::CertificateRevoked
                | ClientError::CertificateRejected
                | ClientError::CertificateExpired),
            ) => {
                *guard = None;
                self.save_session(None);
                Err(error)
            }
            Err(error) => Err(error),
        }
    }

    /// Moves the session to another connection (a renewed certificate):
    /// the same refresh token, and an access token that is refreshed before
    /// its first use, since it is bound to the old certificate.
    pub(super) async fn hand_over(&self) -> Self {
        let pair = self.pair.lock().await.as_ref().map(|pair| Pair {
            access: Secret::new(""),
            refresh: pair.refresh.clone(),
            expires_at: 0,
        });
        Self {
            pair: Mutex::new(pair),
            clock: self.clock.clone(),
            saver: self.saver.clone(),
            policy: std::sync::Mutex::new(self.policy()),
        }
    }

    /// Errors that end the session become `LoginNeeded`.
    pub(super) fn session_error(&self, error: ClientError) -> ClientError {
        match error {
            ClientError::Api {
                code:
                    ErrorCode::InvalidToken
                    | ErrorCode::TokenExpired
                    | ErrorCode::MissingToken
                    | ErrorCode::TokenBindingMismatch
                    | ErrorCode::AccountDisabled,
                ..
            } => {
                if let Ok(mut tokens) = self.pair.try_lock() {
                    *tokens = None;
                }
                self.save_session(None);
                ClientError::LoginNeeded
            }
            other => other,
        }
    }
}
