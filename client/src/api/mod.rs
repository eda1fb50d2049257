//! The HTTP client of the Sightline server. Every connection is mutual TLS
//! with the user's certificate, and the server's CA is the only trusted
//! root. After login the client holds a token pair and refreshes the access
//! token shortly before it expires (and once more if the server says it
//! has); when the session cannot be refreshed the caller hears `LoginNeeded`.

use crate::error::ClientError;
use crate::identity::Identity;
use sightline_proto::sse::SseParser;
use sightline_proto::{
    ErrorBody, ErrorCode, LoginRequest, LoginResponse, MeResponse, ModeSummary, RefreshRequest,
    RewriteRequest, Secret, StreamEvent, TokenResponse, TotpEnrollment, VerifyTwoFactorRequest,
};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;

/// Requests that are not streamed give up after this long.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Refresh this long before the access token expires.
const REFRESH_MARGIN_SECS: i64 = 30;

/// The time in Unix seconds; a parameter so tests can move it.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

fn system_clock() -> Clock {
    Arc::new(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
            .unwrap_or(0)
    })
}

struct Tokens {
    access: Secret,
    refresh: Secret,
    expires_at: i64,
}

pub struct ApiClient {
    http: reqwest::Client,
    base: String,
    /// For [`ApiClient::diagnose`]: the same trust and identity as `http`.
    tls: Arc<rustls::ClientConfig>,
    tokens: Mutex<Option<Tokens>>,
    clock: Clock,
    saver: Option<SessionSaver>,
}

impl std::fmt::Debug for ApiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiClient")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

/// An image sent along with a question.
#[derive(Clone)]
pub struct Attachment {
    pub bytes: bytes::Bytes,
    pub file_name: String,
    pub mime: &'static str,
}

impl std::fmt::Debug for Attachment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attachment")
            .field("file_name", &self.file_name)
            .field("bytes", &self.bytes.len())
            .finish()
    }
}

/// Told the refresh token whenever it changes (`None`: the session ended),
/// so the app can keep the session across restarts.
pub type SessionSaver = Arc<dyn Fn(Option<&Secret>) + Send + Sync>;

/// A password-verified login waiting for its code.
#[derive(Debug, Clone)]
pub struct Challenge {
    pub challenge: Secret,
    /// On first login: the authenticator to set up (QR code and URI).
    pub enrollment: Option<TotpEnrollment>,
}

