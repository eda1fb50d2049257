//! Talking to the server as a desktop client does: a client identity,
//! one keep-alive HTTP/1.1 connection over mutual TLS, answers and
//! streamed events.

use crate::mail::form_encode;
use anyhow::{anyhow, Context, Result};
use bytes::Bytes;
use http::{Method, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use rustls::ClientConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// A client identity in PEM: certificate, key, and the CA that issued it.
#[derive(Clone)]
pub struct Identity {
    pub cert_pem: String,
    pub key_pem: String,
}

impl Identity {
    /// From DER (as found in a PKCS#12 file).
    pub fn from_der(cert_der: &[u8], key_der: &[u8]) -> Self {
        Self {
            cert_pem: pem_encode("CERTIFICATE", cert_der),
            key_pem: pem_encode("PRIVATE KEY", key_der),
        }
    }

    /// The identity inside a PKCS#12 file.
    pub fn from_pkcs12(bytes: &[u8], password: &str) -> Result<Self> {
        let store =
            p12_keystore::KeyStore::from_pkcs12(bytes, password, p12_keystore::Pkcs12ImportPolicy::Strict)
                .map_err(|e| anyhow!("PKCS#12: {e}"))?;
        let (_, chain) = store.private_key_chain().context("no key in the PKCS#12 file")?;
        let leaf = chain
            .certs()
            .first()
            .context("no certificate in the PKCS#12 file")?;
        Ok(Self::from_der(leaf.as_der(), chain.key().as_der()))
    }

    /// Reads `client.crt` and `client.key` from a folder.
    pub fn load(dir: &Path) -> Result<Self> {
        Ok(Self {
            cert_pem: std::fs::read_to_string(dir.join("client.crt"))?,
            key_pem: std::fs::read_to_string(dir.join("client.key"))?,
        })
    }

    pub fn cert_der(&self) -> Result<CertificateDer<'static>> {
        Ok(CertificateDer::from_pem_slice(self.cert_pem.as_bytes())?)
    }
}

pub fn client_config(ca_pem: &str, identity: Option<&Identity>) -> Result<Arc<ClientConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for anchor in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(anchor?)?;
    }
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots);
    let config = match identity {
        Some(identity) => builder.with_client_auth_cert(
            vec![identity.cert_der()?],
            PrivateKeyDer::from_pem_slice(identity.key_pem.as_bytes())?,
        )?,
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

/// An answer: status, headers and body.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The `error.code` of a JSON error answer, or "".
    pub fn error_code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

/// One HTTP/1.1 keep-alive connection over TLS.
pub struct Connection {
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    /// What the server presented in the handshake.
    server_certificate: Option<CertificateDer<'static>>,
}

impl Connection {
    pub async fn open(addr: SocketAddr, config: Arc<ClientConfig>) -> Result<Self> {
        Self::open_with(TcpStream::connect(addr).await?, config).await
    }

    /// Like [`Connection::open`], from the loopback address `source`
    /// (127.0.0.2, …), as a second client machine would.
    pub async fn open_from(
        source: std::net::IpAddr,
        addr: SocketAddr,
        config: Arc<ClientConfig>,
    ) -> Result<Self> {
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.bind(SocketAddr::new(source, 0))?;
        Self::open_with(socket.connect(addr).await?, config).await
    }

    async fn open_with(tcp: TcpStream, config: Arc<ClientConfig>) -> Result<Self> {
        tcp.set_nodelay(true)?;
        let tls = TlsConnector::from(config)
            .connect(ServerName::try_from("localhost")?, tcp)
            .await?;
        let server_certificate = tls
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|chain| chain.first())
            .map(|leaf| leaf.clone().into_owned());
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(Self {
            sender,
            server_certificate,
        })
    }

    /// The certificate the server presented in this connection's handshake.
    pub fn server_certificate(&self) -> Result<sightline_certs::CertificateInfo> {
        let leaf = self
            .server_certificate
            .as_ref()
            .context("no server certificate")?;
        Ok(sightline_certs::inspect(leaf)?)
    }

    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Result<Answer> {
        let mut builder = http::Request::builder()
            .method(method)
            .uri(path)
            .header("host", "localhost");
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let request = builder.body(Full::new(Bytes::from(body.unwrap_or_default())))?;
        self.sender.ready().await?;
        let response = self.sender.send_request(request).await?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.into_body().collect().await?.to_bytes();
        Ok(Answer {
            status,
            headers,
            body,
        })
    }

    /// Sends a request and returns as soon as the headers arrive, with the
    /// body still streaming.
    pub async fn send_streaming(
        &mut self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Result<http::Response<hyper::body::Incoming>> {
        let mut builder = http::Request::builder()
            .method(method)
            .uri(path)
            .header("host", "localhost");
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        self.sender.ready().await?;
        Ok(self
            .sender
            .send_request(builder.body(Full::new(Bytes::from(body)))?)
            .await?)
    }

    pub async fn get(&mut self, path: &str, token: Option<&str>) -> Result<Answer> {
        let bearer = token.map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> = bearer.iter().map(|b| ("authorization", b.as_str())).collect();
        self.send(Method::GET, path, &headers, None).await
    }

    /// Posts a form, with an optional `Cookie` header.
    pub async fn post_form(
        &mut self,
        path: &str,
        fields: &[(&str, &str)],
        cookie: Option<&str>,
    ) -> Result<Answer> {
        let mut headers = vec![
            ("content-type", "application/x-www-form-urlencoded"),
            ("accept", "text/html"),
        ];
        headers.extend(cookie.map(|c| ("cookie", c)));
        self.send(
            Method::POST,
            path,
            &headers,
            Some(form_encode(fields).into_bytes()),
        )
        .await
    }

    pub async fn post_json(
        &mut self,
        path: &str,
        body: &serde_json::Value,
        token: Option<&str>,
    ) -> Result<Answer> {
        let bearer = token.map(|t| format!("Bearer {t}"));
        let mut headers = vec![("content-type", "application/json")];
        headers.extend(bearer.iter().map(|b| ("authorization", b.as_str())));
        self.send(Method::POST, path, &headers, Some(body.to_string().into_bytes()))
            .await
    }
}

fn pem_encode(label: &str, der: &[u8]) -> String {
    let body = data_encoding::BASE64.encode(der);
    let mut pem = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str(&format!("-----END {label}-----\n"));
    pem
}

/// Reads a streamed answer to its end (or `limit`), returning the events
/// with the time each arrived.
pub async fn read_events(
    response: http::Response<hyper::body::Incoming>,
    limit: Duration,
) -> Result<Vec<(sightline_proto::StreamEvent, std::time::Instant)>> {
    let mut body = response.into_body();
    let mut parser = sightline_proto::sse::SseParser::new();
    let mut events = Vec::new();
    let deadline = tokio::time::Instant::now() + limit;
    while let Ok(Some(frame)) = tokio::time::timeout_at(deadline, body.frame()).await {
        let frame = frame?;
        let Some(data) = frame.data_ref() else { continue };
        let now = std::time::Instant::now();
        for event in parser.push(data).map_err(|_| anyhow!("oversized event"))? {
            if let Some(parsed) = sightline_proto::StreamEvent::parse(&event.event, &event.data) {
                let last = !matches!(parsed, sightline_proto::StreamEvent::Delta { .. });
                events.push((parsed, now));
                if last {
                    // Read to the end so the connection can carry the next request.
                    while let Ok(Some(Ok(_))) = tokio::time::timeout_at(deadline, body.frame()).await {}
                    return Ok(events);
                }
            }
        }
    }
    Ok(events)
}
