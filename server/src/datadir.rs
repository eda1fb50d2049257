//! The data directory: where everything the server owns lives, and `init`,
//! which creates it.
//!
//! ```text
//! <data-dir>/
//!   config.toml
//!   sightline.db           SQLite (WAL), unless `[database] url` names PostgreSQL
//!   ca/ca.crt, ca/ca.key   the certificate authority (key 0600)
//!   tls/server.crt, .key   the listener's certificate (key 0600)
//!   jwt/signing-key.pem    Ed25519 access-token key (0600)
//!   outbox/                mail written as .eml when no SMTP is configured
//!   packages/              certificate packages (none are kept by default)
//!   bootstrap/admin/       the first admin's client certificate
//! ```

use crate::audit::Actor;
use crate::auth::jwt;
use crate::certificates::{self, random_serial, PemBundlePaths};
use crate::clock::Clock;
use crate::config::Config;
use crate::context::Context;
use crate::db::{self, DatabaseUrl, Migrations};
use crate::error::{Error, Result};
use crate::fsutil;
use crate::users::{self, NewUser};
use rand::Rng;
use sightline_certs::{CertificateAuthority, Validity};
use sightline_proto::Secret;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct DataDir {
    root: PathBuf,
    /// `SIGHTLINE_DATABASE_URL` / `--database-url`: wins over config.toml.
    database_url: Option<DatabaseUrl>,
}

impl DataDir {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            database_url: None,
        }
    }

    /// The database named on the command line or in the environment,
    /// which wins over `[database] url`.
    pub fn with_database_url(mut self, url: Option<DatabaseUrl>) -> Self {
        self.database_url = url;
        self
    }

    pub fn database_url_override(&self) -> Option<&DatabaseUrl> {
        self.database_url.as_ref()
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn config(&self) -> PathBuf {
        self.root.join("config.toml")
    }

    /// The embedded SQLite database's file, used unless `[database] url`
    /// names another database.
    pub fn database(&self) -> PathBuf {
        self.root.join("sightline.db")
    }

    /// The database this directory's server uses.
    pub fn database_url(&self, config: &Config) -> DatabaseUrl {
        config
            .database
            .url
            .clone()
            .unwrap_or_else(|| DatabaseUrl::sqlite_file(&self.database()))
    }

    pub fn ca_cert(&self) -> PathBuf {
        self.root.join("ca").join("ca.crt")
    }

    pub fn ca_key(&self) -> PathBuf {
        self.root.join("ca").join("ca.key")
    }

    pub fn tls_cert(&self) -> PathBuf {
        self.root.join("tls").join("server.crt")
    }

    pub fn tls_key(&self) -> PathBuf {
        self.root.join("tls").join("server.key")
    }

    pub fn jwt_key(&self) -> PathBuf {
        self.root.join("jwt").join("signing-key.pem")
    }

    /// Where mail goes as `.eml` files when no `[mail]` is configured.
    pub fn outbox(&self) -> PathBuf {
        self.root.join("outbox")
    }

    /// The domain's context over this (initialised) directory.
    pub async fn context(&self, config: Config, clock: Clock, migrations: Migrations) -> Result<Context> {
        let db = self.open_db(&config, migrations).await?;
        let ca = self.load_ca()?;
        Context::new(db, config, ca, self.outbox(), clock)
    }

    /// The context the command line works in: this directory's
    /// `config.toml` and the system clock.
    pub async fn system_context(&self) -> Result<Context> {
        self.context(self.load_config()?, Clock::system(), Migrations::Run)
            .await
    }

    pub fn bootstrap_admin(&self) -> PathBuf {
        self.root.join("bootstrap").join("admin")
    }

    /// Fails with a clear message unless `init` has created this directory.
    pub fn ensure_initialised(&self) -> Result<()> {
        if self.config().is_file() {
            Ok(())
        } else {
            Err(Error::DataDirMissing(self.root.clone()))
        }
    }

    /// `config.toml`, with the database named on the command line or in
    /// the environment put in.
    pub fn load_config(&self) -> Result<Config> {
        let mut config = Config::load(&self.config())?;
        if let Some(url) = &self.database_url {
            config.database.url = Some(url.clone());
        }
        Ok(config)
    }

    pub fn read(&self, path: &Path) -> Result<String> {
        std::fs::read_to_string(path).map_err(|e| Error::io("reading", path, e))
    }

    pub fn load_ca(&self) -> Result<CertificateAuthority> {
        let cert = self.read(&self.ca_cert())?;
        let key = self.read(&self.ca_key())?;
        Ok(CertificateAuthority::from_pem(&cert, &key)?)
    }

    /// Opens the configured database; a SQLite file that `init` has not
    /// made is refused rather than created empty.
    pub async fn open_db(&self, config: &Config, migrations: Migrations) -> Result<db::Db> {
        self.ensure_initialised()?;
        let url = self.database_url(config);
        if url.sqlite_path().is_some_and(|path| !path.is_file()) {
            return Err(Error::DataDirMissing(self.root.clone()));
        }
        db::open(&url, false, migrations).await
    }
}

