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

use crate::datadir::DataDir;
use crate::error::{Error, Result};
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
/// time limit, and the balancers whose PROXY headers are read first.
#[derive(Debug, Clone)]
pub struct Accept {
    pub tls: Arc<ServerConfig>,
    pub handshake_timeout: Duration,
    pub proxies: Arc<TrustedProxies>,
}

/// Accepts connections until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    accept: Accept,
    app: Router,
    revocations: Arc<Revocations>,
    shutdown: impl Future<Output = ()>,
) {
    let acceptor = TlsAcceptor::from(accept.tls.clone());
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
        tokio::spawn(handle_connection(
            tcp,
            remote_addr,
            acceptor.clone(),
            accept.clone(),
            app.clone(),
            revocations.clone(),
        ));
    }
}

/// Reads the PROXY header when `remote_addr` is a trusted balancer (the
/// client's address replaces the balancer's), then shakes hands.
async fn handshake(
    mut tcp: TcpStream,
    remote_addr: &mut SocketAddr,
    acceptor: TlsAcceptor,
    proxies: &TrustedProxies,
) -> Result<tokio_rustls::server::TlsStream<TcpStream>, String> {
    if proxies.trusts(remote_addr.ip()) {
        let balancer = *remote_addr;
        *remote_addr = proxy_protocol::read_client_address(&mut tcp, balancer)
            .await
            .map_err(|error| format!("from balancer {balancer}: {error}"))?;
    }
    acceptor.accept(tcp).await.map_err(|error| error.to_string())
}

async fn handle_connection(
    tcp: TcpStream,
    mut remote_addr: SocketAddr,
    acceptor: TlsAcceptor,
    accept: Accept,
    app: Router,
    revocations: Arc<Revocations>,
) {
    let _ = tcp.set_nodelay(true);
    let shaken = handshake(tcp, &mut remote_addr, acceptor, &accept.proxies);
    let stream = match tokio::time::timeout(accept.handshake_timeout, shaken).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(error)) => {
            tracing::debug!(%remote_addr, %error, "TLS handshake failed");
            return;
        }
        Err(_) => {
            tracing::debug!(%remote_addr, "TLS handshake timed out");
            return;
        }
    };
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
    let app = if serial.as_deref().is_some_and(|s| revocations.is_revoked(s)) {
        tracing::info!(%remote_addr, "resumed session of a revoked certificate refused");
        revoked_router()
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
    loop {
        tokio::select! {
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

/// Answers every request `403 certificate_revoked` and closes.
fn revoked_router() -> Router {
    Router::new().fallback(|| async {
        let mut response =
            axum::response::IntoResponse::into_response(crate::error::Error::CertificateRevoked);
        response
            .headers_mut()
            .insert(http::header::CONNECTION, http::HeaderValue::from_static("close"));
        response
    })
}
