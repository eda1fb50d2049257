//! The sidebar's state, without the window: where the user is (onboarding,
//! login, ready), the session, the running questions and the connection
//! watch. Each Tauri command is a call to one method of [`Desktop`], so
//! everything the UI can do is also testable without a display.
//!
//! This file holds `Desktop` itself and its settings; each file beside it
//! adds one concern's methods:
//! - `onboarding`: the server's CA, importing the package, resetting;
//! - `login`: password, TOTP code, logout;
//! - `chat`: questions, their streamed answers, stop;
//! - `connection`: the connection watch and what wakes it;
//! - `renewal`: renewing the device certificate before it runs out;
//! - `redaction`: the rules in force, pictures and text checked before
//!   they go, the upload log and the pictures kept for "What was sent";
//! - `rewrite`: the rewrite panel's entry points over
//!   [`crate::rewrite::session`].

pub mod chat;
pub mod connection;
pub mod login;
pub mod onboarding;
pub mod redaction;
pub mod renewal;
pub mod rewrite;

use crate::api::{ApiClient, Challenge, SessionSaver};
use crate::error::ClientError;
use crate::identity::Identity;
use crate::rewrite::session::RewriteSession;
use crate::settings::Settings;
use crate::status::{CertificateNotice, ConnectionStatus};
use crate::store::{SecretBackend, Store};
use serde::Serialize;
use sightline_proto::Secret;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU32;
use std::sync::{Arc, Mutex, RwLock};
use tokio::sync::Notify;

/// The refresh token's name in the store.
const REFRESH_SECRET: &str = "refresh-token";

/// Which screen the sidebar shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(tag = "stage", rename_all = "snake_case")]
pub enum Stage {
    Onboarding,
    Login,
    Ready,
}

/// Everything the sidebar needs to draw itself at start.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Overview {
    pub stage: Stage,
    pub server_url: Option<String>,
    pub username: Option<String>,
    /// SHA-256 of the trusted server CA, as colon-separated hex.
    pub ca_fingerprint: Option<String>,
    pub secrets: SecretBackend,
    pub settings: Settings,
}

/// The desktop core. Cheap to share: wrap it in an `Arc`.
pub struct Desktop {
    config_dir: PathBuf,
    settings_path: PathBuf,
    store: Store,
    settings: Mutex<Settings>,
    api: RwLock<Option<Arc<ApiClient>>>,
    identity_fingerprint: Mutex<Option<String>>,
    challenge: Mutex<Option<(String, Challenge)>>,
    asks: Mutex<HashMap<u32, tokio::task::AbortHandle>>,
    /// Ids for questions and rewrite panels alike.
    next_ask: AtomicU32,
    /// Wakes the connection watch (after set-up, login, or a failure seen
    /// by a request).
    kick: Notify,
    /// Wakes the certificate renewal (after set-up or login).
    renewal_kick: Notify,
    /// What the sidebar shows about the certificate, as last reported.
    certificate_notice: Mutex<CertificateNotice>,
    /// The connection as last reported, for a page that starts listening
    /// after the report went out.
    status: Mutex<Option<ConnectionStatus>>,
    rewrite: RewriteSession,
    /// The upload log, for every picture that left.
    uploads: crate::ambient::uploads::UploadLog,
    /// Ambient looks' pictures as sent, for "What was sent".
    sent: crate::ambient::sent::SentPictures,
    /// The rules last built, and the settings and policy they were built for.
    redactor: Mutex<
        Option<(
            crate::redaction::RedactionSettings,
            bool,
            crate::redaction::Redactor,
        )>,
    >,
}

