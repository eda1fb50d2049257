//! The TLS listener. One task per accepted TCP connection; the handshake
//! happens in that task under a timeout, so a client that connects and says
//! nothing delays no one. A client certificate is requested and, when
//! presented, verified against the Sightline CA; it is not required at the
//! handshake, each route decides. The verified certificate travels with
//! every request as [`ConnInfo`]; headers never supply identity.
//!
//! Behind a layer-4 balancer the client's address comes from the PROXY
//! protocol header the balancer sends before the handshake
//! ([`crate::proxy_protocol`]); `remote_addr` is that address from then on,
//! for throttles, rate limits and the audit trail alike.
//!
//! Stopping drains: the listener closes, every connection is told to
//! finish the request it is answering (a streamed answer included) and
//! close, and [`serve`] returns when all are done or the grace period ends.

use crate::connections::{ConnectionLimits, OpenConnection, Refusal};
use crate::datadir::DataDir;
use crate::error::{Error, Result};
use crate::metrics::Metrics;
use crate::proxy_protocol::{self, TrustedProxies};
use crate::revocation::{RevocationCheckingVerifier, Revocations};
use crate::server_cert::ServerCertificate;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

/// The verified client certificate of a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerCertificate {
    pub serial_hex: String,
    pub email: Option<String>,
    pub thumbprint: [u8; 32],
}

/// Facts about the connection a request arrived on.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    pub remote_addr: SocketAddr,
    pub peer: Option<Arc<PeerCertificate>>,
}

/// How long a connection may take to send its request headers.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

pub fn server_config(
    dir: &DataDir,
    revocations: Arc<Revocations>,
    certificate: Arc<ServerCertificate>,
) -> Result<Arc<ServerConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let pem_error = |path: std::path::PathBuf| {
        move |e: rustls_pki_types::pem::Error| Error::Config(format!("{}: {e}", path.display()))
    };
    let ca = CertificateDer::from_pem_file(dir.ca_cert()).map_err(pem_error(dir.ca_cert()))?;
    let mut roots = RootCertStore::empty();
    roots.add(ca)?;
    let webpki = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .allow_unauthenticated()
        .build()
        .map_err(|e| Error::Config(format!("client certificate verifier: {e}")))?;
    let verifier = Arc::new(RevocationCheckingVerifier {
        inner: webpki,
        revocations,
    });
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(certificate);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// How connections are accepted: the TLS configuration, the handshake's
/// time limit, the balancers whose PROXY headers are read first, the
/// connection caps, and the counters they report to.
#[derive(Debug, Clone)]
pub struct Accept {
    pub tls: Arc<ServerConfig>,
    pub handshake_timeout: Duration,
    pub proxies: Arc<TrustedProxies>,
    pub limits: Arc<ConnectionLimits>,
    pub metrics: Arc<Metrics>,
}

/// How a drain ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Drained {
    /// Connections open when the stop began.
    pub open_at_stop: usize,
    /// Whether every one finished within the grace period.
    pub finished: bool,
}

/// Accepts connections until `shutdown` completes, then drains them for at
/// most `grace`.
pub async fn serve(
    listener: TcpListener,
    accept: Accept,
    app: Router,
    revocations: Arc<Revocations>,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) -> Drained {
    let acceptor = TlsAcceptor::from(accept.tls.clone());
    let stopping = CancellationToken::new();
    let connections = TaskTracker::new();
    tokio::pin!(shutdown);
    loop {
        let (tcp, remote_addr) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Usually out of file descriptors: back off instead of spinning.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let (place, verdict) = accept.limits.open();
        if verdict == Err(Refusal::Flood) {
            accept.metrics.connection_refused(Refusal::Flood.reason());
            continue;
        }
        connections.spawn(handle_connection(
            Accepted {
                tcp,
                remote_addr,
                place,
                verdict,
            },
            acceptor.clone(),
            accept.clone(),
            app.clone(),
            revocations.clone(),
            stopping.clone(),
        ));
    }
    drop(listener);
    let open_at_stop = connections.len();
    tracing::info!(
        open = open_at_stop,
        grace_secs = grace.as_secs(),
        "stopping: draining connections"
    );
    stopping.cancel();
    connections.close();
    let finished = tokio::time::timeout(grace, connections.wait()).await.is_ok();
    Drained {
        open_at_stop,
        finished,
    }
}

/// A connection just accepted, with its place under the caps.
struct Accepted {
    tcp: TcpStream,
    remote_addr: SocketAddr,
    place: OpenConnection,
    verdict: std::result::Result<(), Refusal>,
}

/// Why a connection never got to HTTP.
enum HandshakeError {
    Proxy(String),
    Tls(std::io::Error),
}

impl HandshakeError {
    /// A small closed set, for the metrics' labels.
    fn reason(&self) -> &'static str {
        let Self::Tls(error) = self else {
            return "proxy_header";
        };
        if let Some(tls) = error
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            return match tls {
                rustls::Error::InvalidCertificate(rustls::CertificateError::Revoked) => "certificate_revoked",
                rustls::Error::InvalidCertificate(rustls::CertificateError::Expired) => "certificate_expired",
                rustls::Error::InvalidCertificate(_) => "bad_certificate",
                rustls::Error::NoCertificatesPresented => "no_certificate",
                rustls::Error::PeerIncompatible(_) => "incompatible",
                rustls::Error::AlertReceived(_) => "alert_received",
                rustls::Error::InvalidMessage(_) | rustls::Error::PeerMisbehaved(_) => "protocol",
                _ => "tls_other",
            };
        }
        match error.kind() {
            std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset => "closed",
            std::io::ErrorKind::InvalidData => "protocol",
            _ => "io",
        }
    }
}