impl ApiClient {
    pub fn new(server_url: &str, identity: &Identity) -> Result<Self, ClientError> {
        let pem = format!(
            "{}\n{}",
            identity.cert_pem().trim_end(),
            identity.key_pem().expose()
        );
        let client_identity = reqwest::Identity::from_pem(pem.as_bytes())
            .map_err(|e| ClientError::invalid("certificate", e.to_string()))?;
        let ca = reqwest::Certificate::from_pem(identity.ca_pem().as_bytes())
            .map_err(|e| ClientError::invalid("CA certificate", e.to_string()))?;
        let http = reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(ca)
            .identity(client_identity)
            .https_only(true)
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| ClientError::invalid("TLS setup", e.to_string()))?;
        Ok(Self {
            http,
            tls: identity.rustls_config()?,
            base: crate::settings::Settings::validate_server_url(server_url)?,
            tokens: Mutex::new(None),
            clock: system_clock(),
            saver: None,
        })
    }

    /// Uses `clock` instead of the system time.
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Calls `saver` with each new refresh token, and with `None` when the
    /// session ends.
    pub fn with_session_saver(mut self, saver: SessionSaver) -> Self {
        self.saver = Some(saver);
        self
    }

    /// Resumes a session from a refresh token kept earlier; the first
    /// request refreshes it (and hears `LoginNeeded` if it is over).
    pub async fn resume(&self, refresh: Secret) {
        *self.tokens.lock().await = Some(Tokens {
            access: Secret::new(""),
            refresh,
            expires_at: 0,
        });
    }

    fn save_session(&self, refresh: Option<&Secret>) {
        if let Some(saver) = &self.saver {
            saver(refresh);
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Is the server there, and does it accept this certificate?
    pub async fn check(&self) -> Result<(), ClientError> {
        // `/native/modes` needs a certificate the server knows; without a
        // login it answers 401 missing_token, which is fine here.
        match self
            .send(self.http.get(self.url("/native/modes")).timeout(REQUEST_TIMEOUT))
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
            self.send(
                self.http
                    .post(self.url("/native/login"))
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
            self.send(
                self.http
                    .post(self.url("/native/verify-2fa"))
                    .timeout(REQUEST_TIMEOUT)
                    .json(&request),
            )
            .await?,
        )
        .await?;
        let recovery = tokens.recovery_codes.clone();
        self.store(tokens).await;
        Ok(recovery)
    }

    pub async fn logged_in(&self) -> bool {
        self.tokens.lock().await.is_some()
    }

    pub async fn logout(&self) -> Result<(), ClientError> {
        let result = self
            .authed(|| {
                self.http
                    .post(self.url("/native/logout"))
                    .timeout(REQUEST_TIMEOUT)
            })
            .await
            .map(|_| ());
        *self.tokens.lock().await = None;
        self.save_session(None);
        match result {
            Err(ClientError::LoginNeeded) => Ok(()),
            other => other,
        }
    }

    pub async fn me(&self) -> Result<MeResponse, ClientError> {
        json(
            self.authed(|| self.http.get(self.url("/native/me")).timeout(REQUEST_TIMEOUT))
                .await?,
        )
        .await
    }

    pub async fn modes(&self) -> Result<Vec<ModeSummary>, ClientError> {
        json(
            self.authed(|| self.http.get(self.url("/native/modes")).timeout(REQUEST_TIMEOUT))
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
                self.http
                    .post(self.url("/native/analyze"))
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
                self.http
                    .post(self.url("/native/rewrite"))
                    .header(reqwest::header::ACCEPT, "text/event-stream")
                    .json(&request)
            })
            .await?;
        Ok(EventStream::new(response))
    }

    async fn store(&self, tokens: TokenResponse) {
        let expires_at = (self.clock)() + i64::try_from(tokens.expires_in).unwrap_or(0);
        self.save_session(Some(&tokens.refresh_token));
        *self.tokens.lock().await = Some(Tokens {
            access: tokens.access_token,
            refresh: tokens.refresh_token,
            expires_at,
        });
    }

    /// The access token, refreshed first when it is about to expire.
    async fn access_token(&self, force_refresh: bool) -> Result<Secret, ClientError> {
        let mut guard = self.tokens.lock().await;
        let tokens = guard.as_ref().ok_or(ClientError::LoginNeeded)?;
        if !force_refresh && tokens.expires_at - (self.clock)() > REFRESH_MARGIN_SECS {
            return Ok(tokens.access.clone());
        }
        let request = RefreshRequest {
            refresh_token: tokens.refresh.clone(),
        };
        let refresh = self
            .http
            .post(self.url("/native/refresh"))
            .timeout(REQUEST_TIMEOUT)
            .json(&request);
        match self.send(refresh).await {
            Ok(response) => {
                let fresh: TokenResponse = json(response).await?;
                let expires_at = (self.clock)() + i64::try_from(fresh.expires_in).unwrap_or(0);
                let access = fresh.access_token.clone();
                self.save_session(Some(&fresh.refresh_token));
                *guard = Some(Tokens {
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
            Err(error @ (ClientError::CertificateRevoked | ClientError::CertificateRejected)) => {
                *guard = None;
                self.save_session(None);
                Err(error)
            }
            Err(error) => Err(error),
        }
    }

    /// Sends an authenticated request; retries once with a fresh token if
    /// the server says the token expired.
    async fn authed(
        &self,
        make: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, ClientError> {
        let token = self.access_token(false).await?;
        match self.send(make().bearer_auth(token.expose())).await {
            Err(ClientError::Api {
                code: ErrorCode::TokenExpired,
                ..
            }) => {
                let token = self.access_token(true).await?;
                self.send(make().bearer_auth(token.expose()))
                    .await
                    .map_err(|e| self.session_error(e))
            }
            other => other.map_err(|e| self.session_error(e)),
        }
    }

    /// Errors that end the session become `LoginNeeded`.
    fn session_error(&self, error: ClientError) -> ClientError {
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
                if let Ok(mut tokens) = self.tokens.try_lock() {
                    *tokens = None;
                }
                self.save_session(None);
                ClientError::LoginNeeded
            }
            other => other,
        }
    }

    /// Sends, and turns transport failures and error answers into [`ClientError`].
    async fn send(&self, request: reqwest::RequestBuilder) -> Result<reqwest::Response, ClientError> {
        // A pooled connection the server has closed (idle timeout, or its
        // certificate revoked) fails before any answer: try once more on a
        // new connection, unless the body cannot be replayed.
        // Only reads are replayed: a POST may have been carried out before
        // the connection broke (a refresh sent twice would end the session).
        let request = request.build().map_err(|e| ClientError::Io(e.to_string()))?;
        let again = (request.method() == reqwest::Method::GET)
            .then(|| request.try_clone())
            .flatten();
        let response = match (self.http.execute(request).await.map_err(classify), again) {
            (Err(ClientError::Io(_)), Some(again)) => {
                match self.http.execute(again).await.map_err(classify) {
                    Err(ClientError::Io(_)) => return Err(self.diagnose().await),
                    result => result?,
                }
            }
            (Err(ClientError::Io(_)), None) => return Err(self.diagnose().await),
            (result, _) => result?,
        };
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        let body: Option<ErrorBody> = response.json().await.ok();
        let Some(body) = body else {
            return Err(ClientError::Protocol(format!(
                "status {status} without an error body"
            )));
        };
        Err(match body.error.code {
            ErrorCode::CertificateRevoked => ClientError::CertificateRevoked,
            ErrorCode::ClientCertificateRequired => ClientError::CertificateRejected,
            code => ClientError::Api {
                status,
                code,
                message: body.error.message,
                retry_after,
            },
        })
    }
}

impl ApiClient {
    /// Finds out why connections end before any answer. With TLS 1.3 the
    /// server judges the client certificate after the handshake, so its
    /// alert (revoked, unknown, expired) arrives on the first read, which the
    /// HTTP stack reports only as "connection closed". One raw exchange
    /// reads the alert itself.
    pub async fn diagnose(&self) -> ClientError {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let authority = self.base.trim_start_matches("https://");
        // `host`, `host:port`, `[v6]` or `[v6]:port`.
        let (host, port) = match authority.strip_prefix('[').and_then(|rest| rest.split_once(']')) {
            Some((v6, rest)) => (
                v6,
                rest.strip_prefix(':').and_then(|p| p.parse().ok()).unwrap_or(443),
            ),
            None => match authority.rsplit_once(':') {
                Some((host, port)) => (host, port.parse().unwrap_or(443)),
                None => (authority, 443),
            },
        };
        let Ok(name) = rustls_pki_types::ServerName::try_from(host.to_owned()) else {
            return ClientError::invalid("server address", host);
        };
        let exchange = async {
            let tcp = tokio::net::TcpStream::connect((host, port))
                .await
                .map_err(|_| ClientError::ServerUnreachable)?;
            let mut tls = tokio_rustls::TlsConnector::from(self.tls.clone())
                .connect(name, tcp)
                .await
                .map_err(|e| classify_io(&e))?;
            let request = format!("GET /native/modes HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
            tls.write_all(request.as_bytes())
                .await
                .map_err(|e| classify_io(&e))?;
            let mut answer = Vec::new();
            tls.read_to_end(&mut answer).await.map_err(|e| classify_io(&e))?;
            let text = String::from_utf8_lossy(&answer);
            Err(if text.contains("certificate_revoked") {
                ClientError::CertificateRevoked
            } else if text.contains("client_certificate_required") {
                ClientError::CertificateRejected
            } else {
                ClientError::Io("the server closed the connection".into())
            })
        };
        match tokio::time::timeout(Duration::from_secs(10), exchange).await {
            Ok(Err(error)) => error,
            Ok(Ok(())) | Err(_) => ClientError::ServerUnreachable,
        }
    }
}

fn classify_io(error: &std::io::Error) -> ClientError {
    match error.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>()) {
        Some(tls) => classify_tls(tls),
        None if error.kind() == std::io::ErrorKind::UnexpectedEof => {
            ClientError::Io("the server closed the connection".into())
        }
        None => ClientError::ServerUnreachable,
    }
}

async fn json<T: serde::de::DeserializeOwned>(response: reqwest::Response) -> Result<T, ClientError> {
    response
        .json()
        .await
        .map_err(|e| ClientError::Protocol(e.to_string()))
}

/// Reads the TLS alert or I/O failure behind a transport error.
fn classify(error: reqwest::Error) -> ClientError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&error);
    while let Some(current) = source {
        if let Some(tls) = current.downcast_ref::<rustls::Error>() {
            return classify_tls(tls);
        }
        // An io::Error's `source()` skips the error it wraps (and TLS errors
        // arrive wrapped twice), so step into it explicitly.
        source = match current.downcast_ref::<std::io::Error>() {
            Some(io) => io
                .get_ref()
                .map(|inner| inner as &(dyn std::error::Error + 'static)),
            None => current.source(),
        };
    }
    if error.is_connect() || error.is_timeout() {
        ClientError::ServerUnreachable
    } else {
        ClientError::Io(error.to_string())
    }
}

fn classify_tls(error: &rustls::Error) -> ClientError {
    use rustls::AlertDescription as Alert;
    match error {
        rustls::Error::AlertReceived(Alert::CertificateRevoked) => ClientError::CertificateRevoked,
        rustls::Error::AlertReceived(_) => ClientError::CertificateRejected,
        rustls::Error::InvalidCertificate(reason) => ClientError::ServerNotTrusted {
            detail: format!("{reason:?}"),
        },
        other => ClientError::Io(other.to_string()),
    }
}

/// A streamed answer: `delta` pieces, then `done` or `error`. Dropping it
/// closes the connection, which cancels the work on the server.
pub struct EventStream {
    response: reqwest::Response,
    parser: SseParser,
    pending: VecDeque<StreamEvent>,
    finished: bool,
}

impl std::fmt::Debug for EventStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventStream")
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

impl EventStream {
    fn new(response: reqwest::Response) -> Self {
        Self {
            response,
            parser: SseParser::new(),
            pending: VecDeque::new(),
            finished: false,
        }
    }

    /// The next event; `None` after `done` or `error`.
    pub async fn next(&mut self) -> Option<Result<StreamEvent, ClientError>> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                if !matches!(event, StreamEvent::Delta { .. }) {
                    self.finished = true;
                    self.pending.clear();
                }
                return Some(Ok(event));
            }
            if self.finished {
                return None;
            }
            match self.response.chunk().await {
                Ok(Some(chunk)) => match self.parser.push(&chunk) {
                    Ok(events) => self.pending.extend(
                        events
                            .iter()
                            .filter_map(|e| StreamEvent::parse(&e.event, &e.data)),
                    ),
                    Err(_) => {
                        self.finished = true;
                        return Some(Err(ClientError::Protocol("an oversized event".into())));
                    }
                },
                Ok(None) => {
                    self.finished = true;
                    return Some(Err(ClientError::Protocol("the answer ended without done".into())));
                }
                Err(error) => {
                    self.finished = true;
                    return Some(Err(classify(error)));
                }
            }
        }
    }

    /// Reads to the end, handing each piece of text to `on_delta`; an
    /// `error` event becomes the error.
    pub async fn each_delta(mut self, mut on_delta: impl FnMut(String)) -> Result<(), ClientError> {
        while let Some(event) = self.next().await {
            match event? {
                StreamEvent::Delta { text } => on_delta(text),
                StreamEvent::Done { .. } => return Ok(()),
                StreamEvent::Error { code, message } => {
                    return Err(ClientError::Api {
                        status: 502,
                        code,
                        message,
                        retry_after: None,
                    })
                }
            }
        }
        Ok(())
    }

    /// Reads to the end and joins the text (for callers that do not stream).
    pub async fn collect_text(self) -> Result<String, ClientError> {
        let mut text = String::new();
        self.each_delta(|piece| text.push_str(&piece)).await?;
        Ok(text)
    }
}

