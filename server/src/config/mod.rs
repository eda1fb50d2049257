//! `<data-dir>/config.toml`: the server's settings. Every key has a default,
//! so a missing file or section means "use the defaults". Command-line flags
//! and `SIGHTLINE_*` variables override the file (see `cli/`).

mod operations;
mod providers;

pub use operations::{LogConfig, LogFormat, MetricsConfig};
pub use providers::{default_providers, ProviderConfig, ProviderKind};

use crate::db::DatabaseUrl;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    #[serde(skip_serializing_if = "TlsConfig::is_unset")]
    pub tls: TlsConfig,
    pub certs: CertsConfig,
    pub auth: AuthConfig,
    pub provisioning: ProvisioningConfig,
    pub analysis: AnalysisConfig,
    pub admin: AdminConfig,
    pub database: DatabaseConfig,
    #[serde(skip_serializing_if = "MetricsConfig::is_unset")]
    pub metrics: MetricsConfig,
    pub log: LogConfig,
    pub policy: PolicyConfig,
    /// Model providers that modes refer to by `id`.
    pub providers: Vec<ProviderConfig>,
    /// Absent: every mail is written to `<data-dir>/outbox/*.eml`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mail: Option<MailConfig>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// The URL people and mails use to reach this server.
    pub public_url: String,
    /// A TLS handshake that takes longer than this is dropped.
    pub handshake_timeout_secs: u64,
    /// Load balancers (addresses or CIDR blocks) that send a PROXY
    /// protocol v2 header with the client's address; required from them,
    /// never read from anyone else.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub proxy_protocol_from: Vec<String>,
    /// On SIGTERM, requests and streamed answers in flight get this long
    /// to finish before the process exits.
    pub shutdown_grace_secs: u64,
    /// Open connections served at once; more are refused with
    /// `too_many_connections`. Keep it below the process's file limit.
    pub max_connections: usize,
    /// Open connections from one client address (after the PROXY header,
    /// so the client's, not the balancer's). An office behind one NAT
    /// address counts as one client: size it for that.
    pub max_connections_per_address: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8443)),
            public_url: "https://localhost:8443".into(),
            handshake_timeout_secs: 10,
            proxy_protocol_from: Vec::new(),
            shutdown_grace_secs: 30,
            max_connections: 4096,
            max_connections_per_address: 256,
        }
    }
}

/// The listener's certificate when it is not the Sightline CA's: an
/// operator's own chain (a company CA, an ACME client such as certbot), so
/// browsers opening the request and admin pages trust it. Client
/// certificates are still verified against the Sightline CA only.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM chain, the server's certificate first; taken again when it
    /// changes, without a restart.
    pub certificate_file: Option<PathBuf>,
    /// PEM private key of that certificate.
    pub key_file: Option<PathBuf>,
}