impl std::fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Proxy(error) => f.write_str(error),
            Self::Tls(error) => error.fmt(f),
        }
    }
}

/// Reads the PROXY header when `remote_addr` is a trusted balancer (the
/// client's address replaces the balancer's), then shakes hands.
/// The caps are checked once the client's address is known (after the
/// PROXY header), before the handshake's work.
async fn handshake(
    mut tcp: TcpStream,
    remote_addr: &mut SocketAddr,
    place: &mut OpenConnection,
    verdict: &mut std::result::Result<(), Refusal>,
    acceptor: TlsAcceptor,
    accept: &Accept,
) -> std::result::Result<tokio_rustls::server::TlsStream<TcpStream>, HandshakeError> {
    if accept.proxies.trusts(remote_addr.ip()) {
        let balancer = *remote_addr;
        *remote_addr = proxy_protocol::read_client_address(&mut tcp, balancer)
            .await
            .map_err(|error| HandshakeError::Proxy(format!("from balancer {balancer}: {error}")))?;
    }
    if verdict.is_ok() {
        *verdict = accept.limits.claim_address(place, remote_addr.ip());
    }
    acceptor.accept(tcp).await.map_err(HandshakeError::Tls)
}

async fn handle_connection(
    accepted: Accepted,
    acceptor: TlsAcceptor,
    accept: Accept,
    app: Router,
    revocations: Arc<Revocations>,
    stopping: CancellationToken,
) {
    let Accepted {
        tcp,
        mut remote_addr,
        // Held until the connection ends: dropping it frees the place.
        mut place,
        mut verdict,
    } = accepted;
    let _ = tcp.set_nodelay(true);
    let shaken = handshake(tcp, &mut remote_addr, &mut place, &mut verdict, acceptor, &accept);
    let shaken = tokio::select! {
        // A stop does not wait for handshakes: nothing is in flight yet.
        () = stopping.cancelled() => return,
        shaken = tokio::time::timeout(accept.handshake_timeout, shaken) => shaken,
    };
    let stream = match shaken {
        Ok(Ok(stream)) => stream,
        Ok(Err(error)) => {
            accept.metrics.handshake_failed(error.reason());
            tracing::debug!(%remote_addr, %error, "TLS handshake failed");
            return;
        }
        Err(_) => {
            accept.metrics.handshake_failed("timeout");
            tracing::debug!(%remote_addr, "TLS handshake timed out");
            return;
        }
    };
    accept.metrics.handshake_succeeded();
    let peer = stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|chain| chain.first())
        .and_then(|der| match sightline_certs::inspect(der) {
            Ok(info) => Some(Arc::new(PeerCertificate {
                serial_hex: info.serial_hex,
                email: info.email,
                thumbprint: info.thumbprint_sha256,
            })),
            Err(error) => {
                tracing::warn!(%remote_addr, %error, "verified client certificate could not be parsed");
                None
            }
        });
    // A session resumed from before a revocation skips certificate
    // verification; every request on it is refused, saying why.
    let serial = peer.as_ref().map(|p| p.serial_hex.clone());
    let app = if let Err(refusal) = verdict {
        accept.metrics.connection_refused(refusal.reason());
        tracing::info!(%remote_addr, cap = refusal.reason(), "connection over the cap refused");
        refusing_router(|| Error::TooManyConnections)
    } else if serial.as_deref().is_some_and(|s| revocations.is_revoked(s)) {
        tracing::info!(%remote_addr, "resumed session of a revoked certificate refused");
        refusing_router(|| Error::CertificateRevoked)
    } else {
        app
    };
    let info = ConnInfo { remote_addr, peer };
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(info.clone());
        app.clone().oneshot(request)
    });
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    // HTTP/2 has no header timeout: ping idle connections and drop those
    // that do not answer, and bound the streams one connection may open.
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(Duration::from_secs(30)))
        .keep_alive_timeout(Duration::from_secs(10))
        .max_concurrent_streams(64);
    let connection = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    let mut changes = revocations.subscribe();
    let mut watching = serial.is_some();
    let mut draining = false;
    loop {
        tokio::select! {
            () = stopping.cancelled(), if !draining => {
                // Finish what is in flight (a streamed answer to its end),
                // then close; idle keep-alive connections close at once.
                draining = true;
                connection.as_mut().graceful_shutdown();
            }
            result = connection.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(%remote_addr, %error, "connection ended with an error");
                }
                return;
            }
            changed = changes.changed(), if watching => {
                if changed.is_err() {
                    watching = false;
                    continue;
                }
                if serial.as_deref().is_some_and(|s| revocations.is_revoked(s)) {
                    // Finish the request in flight (it is refused by the
                    // extractors), then close.
                    tracing::info!(%remote_addr, "closing a connection whose certificate was revoked");
                    connection.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

/// Answers every request with `error` and closes.
fn refusing_router(error: fn() -> Error) -> Router {
    Router::new().fallback(move || async move {
        let mut response = axum::response::IntoResponse::into_response(error());
        response
            .headers_mut()
            .insert(http::header::CONNECTION, http::HeaderValue::from_static("close"));
        response
    })
}
