//! The sidebar's state, without the window: where the user is (onboarding,
//! login, ready), the session, the running questions and the connection
//! watch. Each Tauri command is a call to one method here, so everything
//! the UI can do is also testable without a display.

use crate::api::{ApiClient, Attachment, Challenge, SessionSaver};
use crate::error::ClientError;
use crate::identity::{self, Identity};
use crate::journal::Journal;
use crate::rewrite::{self, Injected, Method, Selection, Timing};
use crate::seat::{Seat, WindowRef};
use crate::settings::Settings;
use crate::status::{self, ConnectionStatus};
use crate::store::{SecretBackend, Store};
use serde::Serialize;
use sightline_proto::{ModeSummary, Secret};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::sync::Notify;

const REFRESH_SECRET: &str = "refresh-token";

/// How often a healthy connection is probed.
const HEALTHY_INTERVAL: Duration = Duration::from_secs(10);

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

/// A CA fetched from a server for the user to accept by its fingerprint.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct CaPreview {
    pub pem: String,
    pub fingerprint: String,
}

/// What onboarding sends: where the server is and the package to import.
#[derive(Clone, serde::Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct ImportRequest {
    pub server_url: String,
    /// The zip, the `.p12`/`.pfx`, or `client.crt` of the PEM trio.
    pub path: String,
    pub password: Option<String>,
    /// A CA the user accepted by fingerprint, for packages without one.
    pub trusted_ca_pem: Option<String>,
}

impl std::fmt::Debug for ImportRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImportRequest")
            .field("server_url", &self.server_url)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// The authenticator to set up on first login.
#[derive(Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Enrollment {
    pub qr_svg: String,
    pub otpauth_uri: String,
    /// The secret in groups of four, for typing into an authenticator.
    pub manual_key: String,
}

impl std::fmt::Debug for Enrollment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Enrollment(<redacted>)")
    }
}

/// The answer to a correct password: a code is needed next.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct CodeNeeded {
    pub enrollment: Option<Enrollment>,
}

/// A completed login. Recovery codes come only with a new authenticator.
#[derive(Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct LoggedIn {
    pub username: String,
    pub recovery_codes: Vec<String>,
}

impl std::fmt::Debug for LoggedIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoggedIn")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// A question from the chat box.
#[derive(Debug, Clone, serde::Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Question {
    pub text: String,
    pub mode: String,
}

/// One step of a streamed answer, as the chat thread shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ChatEvent {
    Delta { text: String },
    Done,
    Stopped,
    Failed { error: ClientError },
}

/// A rewrite the user started with the shortcut, as the sidebar shows it.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct RewritePanel {
    pub id: u32,
    /// The window the text came from and goes back to.
    pub target: WindowRef,
    /// The selected text; `None` when nothing was selected (the user may
    /// type or paste it in the panel).
    pub original: Option<String>,
}

/// What the rewrite shortcut did.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum RewriteBegun {
    Opened {
        panel: RewritePanel,
    },
    /// A rewrite is already open (or being read): nothing new was started.
    AlreadyOpen {
        panel: Option<RewritePanel>,
    },
}

/// A request for a replacement from the rewrite panel.
#[derive(Debug, Clone, serde::Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct RewriteAsk {
    pub id: u32,
    /// The text to rewrite: the selection, or what the user typed in.
    pub text: String,
    pub mode: String,
    pub instruction: Option<String>,
}

/// One line of the injection log: never the text itself.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct InjectionEntry {
    /// Seconds since the Unix epoch.
    pub at: u64,
    pub app: String,
    pub chars: u32,
    pub method: Option<Method>,
    /// `typed`, `pasted`, or why nothing was typed.
    pub outcome: String,
}

enum RewriteState {
    Closed,
    /// The selection is being read (the shortcut was just pressed).
    Reading,
    Open {
        panel: RewritePanel,
        stream: Option<tokio::task::AbortHandle>,
        injecting: bool,
    },
}

impl ChatEvent {
    fn ending(result: Result<(), ClientError>) -> Self {
        match result {
            Ok(()) => Self::Done,
            Err(error) => Self::Failed { error },
        }
    }
}

