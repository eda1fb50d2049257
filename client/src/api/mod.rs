//! The HTTP client of the Sightline server. Every connection is mutual TLS
//! with the user's certificate, and the server's CA is the only trusted
//! root. After login the client holds a token pair and refreshes the access
//! token shortly before it expires (and once more if the server says it
//! has); when the session cannot be refreshed the caller hears `LoginNeeded`.
//!
//! - `transport`: the TLS client, sending, and what failures mean;
//! - `tokens`: the token pair, its refresh and the session saver;
//! - `stream`: streamed answers ([`EventStream`]);
//! - `ca`: the server's CA fetched for onboarding, before any trust;
//! - `renewal`: a new certificate for a key made here, and moving over.

mod ca;
mod renewal;
mod stream;
mod tokens;
mod transport;

pub use ca::fetch_ca_untrusted;
pub use stream::EventStream;
pub use tokens::{Clock, SessionSaver};

use crate::error::ClientError;
use crate::identity::Identity;
use sightline_proto::{
    ErrorCode, LoginRequest, LoginResponse, MeResponse, ModeSummary, RewriteRequest, Secret, TokenResponse,
    TotpEnrollment, VerifyTwoFactorRequest,
};
use tokens::Tokens;
use transport::{json, Transport, REQUEST_TIMEOUT};

pub struct ApiClient {
    transport: Transport,
    tokens: Tokens,
}

impl std::fmt::Debug for ApiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiClient")
            .field("base", &self.transport.base)
            .finish_non_exhaustive()
    }
}

/// An image sent along with a question; made from a redacted frame by
/// [`crate::capture::encode`].
#[derive(Clone)]
pub struct Attachment {
    pub bytes: bytes::Bytes,
    pub file_name: String,
    pub mime: &'static str,
    /// What redaction found and filled in it.
    pub redaction: crate::redaction::RedactionReport,
    /// Why it was taken; a picture with a trigger goes into the upload log
    /// once the server has accepted it.
    pub trigger: Option<crate::ambient::Trigger>,
}

impl Attachment {
    /// Marks the picture for the upload log.
    pub fn logged_as(mut self, trigger: crate::ambient::Trigger) -> Self {
        self.trigger = Some(trigger);
        self
    }
}

impl std::fmt::Debug for Attachment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attachment")
            .field("file_name", &self.file_name)
            .field("bytes", &self.bytes.len())
            .finish()
    }
}

/// A password-verified login waiting for its code.
#[derive(Debug, Clone)]
pub struct Challenge {
    pub challenge: Secret,
    /// On first login: the authenticator to set up (QR code and URI).
    pub enrollment: Option<TotpEnrollment>,
}

impl ApiClient {
    pub fn new(server_url: &str, identity: &Identity) -> Result<Self, ClientError> {
        Ok(Self {
            transport: Transport::new(server_url, identity)?,
            tokens: Tokens::new(),
        })
    }

