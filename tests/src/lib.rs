//! The end-to-end harness: starts the real `sightline-server` binary on
//! loopback with a fresh data directory, drives its command line, and talks
//! to it over real mTLS the way a desktop client would. The e2e tests and
//! the `load` benchmark both use it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    missing_debug_implementations
)]

use anyhow::{anyhow, bail, Context, Result};
use bytes::Bytes;
use http::{Method, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use rustls::ClientConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio_rustls::TlsConnector;

pub mod desktop;
pub mod provision;
pub mod stub;
pub mod webdriver;

pub use sightline_server::auth::totp;

/// The server binary next to the running test executable
/// (`target/<profile>/sightline-server`); `scripts/test` builds it first.
pub fn server_binary() -> Result<PathBuf> {
    if let Ok(path) = std::env::var("SIGHTLINE_SERVER_BIN") {
        return Ok(PathBuf::from(path));
    }
    let exe = std::env::current_exe()?;
    let mut dir = exe.parent().context("test executable has no folder")?;
    if dir.ends_with("deps") {
        dir = dir.parent().context("deps folder has no parent")?;
    }
    let binary = dir.join("sightline-server");
    if !binary.is_file() {
        bail!(
            "{} is missing: build it first (cargo build -p sightline-server), as scripts/test does",
            binary.display()
        );
    }
    Ok(binary)
}

/// A running server with its own data directory; killed on drop.
pub struct TestServer {
    pub root: tempfile::TempDir,
    pub data_dir: PathBuf,
    pub addr: SocketAddr,
    pub admin_password: String,
    child: Child,
    extra: Vec<String>,
}

impl TestServer {
    pub async fn start() -> Result<Self> {
        Self::start_with(&[]).await
    }

    /// Initialises a data directory and runs `serve` with `extra` flags.
    pub async fn start_with(extra: &[&str]) -> Result<Self> {
        Self::start_configured("", extra).await
    }

    /// Like [`TestServer::start_with`], appending `config` (TOML tables) to
    /// the `config.toml` that `init` wrote.
    pub async fn start_configured(config: &str, extra: &[&str]) -> Result<Self> {
        let root = tempfile::tempdir()?;
        let data_dir = root.path().join("data");
        let output = run_cli(&data_dir, &["init", "--hostname", "localhost"], None).await?;
        if !output.status.success() {
            bail!("init failed: {}", String::from_utf8_lossy(&output.stderr));
        }
        if !config.is_empty() {
            // Merge table by table: keys given here replace those init wrote.
            let path = data_dir.join("config.toml");
            let mut written: toml::Table = std::fs::read_to_string(&path)?.parse()?;
            let extra: toml::Table = config.parse()?;
            for (name, value) in extra {
                match (written.get_mut(&name), value) {
                    (Some(toml::Value::Table(existing)), toml::Value::Table(new)) => existing.extend(new),
                    (_, value) => {
                        written.insert(name, value);
                    }
                }
            }
            std::fs::write(&path, toml::to_string(&written)?)?;
        }
        let stdout = String::from_utf8(output.stdout)?;
        let admin_password = stdout
            .lines()
            .find_map(|line| line.strip_prefix("One-time password (shown only now; store it safely): "))
            .context("init did not print the admin password")?
            .to_owned();

        let extra: Vec<String> = extra.iter().map(|s| (*s).to_owned()).collect();
        let (child, addr) = serve(&data_dir, "127.0.0.1:0", &extra).await?;
        Ok(Self {
            root,
            data_dir,
            addr,
            admin_password,
            child,
            extra,
        })
    }

    /// Runs a `sightline-server` subcommand against this data directory.
    pub async fn cli(&self, args: &[&str], stdin: Option<&str>) -> Result<std::process::Output> {
        run_cli(&self.data_dir, args, stdin).await
    }

    /// Like [`TestServer::cli`], failing unless the command succeeds.
    pub async fn cli_ok(&self, args: &[&str], stdin: Option<&str>) -> Result<String> {
        let output = self.cli(args, stdin).await?;
        if !output.status.success() {
            bail!(
                "`{}` failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(String::from_utf8(output.stdout)?)
    }

    /// Creates a user through the command line and issues their certificate.
    pub async fn add_user(&self, username: &str, password: &str) -> Result<Identity> {
        let email = format!("{username}@example.com");
        self.cli_ok(
            &["user", "add", username, "--email", &email, "--password-stdin"],
            Some(&format!("{password}\n")),
        )
        .await?;
        self.issue_cert(username).await
    }

    pub async fn issue_cert(&self, username: &str) -> Result<Identity> {
        Identity::load(&self.issue_cert_files(username).await?)
    }

    /// Issues a certificate and returns the folder with its PEM trio
    /// (`client.crt`, `client.key`, `ca.crt`).
    pub async fn issue_cert_files(&self, username: &str) -> Result<PathBuf> {
        let out = self
            .root
            .path()
            .join(format!("certs-{username}-{}", rand_suffix()));
        self.cli_ok(
            &[
                "cert",
                "issue",
                "--user",
                username,
                "--out",
                out.to_str().context("path")?,
            ],
            None,
        )
        .await?;
        Ok(out)
    }

    /// Adds a mode through the command line: `mode add --name NAME --kind
    /// KIND --provider PROVIDER` and any further flags (`--model`, ...).
    pub async fn add_mode(&self, name: &str, kind: &str, provider: &str, more: &[&str]) -> Result<String> {
        let mut args = vec![
            "mode",
            "add",
            "--name",
            name,
            "--kind",
            kind,
            "--provider",
            provider,
        ];
        args.extend_from_slice(more);
        self.cli_ok(&args, None).await
    }

    /// The mails in the `.eml` outbox, oldest first, decoded.
    pub fn outbox(&self) -> Result<Vec<String>> {
        let dir = self.data_dir.join("outbox");
        let mut names: Vec<PathBuf> = match std::fs::read_dir(&dir) {
            Ok(entries) => entries.filter_map(|e| e.ok().map(|e| e.path())).collect(),
            Err(_) => Vec::new(),
        };
        names.sort();
        names
            .iter()
            .map(|path| Ok(decode_mail(&std::fs::read(path)?)))
            .collect()
    }

    /// The SQLite database, for checks a user cannot make.
    pub async fn database(&self) -> Result<sightline_server::db::Db> {
        Ok(sightline_server::db::open(&self.data_dir.join("sightline.db"), false).await?)
    }

    pub fn admin_identity(&self) -> Result<Identity> {
        Identity::load(&self.data_dir.join("bootstrap").join("admin"))
    }

    pub fn ca_pem(&self) -> Result<String> {
        Ok(std::fs::read_to_string(self.data_dir.join("ca").join("ca.crt"))?)
    }

    /// A TLS client configuration trusting this server's CA.
    pub fn client_config(&self, identity: Option<&Identity>) -> Result<Arc<ClientConfig>> {
        client_config(&self.ca_pem()?, identity)
    }

    pub async fn connect(&self, identity: Option<&Identity>) -> Result<Connection> {
        Connection::open(self.addr, self.client_config(identity)?).await
    }

    /// The server's process id (for memory measurements).
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    pub async fn stop(mut self) -> Result<()> {
        self.kill().await
    }

    /// Kills the server process (as a crash or an outage would); the data
    /// directory stays for [`TestServer::restart`].
    pub async fn kill(&mut self) -> Result<()> {
        self.child.kill().await?;
        Ok(())
    }

    /// Starts the server again on the same address and data directory.
    pub async fn restart(&mut self) -> Result<()> {
        let (child, addr) = serve(&self.data_dir, &self.addr.to_string(), &self.extra).await?;
        self.child = child;
        self.addr = addr;
        Ok(())
    }
}

/// Runs `serve` and waits until it listens.
async fn serve(data_dir: &Path, listen: &str, extra: &[String]) -> Result<(Child, SocketAddr)> {
    let mut child = Command::new(server_binary()?)
        .arg("--data-dir")
        .arg(data_dir)
        .args(["serve", "--listen", listen])
        .args(extra)
        .env(
            "RUST_LOG",
            std::env::var("SIGHTLINE_TEST_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()?;
    let stdout = child.stdout.take().context("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let addr = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await? {
            if let Some(addr) = line.strip_prefix("listening on https://") {
                return Ok::<_, anyhow::Error>(addr.parse::<SocketAddr>()?);
            }
        }
        Err(anyhow!("server exited before listening"))
    })
    .await
    .context("server did not start within 30 s")??;
    // Keep draining stdout so the server never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok((child, addr))
}

fn rand_suffix() -> u32 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    nanos ^ std::process::id()
}

async fn run_cli(data_dir: &Path, args: &[&str], stdin: Option<&str>) -> Result<std::process::Output> {
    use tokio::io::AsyncWriteExt;
    let mut child = Command::new(server_binary()?)
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env("RUST_LOG", "warn")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(text.as_bytes()).await?;
        drop(pipe);
    }
    Ok(child.wait_with_output().await?)
}

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
    roots.add(CertificateDer::from_pem_slice(ca_pem.as_bytes())?)?;
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
}