impl TlsConfig {
    pub fn is_unset(&self) -> bool {
        self.certificate_file.is_none() && self.key_file.is_none()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CertsConfig {
    /// Validity of issued client certificates.
    pub client_validity_days: u32,
    /// Validity of the server's own TLS certificate; renewed at two thirds.
    pub server_validity_days: u32,
    /// How long a renewed client certificate stays valid when its
    /// successor is never used (a lost answer must not strand a device).
    pub renewal_grace_hours: u32,
}

impl Default for CertsConfig {
    fn default() -> Self {
        Self {
            client_validity_days: 365,
            server_validity_days: 90,
            renewal_grace_hours: 24,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Lifetime of an access token; capped at 15 minutes.
    pub access_token_ttl_secs: u64,
    /// Lifetime of a refresh-token family from its login.
    pub refresh_token_ttl_days: u32,
    /// How long a password-verified login may wait for its second factor.
    pub challenge_ttl_secs: u64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            access_token_ttl_secs: 900,
            refresh_token_ttl_days: 30,
            challenge_ttl_secs: 300,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProvisioningConfig {
    /// Lifetime of an emailed one-time download link.
    pub link_ttl_hours: u32,
    /// Access requests accepted per client address per hour.
    pub requests_per_address_per_hour: u32,
    /// Access requests accepted per e-mail address per hour.
    pub requests_per_email_per_hour: u32,
}

impl Default for ProvisioningConfig {
    fn default() -> Self {
        Self {
            link_ttl_hours: 72,
            requests_per_address_per_hour: 10,
            requests_per_email_per_hour: 3,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdminConfig {
    /// Admin pages need an admin's client certificate as well as the
    /// password + TOTP session. Turn off only behind another gate.
    pub require_client_certificate: bool,
    /// A session unused this long ends.
    pub idle_timeout_secs: i64,
    /// A session ends this long after login, however busy.
    pub absolute_timeout_secs: i64,
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            require_client_certificate: true,
            idle_timeout_secs: 30 * 60,
            absolute_timeout_secs: 8 * 3600,
        }
    }
}

/// `[policy]`: what the desktop apps must do, whatever their users chose.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PolicyConfig {
    /// Every picture and text is redacted on the desktop before it is
    /// sent, and the "send unredacted once" action is refused.
    pub require_redaction: bool,
}

impl PolicyConfig {
    /// As the desktop app receives it.
    pub fn client_policy(&self) -> sightline_proto::ClientPolicy {
        sightline_proto::ClientPolicy {
            require_redaction: self.require_redaction,
        }
    }
}

/// `[database]`: where the accounts live.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `sqlite://…` or `postgres://user:password@host/db`. Absent: the
    /// SQLite file in the data directory. `SIGHTLINE_DATABASE_URL` wins.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<DatabaseUrl>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AnalysisConfig {
    pub max_image_bytes: usize,
    /// Largest width or height accepted, read from the header before decoding.
    pub max_image_side: u32,
    pub max_context_bytes: usize,
    pub max_rewrite_bytes: usize,
    pub concurrent_per_user: usize,
    pub requests_per_minute_per_user: u32,
}

impl Default for AnalysisConfig {
    fn default() -> Self {
        Self {
            max_image_bytes: 10 * 1024 * 1024,
            max_image_side: 8192,
            max_context_bytes: 16 * 1024,
            max_rewrite_bytes: 64 * 1024,
            concurrent_per_user: 4,
            requests_per_minute_per_user: 60,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MailSecurity {
    /// Implicit TLS (usually port 465).
    Tls,
    /// STARTTLS (usually port 587).
    Starttls,
    /// Plain SMTP; only allowed to a loopback relay.
    None,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailConfig {
    pub host: String,
    pub port: u16,
    pub security: MailSecurity,
    /// `Name <address>` or a bare address.
    pub from: String,
    /// Names of environment variables holding the SMTP credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username_env: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_env: Option<String>,
    /// Or files holding them (first line).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username_file: Option<std::path::PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_file: Option<std::path::PathBuf>,
    /// First retry delay after a failed delivery; doubles up to `retry_max_secs`.
    #[serde(default = "default_retry_initial")]
    pub retry_initial_secs: u64,
    #[serde(default = "default_retry_max")]
    pub retry_max_secs: u64,
    #[serde(default = "default_mail_timeout")]
    pub timeout_secs: u64,
}

fn default_retry_initial() -> u64 {
    30
}

fn default_retry_max() -> u64 {
    3600
}

fn default_mail_timeout() -> u64 {
    20
}

/// The longest access-token lifetime the server will sign.
pub const MAX_ACCESS_TOKEN_TTL_SECS: u64 = 900;

impl Default for Config {
    fn default() -> Self {
        Self {
            server: ServerConfig::default(),
            tls: TlsConfig::default(),
            certs: CertsConfig::default(),
            auth: AuthConfig::default(),
            provisioning: ProvisioningConfig::default(),
            analysis: AnalysisConfig::default(),
            admin: AdminConfig::default(),
            database: DatabaseConfig::default(),
            metrics: MetricsConfig::default(),
            log: LogConfig::default(),
            policy: PolicyConfig::default(),
            providers: default_providers(),
            mail: None,
        }
    }
}

impl Config {
    pub fn provider(&self, id: &str) -> Option<&ProviderConfig> {
        self.providers.iter().find(|p| p.id == id)
    }

    /// Reads `path`; a missing file yields the defaults.
    pub fn load(path: &Path) -> Result<Self> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(error) => return Err(Error::io("reading", path, error)),
        };
        let config: Self =
            toml::from_str(&text).map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
        config.validate()?;
        Ok(config)
    }

    pub fn validate(&self) -> Result<()> {
        if self.auth.access_token_ttl_secs == 0 || self.auth.access_token_ttl_secs > MAX_ACCESS_TOKEN_TTL_SECS
        {
            return Err(Error::Config(format!(
                "auth.access_token_ttl_secs must be between 1 and {MAX_ACCESS_TOKEN_TTL_SECS}"
            )));
        }
        if self.tls.certificate_file.is_some() != self.tls.key_file.is_some() {
            return Err(Error::Config(
                "tls.certificate_file and tls.key_file go together: give both or neither".into(),
            ));
        }
        if self.certs.client_validity_days == 0 {
            return Err(Error::Config(
                "certs.client_validity_days must be at least 1".into(),
            ));
        }
        if self.server.handshake_timeout_secs == 0 {
            return Err(Error::Config(
                "server.handshake_timeout_secs must be at least 1".into(),
            ));
        }
        if self.server.max_connections == 0 || self.server.max_connections_per_address == 0 {
            return Err(Error::Config(
                "server.max_connections and server.max_connections_per_address must be at least 1".into(),
            ));
        }
        if self.server.max_connections_per_address > self.server.max_connections {
            return Err(Error::Config(
                "server.max_connections_per_address cannot exceed server.max_connections".into(),
            ));
        }
        // Port 0 asks the system for a free port, different each time.
        if self
            .metrics
            .listen
            .is_some_and(|metrics| metrics == self.server.listen && metrics.port() != 0)
        {
            return Err(Error::Config(
                "metrics.listen must differ from server.listen: metrics have a listener of their own".into(),
            ));
        }
        if let Some(mail) = &self.mail {
            let loopback = matches!(mail.host.as_str(), "localhost" | "127.0.0.1" | "::1")
                || mail
                    .host
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback());
            if mail.security == MailSecurity::None && !loopback {
                return Err(Error::Config(
                    "mail.security = \"none\" is only allowed for a relay on this machine (localhost)".into(),
                ));
            }
            if mail.retry_initial_secs == 0 || mail.retry_max_secs < mail.retry_initial_secs {
                return Err(Error::Config(
                    "mail.retry_initial_secs must be at least 1 and at most retry_max_secs".into(),
                ));
            }
        }
        for (index, provider) in self.providers.iter().enumerate() {
            if self.providers[..index].iter().any(|p| p.id == provider.id) {
                return Err(Error::Config(format!(
                    "providers: id {:?} is used twice",
                    provider.id
                )));
            }
            if provider.kind == ProviderKind::Openai {
                let url = provider.base_url.as_deref().unwrap_or_default();
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return Err(Error::Config(format!(
                        "providers.{}: base_url must be an http:// or https:// URL",
                        provider.id
                    )));
                }
            }
            if provider.connect_timeout_secs == 0
                || provider.first_token_timeout_secs == 0
                || provider.total_timeout_secs == 0
            {
                return Err(Error::Config(format!(
                    "providers.{}: timeouts must be at least 1 second",
                    provider.id
                )));
            }
        }
        if self.analysis.concurrent_per_user == 0 || self.analysis.max_image_bytes == 0 {
            return Err(Error::Config("analysis limits must be at least 1".into()));
        }
        if self.provisioning.link_ttl_hours == 0 {
            return Err(Error::Config(
                "provisioning.link_ttl_hours must be at least 1".into(),
            ));
        }
        crate::proxy_protocol::TrustedProxies::parse(&self.server.proxy_protocol_from)?;
        if let Some(url) = &self.database.url {
            url.backend()?;
        }
        if !self.server.public_url.starts_with("https://") {
            return Err(Error::Config("server.public_url must start with https://".into()));
        }
        Ok(())
    }

    pub fn to_toml(&self) -> Result<String> {
        toml::to_string_pretty(self).map_err(|e| Error::Config(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_file_gives_defaults_and_partial_files_merge() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        let config = Config::load(&path).unwrap();
        assert_eq!(config.auth.access_token_ttl_secs, 900);

        std::fs::write(&path, "[certs]\nclient_validity_days = 30\n").unwrap();
        let config = Config::load(&path).unwrap();
        assert_eq!(config.certs.client_validity_days, 30);
        assert_eq!(config.server.listen.port(), 8443);
    }

    #[test]
    fn long_token_lifetimes_and_unknown_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, "[auth]\naccess_token_ttl_secs = 3600\n").unwrap();
        assert!(Config::load(&path).is_err());
        std::fs::write(&path, "[server]\nlisten_on = \"x\"\n").unwrap();
        assert!(Config::load(&path).is_err());
    }

    #[test]
    fn an_operator_chain_needs_both_files_and_stays_out_of_a_written_config() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, "[tls]\ncertificate_file = \"/etc/tls/fullchain.pem\"\n").unwrap();
        let error = Config::load(&path).unwrap_err();
        assert!(error.to_string().contains("tls.key_file"), "{error}");
        std::fs::write(
            &path,
            "[tls]\ncertificate_file = \"/etc/tls/fullchain.pem\"\nkey_file = \"/etc/tls/privkey.pem\"\n",
        )
        .unwrap();
        let config = Config::load(&path).unwrap();
        assert_eq!(
            config.tls.key_file.as_deref(),
            Some(Path::new("/etc/tls/privkey.pem"))
        );
        assert!(!toml::to_string(&Config::default()).unwrap().contains("[tls]"));
    }

    #[test]
    fn balancers_and_database_urls_are_checked_when_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(
            &path,
            "[server]\nproxy_protocol_from = [\"192.0.2.10\", \"198.51.100.0/24\"]\n\n\
             [database]\nurl = \"postgres://sightline:secret@db.example/sightline\"\n",
        )
        .unwrap();
        let config = Config::load(&path).unwrap();
        assert_eq!(config.server.proxy_protocol_from.len(), 2);
        let url = config.database.url.as_ref().unwrap();
        assert_eq!(url.backend().unwrap(), crate::db::Backend::Postgres);
        assert!(!format!("{config:?}").contains("secret"));
        std::fs::write(&path, "[server]\nproxy_protocol_from = [\"balancer.example\"]\n").unwrap();
        let error = Config::load(&path).unwrap_err();
        assert!(error.to_string().contains("balancer.example"), "{error}");
        std::fs::write(&path, "[database]\nurl = \"mysql://db/sightline\"\n").unwrap();
        assert!(Config::load(&path).is_err());
    }

    #[test]
    fn operations_settings_are_read_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(
            &path,
            "[server]\nmax_connections = 100\nmax_connections_per_address = 10\nshutdown_grace_secs = 5\n\n\
             [metrics]\nlisten = \"127.0.0.1:9464\"\n\n[log]\nformat = \"json\"\n",
        )
        .unwrap();
        let config = Config::load(&path).unwrap();
        assert_eq!(
            config.metrics.listen,
            Some(SocketAddr::from(([127, 0, 0, 1], 9464)))
        );
        assert_eq!(config.log.format, LogFormat::Json);
        assert!(config.log.access_log);
        assert_eq!(config.server.shutdown_grace_secs, 5);
        // Metrics are off unless asked for, and stay out of a written file.
        assert!(Config::default().metrics.listen.is_none());
        assert!(!Config::default().to_toml().unwrap().contains("[metrics]"));
        for bad in [
            "[server]\nmax_connections = 0\n",
            "[server]\nmax_connections = 10\nmax_connections_per_address = 11\n",
            "[server]\nlisten = \"127.0.0.1:8443\"\n[metrics]\nlisten = \"127.0.0.1:8443\"\n",
            "[log]\nformat = \"xml\"\n",
        ] {
            std::fs::write(&path, bad).unwrap();
            assert!(Config::load(&path).is_err(), "{bad}");
        }
    }

    #[test]
    fn plain_smtp_is_only_for_loopback() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        let mail = |host: &str| {
            format!("[mail]\nhost = \"{host}\"\nport = 25\nsecurity = \"none\"\nfrom = \"s@example.com\"\n")
        };
        std::fs::write(&path, mail("127.0.0.1")).unwrap();
        assert!(Config::load(&path).unwrap().mail.is_some());
        std::fs::write(&path, mail("smtp.example.com")).unwrap();
        assert!(Config::load(&path).is_err());
    }

    #[test]
    fn written_config_reads_back() {
        let config = Config::default();
        let text = config.to_toml().unwrap();
        let back: Config = toml::from_str(&text).unwrap();
        assert_eq!(back.server.public_url, config.server.public_url);
    }
}