#[derive(Debug)]
pub struct InitOptions {
    pub hostnames: Vec<String>,
    pub admin_username: String,
    pub admin_email: String,
    pub config: Config,
}

/// What `init` tells the operator, once.
#[derive(Debug)]
pub struct InitReport {
    pub admin_username: String,
    pub admin_password: Secret,
    pub admin_identity: PemBundlePaths,
    pub ca_fingerprint: String,
}

/// Creates a data directory. It is assembled in a sibling folder and moved
/// into place at the end, so a failure leaves nothing behind, and an
/// existing non-empty directory is refused untouched.
pub async fn init(root: &Path, options: InitOptions, clock: &Clock) -> Result<InitReport> {
    if options.hostnames.is_empty() {
        return Err(Error::invalid("hostnames", "give at least one --hostname"));
    }
    if is_non_empty_dir(root)? {
        return Err(Error::DataDirExists(root.to_path_buf()));
    }
    options.config.validate()?;
    users::validate_username(&options.admin_username)?;
    users::validate_email(&options.admin_email)?;

    let parent = root
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|e| Error::io("creating", parent, e))?;
    let name = root
        .file_name()
        .ok_or_else(|| Error::invalid("data directory", "needs a final path component"))?;
    let staging = parent.join(format!(
        ".{}.init-{:08x}",
        name.to_string_lossy(),
        rand::thread_rng().gen::<u32>()
    ));
    let result = populate(&DataDir::new(&staging), &options, clock).await;
    match result {
        Ok(report) => {
            if root.exists() {
                std::fs::remove_dir(root).map_err(|e| Error::io("replacing empty", root, e))?;
            }
            std::fs::rename(&staging, root).map_err(|e| Error::io("moving into place", root, e))?;
            let moved = DataDir::new(root);
            Ok(InitReport {
                admin_identity: PemBundlePaths {
                    cert: moved.bootstrap_admin().join("client.crt"),
                    key: moved.bootstrap_admin().join("client.key"),
                    ca: moved.bootstrap_admin().join("ca.crt"),
                },
                ..report
            })
        }
        Err(error) => {
            let _ = std::fs::remove_dir_all(&staging);
            Err(error)
        }
    }
}