    /// Uses `clock` instead of the system time.
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.tokens.clock = clock;
        self
    }

    /// Calls `saver` with each new refresh token, and with `None` when the
    /// session ends.
    pub fn with_session_saver(mut self, saver: SessionSaver) -> Self {
        self.tokens.saver = Some(saver);
        self
    }

    /// Resumes a session from a refresh token kept earlier; the first
    /// request refreshes it (and hears `LoginNeeded` if it is over).
    pub async fn resume(&self, refresh: Secret) {
        self.tokens.resume(refresh).await;
    }

    /// Finds out why connections end before any answer (see
    /// `transport`): the TLS alert behind a closed connection.
    pub async fn diagnose(&self) -> ClientError {
        self.transport.diagnose().await
    }

    /// Sends an authenticated request; retries once with a fresh token if
    /// the server says the token expired.
    async fn authed(
        &self,
        make: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, ClientError> {
        let token = self.tokens.access_token(&self.transport, false).await?;
        match self.transport.send(make().bearer_auth(token.expose())).await {
            Err(ClientError::Api {
                code: ErrorCode::TokenExpired,
                ..
            }) => {
                let token = self.tokens.access_token(&self.transport, true).await?;
                self.transport
                    .send(make().bearer_auth(token.expose()))
                    .await
                    .map_err(|e| self.tokens.session_error(e))
            }
            other => other.map_err(|e| self.tokens.session_error(e)),
        }
    }

    /// Is the server there, and does it accept this certificate?
    pub async fn check(&self) -> Result<(), ClientError> {
        // `/native/modes` needs a certificate the server knows; without a
        // login it answers 401 missing_token, which is fine here.
        match self
            .transport
            .send(
                self.transport
                    .http
                    .get(self.transport.url("/native/modes"))
                    .timeout(REQUEST_TIMEOUT),
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(ClientError::Api {
                code: ErrorCode::MissingToken,
                ..
            }) => Ok(()),
            Err(error) => Err(error),
        }
    }

    pub async fn login(&self, username: &str, password: Secret) -> Result<Challenge, ClientError> {
        let request = LoginRequest {
            username: username.to_owned(),
            password,
        };
        let answer: LoginResponse = json(
            self.transport
                .send(
                    self.transport
                        .http
                        .post(self.transport.url("/native/login"))
                        .timeout(REQUEST_TIMEOUT)
                        .json(&request),
                )
                .await?,
        )
        .await?;
        Ok(Challenge {
            challenge: answer.challenge,
            enrollment: answer.enrollment,
        })
    }

    /// Completes a login with a TOTP or recovery code. Returns the recovery
    /// codes when this confirmed a new authenticator (show them once).
    pub async fn verify(&self, challenge: &Secret, code: &str) -> Result<Option<Vec<Secret>>, ClientError> {
        let request = VerifyTwoFactorRequest {
            challenge: challenge.clone(),
            code: Secret::new(code.trim()),
        };
        let tokens: TokenResponse = json(
            self.transport
                .send(
                    self.transport
                        .http
                        .post(self.transport.url("/native/verify-2fa"))
                        .timeout(REQUEST_TIMEOUT)
                        .json(&request),
                )
                .await?,
        )
        .await?;
        let recovery = tokens.recovery_codes.clone();
        self.tokens.store(tokens).await;
        Ok(recovery)
    }

    pub async fn logged_in(&self) -> bool {
        self.tokens.is_set().await
    }

    pub async fn logout(&self) -> Result<(), ClientError> {
        let result = self
            .authed(|| {
                self.transport
                    .http
                    .post(self.transport.url("/native/logout"))
                    .timeout(REQUEST_TIMEOUT)
            })
            .await
            .map(|_| ());
        self.tokens.forget().await;
        match result {
            Err(ClientError::LoginNeeded) => Ok(()),
            other => other,
        }
    }

    pub async fn me(&self) -> Result<MeResponse, ClientError> {
        let me: MeResponse = json(
            self.authed(|| {
                self.transport
                    .http
                    .get(self.transport.url("/native/me"))
                    .timeout(REQUEST_TIMEOUT)
            })
            .await?,
        )
        .await?;
        self.tokens.set_policy(me.policy);
        Ok(me)
    }

    /// The administrator's policy, as the server last sent it; `None`
    /// before any token or `me` answer brought it in this run.
    pub fn policy(&self) -> Option<sightline_proto::ClientPolicy> {
        self.tokens.policy()
    }

    pub async fn modes(&self) -> Result<Vec<ModeSummary>, ClientError> {
        json(
            self.authed(|| {
                self.transport
                    .http
                    .get(self.transport.url("/native/modes"))
                    .timeout(REQUEST_TIMEOUT)
            })
            .await?,
        )
        .await
    }

    /// Asks a question, optionally about an image; the answer streams in
    /// as events.
    pub async fn analyze(
        &self,
        image: Option<Attachment>,
        context: &str,
        mode: &str,
    ) -> Result<EventStream, ClientError> {
        // The last word on the administrator's policy, now that a token
        // (and with it the policy) is in hand: a picture prepared before
        // the policy was known does not go unredacted.
        self.tokens.access_token(&self.transport, false).await?;
        let required = self.policy().is_some_and(|p| p.require_redaction);
        if required
            && image
                .as_ref()
                .is_some_and(|i| i.redaction.off || i.redaction.skipped_by_user)
        {
            return Err(ClientError::Redaction(
                "nothing was sent: your administrator requires redaction; attach the picture again".into(),
            ));
        }
        let response = self
            .authed(|| {
                let mut form = reqwest::multipart::Form::new()
                    .text("mode", mode.to_owned())
                    .text("context", context.to_owned());
                if let Some(image) = &image {
                    let part = reqwest::multipart::Part::stream(image.bytes.clone())
                        .file_name(image.file_name.clone())
                        .mime_str(image.mime)
                        .unwrap_or_else(|_| reqwest::multipart::Part::stream(image.bytes.clone()));
                    form = form.part("image", part);
                }
                self.transport
                    .http
                    .post(self.transport.url("/native/analyze"))
                    .header(reqwest::header::ACCEPT, "text/event-stream")
                    .multipart(form)
            })
            .await?;
        Ok(EventStream::new(response))
    }

    /// Asks for a rewrite of `text`; the replacement streams in.
    pub async fn rewrite(
        &self,
        text: &str,
        instruction: Option<&str>,
        mode: &str,
    ) -> Result<EventStream, ClientError> {
        let request = RewriteRequest {
            text: text.to_owned(),
            instruction: instruction.map(str::to_owned),
            mode: mode.to_owned(),
        };
        let response = self
            .authed(|| {
                self.transport
                    .http
                    .post(self.transport.url("/native/rewrite"))
                    .header(reqwest::header::ACCEPT, "text/event-stream")
                    .json(&request)
            })
            .await?;
        Ok(EventStream::new(response))
    }
}