impl std::fmt::Debug for Desktop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Desktop")
            .field("settings_path", &self.settings_path)
            .finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Desktop {
    /// Opens the app's state in `config_dir`: settings, the stored identity
    /// and, if one was kept, the session.
    pub async fn open(config_dir: &Path, use_keychain: bool) -> Result<Arc<Self>, ClientError> {
        let settings_path = config_dir.join("settings.json");
        let settings = Settings::load(&settings_path)?;
        let store = Store::open(config_dir, use_keychain);
        let desktop = Arc::new(Self {
            config_dir: config_dir.to_owned(),
            settings_path,
            store,
            settings: Mutex::new(settings),
            api: RwLock::new(None),
            identity_fingerprint: Mutex::new(None),
            challenge: Mutex::new(None),
            asks: Mutex::new(HashMap::new()),
            next_ask: AtomicU32::new(1),
            kick: Notify::new(),
            renewal_kick: Notify::new(),
            certificate_notice: Mutex::new(CertificateNotice::Fine),
            status: Mutex::new(None),
            rewrite: RewriteSession::new(config_dir.join("injections.log")),
            uploads: crate::ambient::uploads::UploadLog::open(config_dir),
            sent: crate::ambient::sent::SentPictures::open(config_dir),
            redactor: Mutex::new(None),
        });
        let server_url = lock(&desktop.settings).server_url.clone();
        if let (Some(server_url), Some(identity)) = (server_url, desktop.store.load_identity()?) {
            desktop.connect(&server_url, &identity)?;
            if let Some(refresh) = desktop.store.secret(REFRESH_SECRET)? {
                if let Some(api) = desktop.api() {
                    api.resume(refresh).await;
                }
            }
        }
        Ok(desktop)
    }

    /// The OS's config directory for the app (`~/.config/sightline`).
    pub fn default_dir() -> Result<PathBuf, ClientError> {
        dirs::config_dir()
            .map(|d| d.join("sightline"))
            .ok_or_else(|| ClientError::Io("no config directory for this user".into()))
    }

    /// Where this app's settings, keys and local logs are kept.
    pub fn config_dir(&self) -> &Path {
        &self.config_dir
    }

    fn api(&self) -> Option<Arc<ApiClient>> {
        self.api.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn require_api(&self) -> Result<Arc<ApiClient>, ClientError> {
        self.api().ok_or(ClientError::NotSetUp)
    }

    /// Builds the API client for `identity`; its session is saved to the
    /// store whenever the refresh token changes.
    fn connect(&self, server_url: &str, identity: &Identity) -> Result<(), ClientError> {
        let store = self.store.clone();
        let saver: SessionSaver = Arc::new(move |refresh: Option<&Secret>| {
            let result = match refresh {
                Some(token) => store.set_secret(REFRESH_SECRET, token),
                None => store.delete_secret(REFRESH_SECRET),
            };
            if let Err(error) = result {
                tracing::warn!(%error, "the session could not be kept for the next start");
            }
        });
        let api = ApiClient::new(server_url, identity)?.with_session_saver(saver);
        *self.api.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(api));
        *lock(&self.identity_fingerprint) = Some(identity.ca_fingerprint());
        self.kick.notify_one();
        self.renewal_kick.notify_one();
        Ok(())
    }

    pub async fn overview(&self) -> Overview {
        let settings = lock(&self.settings).clone();
        let stage = match self.api() {
            None => Stage::Onboarding,
            Some(api) if api.logged_in().await => Stage::Ready,
            Some(_) => Stage::Login,
        };
        Overview {
            stage,
            server_url: settings.server_url.clone(),
            username: settings.username.clone(),
            ca_fingerprint: lock(&self.identity_fingerprint).clone(),
            secrets: self.store.backend().clone(),
            settings,
        }
    }

    pub fn settings(&self) -> Settings {
        lock(&self.settings).clone()
    }

    /// Changes the settings with `change` and saves them.
    pub fn update_settings(&self, change: impl FnOnce(&mut Settings)) -> Result<Settings, ClientError> {
        let mut settings = lock(&self.settings);
        let mut updated = settings.clone();
        change(&mut updated);
        updated.normalize();
        updated.save(&self.settings_path)?;
        *settings = updated.clone();
        Ok(updated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_fresh_profile_starts_at_onboarding() {
        let dir = tempfile::tempdir().unwrap();
        let desktop = Desktop::open(dir.path(), false).await.unwrap();
        let overview = desktop.overview().await;
        assert_eq!(overview.stage, Stage::Onboarding);
        assert!(matches!(overview.secrets, SecretBackend::File { .. }));
        assert_eq!(
            desktop.login("ann", "pw").await.unwrap_err(),
            ClientError::NotSetUp
        );
        assert!(matches!(
            desktop.verify("123456").await.unwrap_err(),
            ClientError::Invalid { .. }
        ));
        let question = chat::Question {
            text: "".into(),
            mode: "ask".into(),
        };
        assert!(desktop.ask(question, None, |_| {}).await.is_err());
    }

    #[tokio::test]
    async fn settings_changes_are_kept_and_clamped() {
        let dir = tempfile::tempdir().unwrap();
        let desktop = Desktop::open(dir.path(), false).await.unwrap();
        desktop.update_settings(|s| s.sidebar_width = 9000).unwrap();
        let reopened = Desktop::open(dir.path(), false).await.unwrap();
        assert_eq!(
            reopened.settings().sidebar_width,
            crate::settings::MAX_SIDEBAR_WIDTH
        );
    }
}