/// Passes a streamed answer on to `sink` as deltas, until it is done.
async fn forward<F>(stream: Result<crate::api::EventStream, ClientError>, sink: &F) -> Result<(), ClientError>
where
    F: Fn(ChatEvent),
{
    stream?.each_delta(|text| sink(ChatEvent::Delta { text })).await
}

/// The desktop core. Cheap to share: wrap it in an `Arc`.
pub struct Desktop {
    settings_path: PathBuf,
    store: Store,
    settings: Mutex<Settings>,
    api: RwLock<Option<Arc<ApiClient>>>,
    identity_fingerprint: Mutex<Option<String>>,
    challenge: Mutex<Option<(String, Challenge)>>,
    asks: Mutex<HashMap<u32, tokio::task::AbortHandle>>,
    next_ask: AtomicU32,
    /// Wakes the connection watch (after set-up, login, or a failure seen
    /// by a request).
    kick: Notify,
    /// The connection as last reported, for a page that starts listening
    /// after the report went out.
    status: Mutex<Option<ConnectionStatus>>,
    rewrite: Mutex<RewriteState>,
    injections: Journal,
    uploads: Journal,
    rewrite_timing: Timing,
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
            settings_path,
            store,
            settings: Mutex::new(settings),
            api: RwLock::new(None),
            identity_fingerprint: Mutex::new(None),
            challenge: Mutex::new(None),
            asks: Mutex::new(HashMap::new()),
            next_ask: AtomicU32::new(1),
            kick: Notify::new(),
            status: Mutex::new(None),
            rewrite: Mutex::new(RewriteState::Closed),
            injections: Journal::new(config_dir.join("injections.log")),
            uploads: Journal::new(config_dir.join("uploads.log")),
            rewrite_timing: Timing::default(),
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

