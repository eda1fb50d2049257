//! The connection to the server: one reqwest client with mutual TLS (the
//! user's certificate, the server's CA as the only root), and what the
//! transport's failures mean. When a connection ends before any answer it
//! reads the TLS alert itself, since TLS 1.3 reports a rejected client
//! certificate only after the handshake.

use crate::error::ClientError;
use crate::identity::Identity;
use sightline_proto::{ErrorBody, ErrorCode};
use std::sync::Arc;
use std::time::Duration;

/// Requests that are not streamed give up after this long.
pub(super) const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

pub(super) struct Transport {
    pub(super) http: reqwest::Client,
    pub(super) base: String,
    /// For [`Transport::diagnose`]: the same trust and identity as `http`.
    tls: Arc<rustls::ClientConfig>,
}

impl Transport {
    pub(super) fn new(server_url: &str, identity: &Identity) -> Result<Self, ClientError> {
        let pem = format!(
            "{}\n{}",
            identity.cert_pem().trim_end(),
            identity.key_pem().expose()
        );
        let client_identity = reqwest::Identity::from_pem(pem.as_bytes())
            .map_err(|e| ClientError::invalid("certificate", e.to_string()))?;
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false);
        // Only roots rustls can use: one it cannot would fail the build.
        let server_roots = identity.server_roots()?;
        for root in &server_roots {
            let usable = rustls::RootCertStore::empty().add(root.clone()).is_ok();
            match reqwest::Certificate::from_der(root) {
                Ok(root) if usable => builder = builder.add_root_certificate(root),
                _ => {}
            }
        }
        let http = builder
            .identity(client_identity)
            .https_only(true)
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| ClientError::invalid("TLS setup", e.to_string()))?;
        Ok(Self {
            http,
            tls: identity.rustls_config(server_roots)?,
            base: crate::settings::Settings::validate_server_url(server_url)?,
        })
    }

    pub(super) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends, and turns transport failures and error answers into [`ClientError`].
    pub(super) async fn send(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, ClientError> {
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
            ErrorCode::CertificateExpired => ClientError::CertificateExpired,
            ErrorCode::ClientCertificateRequired => ClientError::CertificateRejected,
            code => ClientError::Api {
                status,
                code,
                message: body.error.message,
                retry_after,
            },
        })
    }

    /// Finds out why connections end before any answer. With TLS 1.3 the
    /// server judges the client certificate after the handshake, so its
    /// alert (revoked, unknown, expired) arrives on the first read, which the
    /// HTTP stack reports only as "connection closed". One raw exchange
    /// reads the alert itself.
    pub(super) async fn diagnose(&self) -> ClientError {
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
            } else if text.contains("certificate_expired") {
                ClientError::CertificateExpired
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

pub(super) fn classify_io(error: &std::io::Error) -> ClientError {
    match error.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>()) {
        Some(tls) => classify_tls(tls),
        None if error.kind() == std::io::ErrorKind::UnexpectedEof => {
            ClientError::Io("the server closed the connection".into())
        }
        None => ClientError::ServerUnreachable,
    }
}

pub(super) async fn json<T: serde::de::DeserializeOwned>(
    response: reqwest::Response,
) -> Result<T, ClientError> {
    response
        .json()
        .await
        .map_err(|e| ClientError::Protocol(e.to_string()))
}

/// Reads the TLS alert or I/O failure behind a transport error.
pub(super) fn classify(error: reqwest::Error) -> ClientError {
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
        rustls::Error::AlertReceived(Alert::CertificateExpired) => ClientError::CertificateExpired,
        rustls::Error::AlertReceived(_) => ClientError::CertificateRejected,
        rustls::Error::InvalidCertificate(reason) => ClientError::ServerNotTrusted {
            detail: format!("{reason:?}"),
        },
        other => ClientError::Io(other.to_string()),
    }
}