/// Fetches `/public/ca.pem` without checking the server's certificate. Only
/// for onboarding without a CA in the package: what comes back is trusted
/// only after the user compares its fingerprint with the one their
/// administrator published, and nothing secret is sent on this connection.
pub async fn fetch_ca_untrusted(server_url: &str) -> Result<String, ClientError> {
    const MAX_CA_BYTES: usize = 64 * 1024;
    let http = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .danger_accept_invalid_certs(true)
        .https_only(true)
        .connect_timeout(Duration::from_secs(10))
        .timeout(REQUEST_TIMEOUT)
        .build()
        .map_err(|e| ClientError::invalid("TLS setup", e.to_string()))?;
    let mut response = http
        .get(format!("{server_url}/public/ca.pem"))
        .send()
        .await
        .map_err(classify)?;
    if !response.status().is_success() {
        return Err(ClientError::Protocol(format!(
            "the server answered {} for its CA",
            response.status().as_u16()
        )));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(classify)? {
        if body.len() + chunk.len() > MAX_CA_BYTES {
            return Err(ClientError::Protocol("the CA file is unreasonably large".into()));
        }
        body.extend_from_slice(&chunk);
    }
    String::from_utf8(body).map_err(|_| ClientError::Protocol("the CA file is not text".into()))
}