    /// The connection as the watch last saw it (`None` before its first
    /// probe).
    pub fn status(&self) -> Option<ConnectionStatus> {
        lock(&self.status).clone()
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

    /// Fetches the server's CA without trusting anything yet, for the user
    /// to compare its fingerprint with the one their administrator gave.
    pub async fn fetch_server_ca(&self, server_url: &str) -> Result<CaPreview, ClientError> {
        let server_url = Settings::validate_server_url(server_url)?;
        let pem = crate::api::fetch_ca_untrusted(&server_url).await?;
        let fingerprint = identity::ca_fingerprint(&pem).ok_or_else(|| {
            ClientError::Protocol("the server sent no certificate at /public/ca.pem".into())
        })?;
        Ok(CaPreview { pem, fingerprint })
    }

    /// Imports the certificate package and remembers the server, as the
    /// onboarding screen does; then checks the connection.
    pub async fn import_package(&self, request: ImportRequest) -> Result<Overview, ClientError> {
        let server_url = Settings::validate_server_url(&request.server_url)?;
        let password = request.password.as_deref().filter(|p| !p.is_empty());
        let identity = crate::setup::read_package_with_ca(
            Path::new(request.path.trim()),
            password,
            request.trusted_ca_pem.as_deref(),
        )?;
        // Check before keeping anything: a wrong server or a rejected
        // certificate should not replace a working set-up.
        let api = ApiClient::new(&server_url, &identity)?;
        api.check().await?;
        self.store.save_identity(&identity)?;
        self.update_settings(|s| s.server_url = Some(server_url.clone()))?;
        self.connect(&server_url, &identity)?;
        Ok(self.overview().await)
    }

    /// Is the server there and does it accept this computer's certificate?
    pub async fn check_connection(&self) -> Result<(), ClientError> {
        self.require_api()?.check().await
    }

    /// Forgets the server, certificate and session (back to onboarding).
    pub async fn reset(&self) -> Result<Overview, ClientError> {
        if let Some(api) = self.api() {
            // The server forgets the session too, if it can be reached.
            let _ = api.logout().await;
        }
        *self.api.write().unwrap_or_else(|p| p.into_inner()) = None;
        *lock(&self.identity_fingerprint) = None;
        self.store.forget_identity()?;
        self.store.delete_secret(REFRESH_SECRET)?;
        self.update_settings(|s| {
            s.server_url = None;
            s.username = None;
        })?;
        Ok(self.overview().await)
    }

    /// Username and password; the answer says a code is needed (and, on
    /// first login, how to set up the authenticator).
    pub async fn login(&self, username: &str, password: &str) -> Result<CodeNeeded, ClientError> {
        let username = username.trim();
        if username.is_empty() || password.is_empty() {
            return Err(ClientError::invalid("login", "enter your username and password"));
        }
        let challenge = self.require_api()?.login(username, Secret::new(password)).await?;
        let enrollment = challenge.enrollment.as_ref().map(|e| Enrollment {
            qr_svg: e.qr_svg.clone(),
            otpauth_uri: e.otpauth_uri.clone(),
            manual_key: manual_key(&e.otpauth_uri),
        });
        *lock(&self.challenge) = Some((username.to_owned(), challenge));
        Ok(CodeNeeded { enrollment })
    }

    /// The TOTP (or recovery) code for the login in progress.
    pub async fn verify(&self, code: &str) -> Result<LoggedIn, ClientError> {
        let (username, challenge) = lock(&self.challenge)
            .clone()
            .ok_or_else(|| ClientError::invalid("login", "enter your password first"))?;
        let recovery = self.require_api()?.verify(&challenge.challenge, code).await?;
        *lock(&self.challenge) = None;
        self.update_settings(|s| s.username = Some(username.clone()))?;
        self.kick.notify_one();
        Ok(LoggedIn {
            username,
            recovery_codes: recovery
                .unwrap_or_default()
                .into_iter()
                .map(|c| c.expose().to_owned())
                .collect(),
        })
    }

    pub async fn logout(&self) -> Result<Overview, ClientError> {
        for (_, ask) in lock(&self.asks).drain() {
            ask.abort();
        }
        let result = self.require_api()?.logout().await;
        self.kick.notify_one();
        match result {
            Ok(()) | Err(ClientError::ServerUnreachable) => Ok(self.overview().await),
            Err(error) => Err(error),
        }
    }

    pub async fn modes(&self) -> Result<Vec<ModeSummary>, ClientError> {
        let result = self.require_api()?.modes().await;
        self.notice(&result);
        result
    }

    /// Starts a question; events go to `sink` until the answer is done,
    /// fails or is stopped. Returns the id to stop it with.
    pub async fn ask<F>(
        self: &Arc<Self>,
        question: Question,
        image: Option<Attachment>,
        sink: F,
    ) -> Result<u32, ClientError>
    where
        F: Fn(ChatEvent) + Send + Sync + 'static,
    {
        Ok(self.start_ask(question, image, sink)?.0)
    }

    /// Like [`Desktop::ask`], but returns only once the server has accepted
    /// the question (its answer has begun), or with the reason it refused:
    /// for callers that must know whether their picture left.
    pub async fn ask_accepted<F>(
        self: &Arc<Self>,
        question: Question,
        image: Option<Attachment>,
        sink: F,
    ) -> Result<u32, ClientError>
    where
        F: Fn(ChatEvent) + Send + Sync + 'static,
    {
        let (id, accepted) = self.start_ask(question, image, sink)?;
        match accepted.await {
            Ok(result) => result.map(|()| id),
            // The task ended without a word: it was stopped.
            Err(_) => Err(ClientError::Io("the question was stopped".into())),
        }
    }

    fn start_ask<F>(
        self: &Arc<Self>,
        question: Question,
        image: Option<Attachment>,
        sink: F,
    ) -> Result<(u32, tokio::sync::oneshot::Receiver<Result<(), ClientError>>), ClientError>
    where
        F: Fn(ChatEvent) + Send + Sync + 'static,
    {
        let text = question.text.trim().to_owned();
        if text.is_empty() && image.is_none() {
            return Err(ClientError::invalid("question", "type a question first"));
        }
        if question.mode.is_empty() {
            return Err(ClientError::invalid("question", "choose a mode first"));
        }
        let api = self.require_api()?;
        let id = self.next_ask.fetch_add(1, Ordering::Relaxed);
        let desktop = self.clone();
        let (accept, accepted) = tokio::sync::oneshot::channel();
        // Held while the task is spawned and registered: the task removes
        // its entry when it ends, which must come after the insert.
        let mut asks = lock(&self.asks);
        let task = tokio::spawn(async move {
            let stream = api.analyze(image, &text, &question.mode).await;
            let _ = accept.send(stream.as_ref().map(|_| ()).map_err(Clone::clone));
            let result = forward(stream, &sink).await;
            desktop.notice(&result);
            lock(&desktop.asks).remove(&id);
            sink(ChatEvent::ending(result));
        });
        asks.insert(id, task.abort_handle());
        Ok((id, accepted))
    }

    /// Stops a running question: the request is dropped, which closes the
    /// stream and ends the work on the server. False if it had finished.
    pub fn stop(&self, id: u32) -> bool {
        match lock(&self.asks).remove(&id) {
            Some(task) => {
                task.abort();
                true
            }
            None => false,
        }
    }

    /// The open rewrite, for a page that starts after it was opened.
    pub fn rewrite_panel(&self) -> Option<RewritePanel> {
        match &*lock(&self.rewrite) {
            RewriteState::Open { panel, .. } => Some(panel.clone()),
            _ => None,
        }
    }

    /// The rewrite shortcut: records the focused window and reads its
    /// selection. While a rewrite is open (or being read) it starts
    /// nothing: a second press must never lead to a second injection.
    pub async fn begin_rewrite(&self, seat: Arc<dyn Seat>) -> Result<RewriteBegun, ClientError> {
        {
            let mut state = lock(&self.rewrite);
            match &*state {
                RewriteState::Closed => *state = RewriteState::Reading,
                RewriteState::Reading => return Ok(RewriteBegun::AlreadyOpen { panel: None }),
                RewriteState::Open { panel, .. } => {
                    return Ok(RewriteBegun::AlreadyOpen {
                        panel: Some(panel.clone()),
                    })
                }
            }
        }
        let timing = self.rewrite_timing;
        let read = tokio::task::spawn_blocking(move || rewrite::read_selection(seat.as_ref(), timing))
            .await
            .map_err(|e| ClientError::Injection(format!("reading the selection stopped: {e}")))
            .and_then(|result| result);
        let mut state = lock(&self.rewrite);
        match read {
            Ok(Selection { target, text }) => {
                let panel = RewritePanel {
                    id: self.next_ask.fetch_add(1, Ordering::Relaxed),
                    target,
                    original: text,
                };
                *state = RewriteState::Open {
                    panel: panel.clone(),
                    stream: None,
                    injecting: false,
                };
                Ok(RewriteBegun::Opened { panel })
            }
            Err(error) => {
                *state = RewriteState::Closed;
                Err(error)
            }
        }
    }

    /// Asks the server for a replacement of the panel's text; it streams to
    /// `sink`. A new request replaces one still running.
    pub fn rewrite<F>(self: &Arc<Self>, ask: RewriteAsk, sink: F) -> Result<(), ClientError>
    where
        F: Fn(ChatEvent) + Send + Sync + 'static,
    {
        if ask.text.trim().is_empty() {
            return Err(ClientError::invalid("rewrite", "there is no text to rewrite"));
        }
        if ask.text.len() > rewrite::MAX_TEXT_BYTES {
            return Err(ClientError::invalid(
                "rewrite",
                format!("the text is longer than {} KiB", rewrite::MAX_TEXT_BYTES / 1024),
            ));
        }
        if ask.mode.is_empty() {
            return Err(ClientError::invalid("rewrite", "choose a rewrite mode first"));
        }
        let api = self.require_api()?;
        let mut state = lock(&self.rewrite);
        let RewriteState::Open { panel, stream, .. } = &mut *state else {
            return Err(ClientError::invalid("rewrite", "this rewrite is closed"));
        };
        if panel.id != ask.id {
            return Err(ClientError::invalid("rewrite", "this rewrite is closed"));
        }
        panel.original = Some(ask.text.clone());
        if let Some(previous) = stream.take() {
            previous.abort();
        }
        let desktop = self.clone();
        let mode = ask.mode.clone();
        let instruction = ask.instruction.filter(|i| !i.trim().is_empty());
        let task = tokio::spawn(async move {
            let result = forward(
                api.rewrite(&ask.text, instruction.as_deref(), &ask.mode).await,
                &sink,
            )
            .await;
            desktop.notice(&result);
            sink(ChatEvent::ending(result));
        });
        *stream = Some(task.abort_handle());
        drop(state);
        // The request runs either way; only remembering the mode failed.
        if let Err(error) = self.update_settings(|s| s.rewrite.mode = Some(mode)) {
            tracing::warn!(%error, "the rewrite mode could not be remembered");
        }
        Ok(())
    }

    /// Puts the approved `replacement` into the target window — or types
    /// nothing and says why (the panel then stays open).
    pub async fn apply_rewrite(
        &self,
        seat: Arc<dyn Seat>,
        id: u32,
        replacement: String,
    ) -> Result<Injected, ClientError> {
        let settings = self.settings().rewrite;
        let chars = replacement.chars().count();
        if replacement.is_empty() {
            return Err(ClientError::invalid("replacement", "it is empty"));
        }
        if chars > settings.max_chars as usize {
            return Err(ClientError::invalid(
                "replacement",
                format!(
                    "it has {chars} characters; at most {} are typed (see Settings)",
                    settings.max_chars
                ),
            ));
        }
        let target = {
            let mut state = lock(&self.rewrite);
            match &mut *state {
                RewriteState::Open { panel, injecting, .. } if panel.id == id => {
                    if *injecting {
                        return Err(ClientError::invalid("rewrite", "it is being applied already"));
                    }
                    *injecting = true;
                    panel.target.clone()
                }
                _ => return Err(ClientError::invalid("rewrite", "this rewrite is closed")),
            }
        };
        let timing = self.rewrite_timing;
        let type_limit = settings.type_limit as usize;
        let injected_target = target.clone();
        let result = tokio::task::spawn_blocking(move || {
            rewrite::inject(seat.as_ref(), &injected_target, &replacement, type_limit, timing)
        })
        .await
        .map_err(|e| ClientError::Injection(format!("typing stopped: {e}")))
        .and_then(|result| result);
        {
            let mut state = lock(&self.rewrite);
            if let RewriteState::Open { injecting, .. } = &mut *state {
                *injecting = false;
            }
            if result.is_ok() {
                *state = RewriteState::Closed;
            }
        }
        let entry = InjectionEntry {
            at: unix_now(),
            app: target.app.clone(),
            chars: u32::try_from(chars).unwrap_or(u32::MAX),
            method: result.as_ref().ok().map(|injected| injected.method),
            outcome: match &result {
                Ok(Injected {
                    method: Method::Type, ..
                }) => "typed".into(),
                Ok(Injected {
                    method: Method::Paste,
                    ..
                }) => "pasted".into(),
                // Not the message: it names windows, whose titles are
                // content the log must not keep.
                Err(_) => "nothing typed".into(),
            },
        };
        if let Err(error) = self.injections.append(&entry) {
            tracing::warn!(%error, "the injection log could not be written");
        }
        result
    }

    /// Closes the rewrite without typing anything.
    pub fn cancel_rewrite(&self, id: u32) -> bool {
        let mut state = lock(&self.rewrite);
        match &*state {
            RewriteState::Open {
                panel,
                stream,
                injecting: false,
            } if panel.id == id => {
                if let Some(stream) = stream {
                    stream.abort();
                }
                *state = RewriteState::Closed;
                true
            }
            _ => false,
        }
    }

    /// The newest entries of the injection log, newest first.
    pub fn injection_log(&self, limit: usize) -> Result<Vec<InjectionEntry>, ClientError> {
        self.injections.recent(limit)
    }

    /// Notes a picture sent by screen awareness in the upload log.
    pub fn record_upload(&self, entry: &crate::ambient::watch::UploadEntry) {
        if let Err(error) = self.uploads.append(entry) {
            tracing::warn!(%error, "the upload log could not be written");
        }
    }

    /// The newest entries of the upload log, newest first.
    pub fn upload_log(&self, limit: usize) -> Result<Vec<crate::ambient::watch::UploadEntry>, ClientError> {
        self.uploads.recent(limit)
    }

    /// A request that failed on the connection wakes the watch at once.
    fn notice<T>(&self, result: &Result<T, ClientError>) {
        if let Err(error) = result {
            if ConnectionStatus::after(error).0 != ConnectionStatus::Connected {
                self.kick.notify_one();
            }
        }
    }

    /// Reports the connection status for as long as the app runs: probes
    /// with backoff while the server is away, and waits for a kick (set-up,
    /// login, a failed request) when retrying cannot help.
    pub async fn watch_connection<R>(self: Arc<Self>, report: R)
    where
        R: Fn(&ConnectionStatus) + Send + Sync,
    {
        // Only changes are reported; the latest is kept for `status()`.
        let report = |status: &ConnectionStatus| {
            let changed = {
                let mut last = lock(&self.status);
                let changed = last.as_ref() != Some(status);
                *last = Some(status.clone());
                changed
            };
            if changed {
                report(status);
            }
        };
        let kick = &self.kick;
        loop {
            let ended = status::watch(
                || async {
                    let api = self.require_api()?;
                    if api.logged_in().await {
                        api.me().await.map(|_| ())
                    } else {
                        api.check().await?;
                        Err(ClientError::LoginNeeded)
                    }
                },
                move |delay| async move {
                    // A kick cuts the wait short (the user just logged in).
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = kick.notified() => {}
                    }
                    true
                },
                report,
                HEALTHY_INTERVAL,
            )
            .await;
            tracing::debug!(?ended, "connection watch waits for a change");
            self.kick.notified().await;
        }
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

/// The base32 secret out of an `otpauth://` URI, in groups of four.
fn manual_key(uri: &str) -> String {
    let secret = uri
        .split_once('?')
        .map(|(_, query)| query)
        .unwrap_or_default()
        .split('&')
        .find_map(|pair| pair.strip_prefix("secret="))
        .unwrap_or_default();
    secret
        .as_bytes()
        .chunks(4)
        .map(|chunk| String::from_utf8_lossy(chunk).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_key_is_grouped() {
        assert_eq!(
            manual_key("otpauth://totp/Sightline:ann?secret=JBSWY3DPEHPK3PXP&issuer=Sightline"),
            "JBSW Y3DP EHPK 3PXP"
        );
        assert_eq!(manual_key("otpauth://totp/x"), "");
    }

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
        let question = Question {
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

    #[tokio::test]
    async fn one_rewrite_at_a_time_and_only_approved_text_is_typed() {
        use crate::rewrite::tests::{window, FakeSeat};
        let dir = tempfile::tempdir().unwrap();
        let desktop = Desktop::open(dir.path(), false).await.unwrap();
        let mut fake = FakeSeat::focused_on(window(7, "gedit"));
        fake.selection = Some("teh text".into());
        let seat = Arc::new(fake);

        let RewriteBegun::Opened { panel } = desktop.begin_rewrite(seat.clone()).await.unwrap() else {
            panic!("not opened");
        };
        assert_eq!(panel.original.as_deref(), Some("teh text"));
        // A second press while it is open starts nothing and copies nothing.
        let copies = seat.log.lock().unwrap().len();
        assert!(matches!(
            desktop.begin_rewrite(seat.clone()).await.unwrap(),
            RewriteBegun::AlreadyOpen { panel: Some(_) }
        ));
        assert_eq!(seat.log.lock().unwrap().len(), copies);

        // Too long for the limit: refused before anything is typed.
        desktop.update_settings(|s| s.rewrite.max_chars = 5).unwrap();
        assert!(desktop
            .apply_rewrite(seat.clone(), panel.id, "the text".into())
            .await
            .is_err());
        desktop.update_settings(|s| s.rewrite.max_chars = 100).unwrap();

        let injected = desktop
            .apply_rewrite(seat.clone(), panel.id, "the text".into())
            .await
            .unwrap();
        assert_eq!(injected.method, Method::Type);
        assert_eq!(seat.typed(), vec!["type:the text"]);
        // Applied once: the rewrite is closed and cannot be applied again.
        assert!(desktop
            .apply_rewrite(seat.clone(), panel.id, "the text".into())
            .await
            .is_err());
        assert_eq!(seat.typed().len(), 1);

        // Cancel types nothing.
        let RewriteBegun::Opened { panel } = desktop.begin_rewrite(seat.clone()).await.unwrap() else {
            panic!("not opened");
        };
        assert!(desktop.cancel_rewrite(panel.id));
        assert!(desktop.rewrite_panel().is_none());
        assert_eq!(seat.typed().len(), 1);

        // The log says where and how much, never what.
        let log = desktop.injection_log(10).unwrap();
        assert_eq!(log.len(), 1);
        assert_eq!(
            (log[0].app.as_str(), log[0].chars, log[0].outcome.as_str()),
            ("gedit", 8, "typed")
        );
        let text = std::fs::read_to_string(dir.path().join("injections.log")).unwrap();
        assert!(!text.contains("the text"), "{text}");
    }
}
