//! A real PostgreSQL server for the tests: Debian's binaries, a cluster
//! made with `initdb` in a temporary directory and started with `pg_ctl`
//! on a free loopback port, as an unprivileged user when the tests run as
//! root (PostgreSQL refuses to run as root). No system service is used.
//! It speaks TLS too, with a certificate from a CA of its own
//! ([`Postgres::tls_url`]), for deployments whose database is elsewhere.
//!
//! One cluster serves a whole test process ([`Postgres::shared`]); each
//! server under test gets a database of its own ([`Postgres::new_database`]).
//! A watchdog stops the cluster and removes its directory once the test
//! process has gone.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

/// Set to `postgres` to run the servers the harness starts on PostgreSQL
/// instead of their embedded SQLite file (`scripts/test` does, for the
/// login, provisioning and analysis flows).
pub const DATABASE_ENV: &str = "SIGHTLINE_TEST_DATABASE";

const USER: &str = "sightline";

#[derive(Debug)]
pub struct Postgres {
    port: u16,
    password: String,
    bin: PathBuf,
    /// The CA that signed the server's TLS certificate.
    ca_file: PathBuf,
    databases: AtomicU32,
}

/// Whether the tests were asked to run the servers on PostgreSQL.
pub fn requested() -> bool {
    std::env::var(DATABASE_ENV).is_ok_and(|value| value == "postgres")
}

impl Postgres {
    /// The process's cluster, started on first use.
    pub fn shared() -> Result<&'static Postgres> {
        static SHARED: OnceLock<std::result::Result<Postgres, String>> = OnceLock::new();
        SHARED
            .get_or_init(|| Postgres::start().map_err(|error| format!("{error:#}")))
            .as_ref()
            .map_err(|error| anyhow::anyhow!("PostgreSQL did not start: {error}"))
    }

    fn start() -> Result<Self> {
        let bin = binaries()?;
        let root = tempfile::Builder::new().prefix("sightline-pg-").tempdir()?.keep();
        let data = root.join("data");
        let password = format!("pw-{:08x}{:08x}", std::process::id(), rand_u32());
        std::fs::write(root.join("pwfile"), format!("{password}\n"))?;
        let as_root = is_root();
        let ca_file = root.join("ca.crt");
        write_tls_files(&root, &ca_file)?;
        if as_root {
            run(Command::new("chown").args(["-R", "nobody:nogroup"]).arg(&root))?;
        }
        // A port nothing listens on right now.
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        run(unprivileged(as_root, &bin.join("initdb"))
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                USER,
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "-E",
                "UTF8",
                "--no-sync",
            ])
            .arg(format!("--pwfile={}", root.join("pwfile").display())))?;
        let options = format!(
            "-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={root} -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300 -c ssl=on -c ssl_cert_file={root}/server.crt -c ssl_key_file={root}/server.key",
            root = root.display()
        );
        run(unprivileged(as_root, &bin.join("pg_ctl"))
            .arg("-D")
            .arg(&data)
            .args(["-o", &options, "-l"])
            .arg(root.join("log"))
            .args(["-w", "-t", "60", "start"]))?;
        watchdog(as_root, &bin, &root)?;
        Ok(Self {
            port,
            password,
            bin,
            ca_file,
            databases: AtomicU32::new(0),
        })
    }

    /// A new, empty database in the cluster, and the URL that reaches it.
    pub fn new_database(&self) -> Result<String> {
        let name = format!(
            "t{}_{}",
            std::process::id(),
            self.databases.fetch_add(1, Ordering::Relaxed)
        );
        self.psql("postgres", &format!("CREATE DATABASE {name}"))?;
        Ok(self.url(&name))
    }

    pub fn url(&self, database: &str) -> String {
        format!(
            "postgres://{USER}:{}@127.0.0.1:{}/{database}",
            self.password, self.port
        )
    }

    /// The URL of `database` over TLS, the server's certificate checked
    /// against the cluster's CA and its name (`verify-full`).
    pub fn tls_url(&self, database: &str) -> String {
        format!(
            "{}?sslmode=verify-full&sslrootcert={}",
            self.url(database),
            self.ca_file.display()
        )
    }

    pub fn ca_file(&self) -> &Path {
        &self.ca_file
    }

    /// Runs one SQL statement (administration the product does not do).
    pub fn psql(&self, database: &str, sql: &str) -> Result<String> {
        let output = Command::new(self.bin.join("psql"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                USER,
                "-d",
                database,
            ])
            .args(["-v", "ON_ERROR_STOP=1", "-At", "-c", sql])
            .env("PGPASSWORD", &self.password)
            .output()?;
        if !output.status.success() {
            bail!("psql {sql:?}: {}", String::from_utf8_lossy(&output.stderr));
        }
        Ok(String::from_utf8(output.stdout)?)
    }
}

/// A CA and a server certificate for 127.0.0.1 (PostgreSQL wants its key
/// 0600 and owned by the server's user).
fn write_tls_files(root: &Path, ca_file: &Path) -> Result<()> {
    use sightline_certs::{CertificateAuthority, Serial, Validity};
    let now = time::OffsetDateTime::now_utc();
    let ca = CertificateAuthority::create(
        "Test PostgreSQL CA",
        Validity::days_from(now, 2),
        Serial::from_random([3; 16]),
    )?;
    let server = ca.issue_server(
        &["127.0.0.1".to_owned()],
        Validity::days_from(now, 2),
        Serial::from_random([4; 16]),
    )?;
    std::fs::write(ca_file, ca.cert_pem())?;
    std::fs::write(root.join("server.crt"), &server.cert_pem)?;
    let key = root.join("server.key");
    std::fs::write(&key, server.key_pem.expose())?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600))?;
    Ok(())
}

/// Debian's versioned binaries (`/usr/lib/postgresql/<n>/bin`), newest first.
fn binaries() -> Result<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .context("PostgreSQL is not installed (scripts/setup installs it)")?
        .filter_map(|entry| entry.ok().map(|entry| entry.path().join("bin")))
        .filter(|bin| bin.join("initdb").is_file())
        .collect();
    found.sort();
    found.pop().context("no initdb under /usr/lib/postgresql")
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|output| output.stdout.trim_ascii() == b"0")
}

/// `program` as the user `nobody` when running as root, else as is.
fn unprivileged(as_root: bool, program: &Path) -> Command {
    if as_root {
        let mut command = Command::new("runuser");
        command.args(["-u", "nobody", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

fn run(command: &mut Command) -> Result<()> {
    let output = command.stdin(Stdio::null()).output()?;
    if !output.status.success() {
        bail!(
            "{command:?} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

/// Stops the cluster and removes its directory once this process ends,
/// however it ends.
fn watchdog(as_root: bool, bin: &Path, root: &Path) -> Result<()> {
    let stop = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 1; done; {runas}{pg_ctl} -D {data} -m immediate stop >/dev/null 2>&1; rm -rf {root}",
        pid = std::process::id(),
        runas = if as_root { "runuser -u nobody -- " } else { "" },
        pg_ctl = bin.join("pg_ctl").display(),
        data = root.join("data").display(),
        root = root.display(),
    );
    Command::new("setsid")
        .args(["sh", "-c", &stop])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    Ok(())
}

fn rand_u32() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0)
}
