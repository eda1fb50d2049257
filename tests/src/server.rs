//! The real `sightline-server` binary on loopback with a fresh data
//! directory: started, driven through its command line, killed on drop.

use crate::connection::{client_config, Connection, Identity};
use crate::mail::decode_mail;
use anyhow::{anyhow, bail, Context, Result};
use rustls::ClientConfig;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

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
    /// The PostgreSQL database, when the server runs on one; else the
    /// SQLite file in the data directory.
    pub database_url: Option<String>,
    /// The anchor of an operator's own server chain (`[tls]`), trusted by
    /// the harness's clients beside the Sightline CA.
    pub server_anchor: Option<String>,
    /// The metrics listener, when `[metrics] listen` is configured.
    pub metrics_addr: Option<SocketAddr>,
    child: Child,
    extra: Vec<String>,
    /// Where the server's log goes when it is captured (at info level).
    log_file: Option<PathBuf>,
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
    /// The server runs on PostgreSQL when `SIGHTLINE_TEST_DATABASE=postgres`.
    pub async fn start_configured(config: &str, extra: &[&str]) -> Result<Self> {
        let database_url = if crate::postgres::requested() {
            Some(crate::postgres::Postgres::shared()?.new_database()?)
        } else {
            None
        };
        Self::start_on(database_url, config, extra).await
    }

    /// Like [`TestServer::start_configured`], on the database `database_url`
    /// names (`init` records it in `config.toml`), or SQLite for `None`.
    pub async fn start_on(database_url: Option<String>, config: &str, extra: &[&str]) -> Result<Self> {
        Self::start_full(database_url, config, extra, false).await
    }

    /// Like [`TestServer::start_configured`], with the server's log (info
    /// and up) captured in a file for [`TestServer::log_text`].
    pub async fn start_logged(config: &str, extra: &[&str]) -> Result<Self> {
        let database_url = if crate::postgres::requested() {
            Some(crate::postgres::Postgres::shared()?.new_database()?)
        } else {
            None
        };
        Self::start_full(database_url, config, extra, true).await
    }

    async fn start_full(
        database_url: Option<String>,
        config: &str,
        extra: &[&str],
        logged: bool,
    ) -> Result<Self> {
        let root = tempfile::tempdir()?;
        let data_dir = root.path().join("data");
        let mut init = vec!["init", "--hostname", "localhost"];
        if let Some(url) = &database_url {
            init.extend(["--database-url", url]);
        }
        let output = run_cli(&data_dir, &init, None).await?;
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
        let log_file = logged.then(|| root.path().join("server.log"));
        let started = serve(&data_dir, "127.0.0.1:0", &extra, log_file.as_deref()).await?;
        Ok(Self {
            root,
            data_dir,
            addr: started.addr,
            admin_password,
            database_url,
            server_anchor: None,
            metrics_addr: started.metrics_addr,
            child: started.child,
            extra,
            log_file,
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

    /// Creates a user (`<username>@example.com`) through the command line.
    pub async fn add_account(&self, username: &str, password: &str) -> Result<()> {
        let email = format!("{username}@example.com");
        self.cli_ok(
            &["user", "add", username, "--email", &email, "--password-stdin"],
            Some(&format!("{password}\n")),
        )
        .await?;
        Ok(())
    }

    /// Creates a user through the command line and issues their certificate.
    pub async fn add_user(&self, username: &str, password: &str) -> Result<Identity> {
        self.add_account(username, password).await?;
        self.issue_cert(username).await
    }

    pub async fn issue_cert(&self, username: &str) -> Result<Identity> {
        Identity::load(&self.issue_cert_files(username).await?)
    }

    /// Issues a certificate and returns the folder with its PEM trio
    /// (`client.crt`, `client.key`, `ca.crt`).
    pub async fn issue_cert_files(&self, username: &str) -> Result<PathBuf> {
        self.issue_cert_files_with(username, &[]).await
    }

    /// Like [`TestServer::issue_cert_files`] with more flags for `cert
    /// issue` (`--validity 3m`, ...).
    pub async fn issue_cert_files_with(&self, username: &str, more: &[&str]) -> Result<PathBuf> {
        let out = self
            .root
            .path()
            .join(format!("certs-{username}-{}", rand_suffix()));
        let mut args = vec![
            "cert",
            "issue",
            "--user",
            username,
            "--out",
            out.to_str().context("path")?,
        ];
        args.extend_from_slice(more);
        self.cli_ok(&args, None).await?;
        Ok(out)
    }

    /// The serial of `username`'s newest certificate, from `cert list`.
    pub async fn certificate_serial(&self, username: &str) -> Result<String> {
        let list: serde_json::Value =
            serde_json::from_str(&self.cli_ok(&["cert", "list", "--json"], None).await?)?;
        list.as_array()
            .context("cert list is not an array")?
            .iter()
            .find(|c| c["username"] == username)
            .and_then(|c| c["serial"].as_str())
            .map(str::to_owned)
            .with_context(|| format!("{username} has no certificate"))
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

    /// The server's database, for checks a user cannot make.
    pub async fn database(&self) -> Result<sightline_server::db::Db> {
        use sightline_server::db::{self, DatabaseUrl, Migrations};
        let url = match &self.database_url {
            Some(url) => DatabaseUrl::parse(url)?,
            None => DatabaseUrl::sqlite_file(&self.data_dir.join("sightline.db")),
        };
        Ok(db::open(&url, false, Migrations::Check).await?)
    }

    pub fn admin_identity(&self) -> Result<Identity> {
        Identity::load(&self.data_dir.join("bootstrap").join("admin"))
    }

    pub fn ca_pem(&self) -> Result<String> {
        Ok(std::fs::read_to_string(self.data_dir.join("ca").join("ca.crt"))?)
    }

    /// A TLS client configuration trusting this server's CA (and the
    /// anchor of its operator's chain, when it has one).
    pub fn client_config(&self, identity: Option<&Identity>) -> Result<Arc<ClientConfig>> {
        let anchors = format!(
            "{}{}",
            self.ca_pem()?,
            self.server_anchor.as_deref().unwrap_or_default()
        );
        client_config(&anchors, identity)
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

    /// Sends SIGTERM, as systemd's stop does.
    pub fn terminate(&self) -> Result<()> {
        let pid = self.child.id().context("the server has exited")?;
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()?;
        if !status.success() {
            bail!("kill -TERM {pid} failed");
        }
        Ok(())
    }

    /// Waits for the server to exit, at most `within`.
    pub async fn wait_exit(&mut self, within: Duration) -> Result<std::process::ExitStatus> {
        tokio::time::timeout(within, self.child.wait())
            .await
            .with_context(|| format!("the server did not exit within {within:?}"))?
            .context("waiting for the server")
    }

    /// The captured log ([`TestServer::start_logged`]).
    pub fn log_text(&self) -> Result<String> {
        let path = self
            .log_file
            .as_ref()
            .context("this server's log is not captured")?;
        Ok(std::fs::read_to_string(path)?)
    }

    /// Kills the server process (as a crash or an outage would); the data
    /// directory stays for [`TestServer::restart`].
    pub async fn kill(&mut self) -> Result<()> {
        self.child.kill().await?;
        Ok(())
    }

    /// Starts the server again on the same address and data directory.
    pub async fn restart(&mut self) -> Result<()> {
        let started = serve(
            &self.data_dir,
            &self.addr.to_string(),
            &self.extra,
            self.log_file.as_deref(),
        )
        .await?;
        self.child = started.child;
        self.addr = started.addr;
        self.metrics_addr = started.metrics_addr;
        Ok(())
    }
}

/// Another `serve` process on a [`TestServer`]'s data directory, and so
/// its database: a second instance of the same deployment. Killed on drop.
pub struct Instance {
    pub addr: SocketAddr,
    child: Child,
}

impl TestServer {
    /// Starts another instance on this data directory with `extra` flags.
    pub async fn start_instance(&self, extra: &[&str]) -> Result<Instance> {
        let extra: Vec<String> = extra.iter().map(|s| (*s).to_owned()).collect();
        let started = serve(&self.data_dir, "127.0.0.1:0", &extra, None).await?;
        Ok(Instance {
            addr: started.addr,
            child: started.child,
        })
    }
}

impl Instance {
    /// SIGKILL, as a crash would.
    pub async fn kill(&mut self) -> Result<()> {
        self.child.kill().await?;
        Ok(())
    }
}

struct Started {
    child: Child,
    addr: SocketAddr,
    metrics_addr: Option<SocketAddr>,
}

/// Runs `serve` and waits until it listens; its log goes to `log_file`
/// (appended, at info level) or to the test's standard error.
async fn serve(data_dir: &Path, listen: &str, extra: &[String], log_file: Option<&Path>) -> Result<Started> {
    let (level, stderr) = match log_file {
        Some(path) => (
            "info".to_owned(),
            Stdio::from(std::fs::OpenOptions::new().create(true).append(true).open(path)?),
        ),
        None => (
            std::env::var("SIGHTLINE_TEST_LOG").unwrap_or_else(|_| "warn".into()),
            Stdio::inherit(),
        ),
    };
    let mut child = Command::new(server_binary()?)
        .arg("--data-dir")
        .arg(data_dir)
        .args(["serve", "--listen", listen])
        .args(extra)
        .env("RUST_LOG", level)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .kill_on_drop(true)
        .spawn()?;
    let stdout = child.stdout.take().context("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let mut metrics_addr = None;
    let addr = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await? {
            if let Some(metrics) = line.strip_prefix("metrics on http://") {
                let metrics = metrics.trim_end_matches("/metrics");
                metrics_addr = Some(metrics.parse::<SocketAddr>()?);
            }
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
    Ok(Started {
        child,
        addr,
        metrics_addr,
    })
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

/// A port on loopback that nothing listens on right now.
pub fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}
