//! `<data-dir>/config.toml`: the server's settings. Every key has a default,
//! so a missing file or section means "use the defaults". Command-line flags
//! and `SIGHTLINE_*` variables override the file (see `main.rs`).

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::Path;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub certs: CertsConfig,
    pub auth: AuthConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// The URL people and mails use to reach this server.
    pub public_url: String,
    /// A TLS handshake that takes longer than this is dropped.
    pub handshake_timeout_secs: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8443)),
            public_url: "https://localhost:8443".into(),
            handshake_timeout_secs: 10,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CertsConfig {
    /// Validity of issued client certificates.
    pub client_validity_days: u32,
    /// Validity of the server certificate written by `init`.
    pub server_validity_days: u32,
}

impl Default for CertsConfig {
    fn default() -> Self {
        Self {
            client_validity_days: 365,
            server_validity_days: 825,
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

/// The longest access-token lifetime the server will sign.
pub const MAX_ACCESS_TOKEN_TTL_SECS: u64 = 900;

impl Config {
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
    fn written_config_reads_back() {
        let config = Config::default();
        let text = config.to_toml().unwrap();
        let back: Config = toml::from_str(&text).unwrap();
        assert_eq!(back.server.public_url, config.server.public_url);
    }
}