impl Connection {
    pub async fn open(addr: SocketAddr, config: Arc<ClientConfig>) -> Result<Self> {
        let tcp = TcpStream::connect(addr).await?;
        tcp.set_nodelay(true)?;
        let tls = TlsConnector::from(config)
            .connect(ServerName::try_from("localhost")?, tcp)
            .await?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(Self { sender })
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

/// Tokens and second-factor material of a completed login.
#[derive(Debug, Clone)]
pub struct LoggedIn {
    pub access_token: String,
    pub refresh_token: String,
    pub totp_secret: Vec<u8>,
    pub recovery_codes: Vec<String>,
}

/// The current TOTP code for a secret, as an authenticator app shows it.
pub fn totp_now(secret: &[u8]) -> String {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    totp::code_at(secret, now)
}

/// First login of a user: password, TOTP enrolment with a code computed from
/// the otpauth URI at the current time, tokens.
pub async fn first_login(connection: &mut Connection, username: &str, password: &str) -> Result<LoggedIn> {
    let login = connection
        .post_json(
            "/native/login",
            &serde_json::json!({"username": username, "password": password}),
            None,
        )
        .await?;
    if login.status != StatusCode::OK {
        bail!(
            "login answered {}: {}",
            login.status,
            String::from_utf8_lossy(&login.body)
        );
    }
    let login = login.json();
    let uri = login["enrollment"]["otpauth_uri"]
        .as_str()
        .context("no enrolment on first login")?;
    let secret = totp::secret_from_uri(uri)?;
    let verified = connection
        .post_json(
            "/native/verify-2fa",
            &serde_json::json!({"challenge": login["challenge"], "code": totp_now(&secret)}),
            None,
        )
        .await?;
    if verified.status != StatusCode::OK {
        bail!(
            "verify-2fa answered {}: {}",
            verified.status,
            String::from_utf8_lossy(&verified.body)
        );
    }
    let tokens = verified.json();
    Ok(LoggedIn {
        access_token: tokens["access_token"]
            .as_str()
            .context("no access token")?
            .to_owned(),
        refresh_token: tokens["refresh_token"]
            .as_str()
            .context("no refresh token")?
            .to_owned(),
        totp_secret: secret,
        recovery_codes: tokens["recovery_codes"]
            .as_array()
            .context("no recovery codes")?
            .iter()
            .filter_map(|c| c.as_str().map(str::to_owned))
            .collect(),
    })
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

/// A mail as text: headers as they are, the body decoded from
/// quoted-printable or base64 when the mail says so.
pub fn decode_mail(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw).replace("\r\n", "\n");
    let Some((headers, body)) = text.split_once("\n\n") else {
        return text;
    };
    let lower = headers.to_ascii_lowercase();
    let body = if lower.contains("content-transfer-encoding: quoted-printable") {
        decode_quoted_printable(body)
    } else if lower.contains("content-transfer-encoding: base64") {
        let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
        data_encoding::BASE64
            .decode(compact.as_bytes())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    } else {
        body.to_owned()
    };
    format!("{headers}\n\n{body}")
}

fn decode_quoted_printable(body: &str) -> String {
    let joined = body.replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' {
            if let Some(byte) = bytes
                .get(i + 1..i + 3)
                .and_then(|hex| std::str::from_utf8(hex).ok())
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
            {
                out.push(byte);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The first `https://...` link in a text that contains `marker`.
pub fn find_link(text: &str, marker: &str) -> Option<String> {
    text.split_whitespace()
        .find(|word| word.starts_with("https://") && word.contains(marker))
        .map(str::to_owned)
}

/// `application/x-www-form-urlencoded` encoding of `fields`.
pub fn form_encode(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(name, value)| format!("{}={}", url_encode(name), url_encode(value)))
        .collect::<Vec<_>>()
        .join("&")
}

fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => char::from(b).to_string(),
            b' ' => "+".into(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// A port on loopback that nothing listens on right now.
pub fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A `multipart/form-data` body of named parts: `(name, file name, bytes)`.
/// Returns the content type (with its boundary) and the body.
pub fn multipart(parts: &[(&str, Option<&str>, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "sightline-test-boundary-7d1e";
    let mut body = Vec::new();
    for (name, file_name, contents) in parts {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        match file_name {
            Some(file) => body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"; filename=\"{file}\"\r\nContent-Type: image/png\r\n\r\n").as_bytes(),
            ),
            None => body.extend_from_slice(format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes()),
        }
        body.extend_from_slice(contents);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
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