fn is_non_empty_dir(path: &Path) -> Result<bool> {
    match std::fs::read_dir(path) {
        Ok(mut entries) => Ok(entries.next().is_some()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(error) if error.kind() == std::io::ErrorKind::NotADirectory => Ok(true),
        Err(error) => Err(Error::io("reading", path, error)),
    }
}

async fn populate(dir: &DataDir, options: &InitOptions, clock: &Clock) -> Result<InitReport> {
    let now = clock.now_datetime();
    fsutil::create_private_dir(dir.root())?;
    for sub in ["ca", "tls", "jwt", "outbox", "packages", "bootstrap"] {
        fsutil::create_private_dir(&dir.root().join(sub))?;
    }

    let first_host = options
        .hostnames
        .first()
        .map(String::as_str)
        .unwrap_or("localhost");
    let ca = CertificateAuthority::create(
        &format!("Sightline CA ({first_host})"),
        Validity::days_from(now, 3650),
        random_serial(),
    )?;
    let ca_pem = ca.cert_pem();
    fsutil::write_public(&dir.ca_cert(), ca_pem.as_bytes())?;
    fsutil::write_private(&dir.ca_key(), ca.key_pem().expose().as_bytes())?;

    let server = ca.issue_server(
        &options.hostnames,
        Validity::days_from(now, options.config.certs.server_validity_days),
        random_serial(),
    )?;
    fsutil::write_public(
        &dir.tls_cert(),
        format!("{}{}", server.cert_pem, ca_pem).as_bytes(),
    )?;
    fsutil::write_private(&dir.tls_key(), server.key_pem.expose().as_bytes())?;

    fsutil::write_private(&dir.jwt_key(), jwt::generate_key_pem()?.as_bytes())?;

    let mut config = options.config.clone();
    if config.server.public_url == Config::default().server.public_url {
        config.server.public_url = format!("https://{first_host}:{}", config.server.listen.port());
    }
    let text = format!(
        "# Sightline server configuration. Command-line flags and SIGHTLINE_* variables override it.\n{}",
        config.to_toml()?
    );
    // A database URL may carry a password: then the file is the owner's only.
    if config
        .database
        .url
        .as_ref()
        .is_some_and(DatabaseUrl::has_password)
    {
        fsutil::write_private(&dir.config(), text.as_bytes())?;
    } else {
        fsutil::write_public(&dir.config(), text.as_bytes())?;
    }

    let db = db::open(&dir.database_url(&config), true, Migrations::Run).await?;
    db::ensure_empty(&db).await?;
    let ctx = Context::new(db, config.clone(), ca, dir.outbox(), clock.clone())?;
    let password = Secret::new(generate_password());
    let admin = users::add(
        &ctx,
        NewUser {
            username: &options.admin_username,
            email: &options.admin_email,
            is_admin: true,
            password: Some(password.clone()),
        },
        Actor::Cli,
    )
    .await?;
    let mut tx = ctx.db.begin().await?;
    crate::modes::seed_defaults(&mut tx, now.unix_timestamp()).await?;
    let issued = certificates::issue_for_user(
        &mut tx,
        &ctx.ca,
        &admin,
        time::Duration::days(i64::from(config.certs.client_validity_days)),
        certificates::Device::CommandLine,
        now,
        Actor::Cli,
    )
    .await?;
    tx.commit().await?;
    let identity = certificates::write_pem_bundle(&dir.bootstrap_admin(), &issued, &ca_pem)?;
    ctx.db.close().await;

    Ok(InitReport {
        admin_username: admin.username,
        admin_password: password,
        admin_identity: identity,
        ca_fingerprint: sightline_certs::hex(&sightline_certs::sha256(ctx.ca.cert_der())),
    })
}

/// A random password of 20 characters from an unambiguous alphabet
/// (about 110 bits), grouped for reading aloud.
pub fn generate_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rngs::OsRng;
    let chars: Vec<char> = (0..20)
        .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
        .collect();
    chars
        .chunks(5)
        .map(|chunk| chunk.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join("-")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> InitOptions {
        InitOptions {
            hostnames: vec!["localhost".into()],
            admin_username: "admin".into(),
            admin_email: "admin@localhost".into(),
            config: Config::default(),
        }
    }

    #[tokio::test]
    async fn init_creates_everything_with_private_keys() {
        use std::os::unix::fs::PermissionsExt;
        let parent = tempfile::tempdir().unwrap();
        let root = parent.path().join("data");
        let report = init(&root, options(), &Clock::system()).await.unwrap();
        let dir = DataDir::new(&root);
        for key in [
            dir.ca_key(),
            dir.tls_key(),
            dir.jwt_key(),
            report.admin_identity.key.clone(),
        ] {
            let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", key.display());
        }
        assert!(report.admin_identity.cert.is_file());
        assert!(dir.load_ca().is_ok());
        assert!(dir
            .load_config()
            .unwrap()
            .server
            .public_url
            .starts_with("https://localhost:"));
        assert!(!format!("{report:?}").contains(report.admin_password.expose()));
        // Only the data directory itself remains: no staging leftovers.
        assert_eq!(std::fs::read_dir(parent.path()).unwrap().count(), 1);
    }

    #[tokio::test]
    async fn init_refuses_an_existing_directory_and_changes_nothing() {
        let parent = tempfile::tempdir().unwrap();
        let root = parent.path().join("data");
        std::fs::create_dir(&root).unwrap();
        std::fs::write(root.join("keep.txt"), "mine").unwrap();
        let error = init(&root, options(), &Clock::system()).await.unwrap_err();
        assert!(matches!(error, Error::DataDirExists(_)));
        assert!(error.to_string().contains("init changed nothing"));
        assert_eq!(std::fs::read_to_string(root.join("keep.txt")).unwrap(), "mine");
        assert_eq!(std::fs::read_dir(&root).unwrap().count(), 1);
    }

    #[test]
    fn generated_passwords_pass_the_strength_rules() {
        let password = Secret::new(generate_password());
        assert_eq!(password.expose().len(), 23);
        crate::auth::password::check_strength(&password, "a@b.c", "admin").unwrap();
    }
}
