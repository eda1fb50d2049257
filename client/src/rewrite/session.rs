//! One rewrite at a time: the state behind the rewrite panel, from the
//! shortcut (the selection is read) through the streamed proposal to Apply
//! (typed or pasted once) or Cancel (nothing typed). A second shortcut
//! press while a rewrite is open reads nothing, and an applying rewrite
//! cannot be applied again. Every Apply, typed or not, goes to the
//! injection log — when, which application, how many characters; never
//! the text.

use super::{inject, read_selection, Injected, Method, Selection, Timing, MAX_TEXT_BYTES};
use crate::error::ClientError;
use crate::journal::{self, Journal};
use crate::seat::{Seat, WindowRef};
use crate::settings::RewriteSettings;
use serde::Serialize;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

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

impl RewriteAsk {
    /// Refuses what the server would refuse, before anything is sent.
    pub fn validate(&self) -> Result<(), ClientError> {
        if self.text.trim().is_empty() {
            return Err(ClientError::invalid("rewrite", "there is no text to rewrite"));
        }
        if self.text.len() > MAX_TEXT_BYTES {
            return Err(ClientError::invalid(
                "rewrite",
                format!("the text is longer than {} KiB", MAX_TEXT_BYTES / 1024),
            ));
        }
        if self.mode.is_empty() {
            return Err(ClientError::invalid("rewrite", "choose a rewrite mode first"));
        }
        Ok(())
    }
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

/// The open rewrite (if any) and the injection log.
pub struct RewriteSession {
    state: Mutex<RewriteState>,
    injections: Journal,
    timing: Timing,
}

impl std::fmt::Debug for RewriteSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RewriteSession")
            .field("injections", &self.injections.path())
            .finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl RewriteSession {
    /// No rewrite open; Apply is logged to `injection_log`.
    pub fn new(injection_log: PathBuf) -> Self {
        Self {
            state: Mutex::new(RewriteState::Closed),
            injections: Journal::new(injection_log),
            timing: Timing::default(),
        }
    }

    /// The open rewrite, for a page that starts after it was opened.
    pub fn panel(&self) -> Option<RewritePanel> {
        match &*lock(&self.state) {
            RewriteState::Open { panel, .. } => Some(panel.clone()),
            _ => None,
        }
    }

    /// The rewrite shortcut: records the focused window and reads its
    /// selection; the panel gets the id `next_id` gives. While a rewrite is
    /// open (or being read) it starts nothing: a second press must never
    /// lead to a second injection.
    pub async fn begin(
        &self,
        seat: Arc<dyn Seat>,
        next_id: impl FnOnce() -> u32,
    ) -> Result<RewriteBegun, ClientError> {
        {
            let mut state = lock(&self.state);
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
        let timing = self.timing;
        let read = tokio::task::spawn_blocking(move || read_selection(seat.as_ref(), timing))
            .await
            .map_err(|e| ClientError::Injection(format!("reading the selection stopped: {e}")))
            .and_then(|result| result);
        let mut state = lock(&self.state);
        match read {
            Ok(Selection { target, text }) => {
                let panel = RewritePanel {
                    id: next_id(),
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

    /// Starts the request for a replacement of the open panel's text with
    /// `start`, which returns the handle that stops it; a request still
    /// running is stopped first. The panel keeps `ask.text` as its
    /// original from now on.
    pub fn stream(
        &self,
        ask: RewriteAsk,
        start: impl FnOnce(RewriteAsk) -> tokio::task::AbortHandle,
    ) -> Result<(), ClientError> {
        let mut state = lock(&self.state);
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
        *stream = Some(start(ask));
        Ok(())
    }

    /// Puts the approved `replacement` into the target window — or types
    /// nothing and says why (the panel then stays open).
    pub async fn apply(
        &self,
        seat: Arc<dyn Seat>,
        id: u32,
        replacement: String,
        settings: &RewriteSettings,
    ) -> Result<Injected, ClientError> {
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
            let mut state = lock(&self.state);
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
        let timing = self.timing;
        let type_limit = settings.type_limit as usize;
        let injected_target = target.clone();
        let result = tokio::task::spawn_blocking(move || {
            inject(seat.as_ref(), &injected_target, &replacement, type_limit, timing)
        })
        .await
        .map_err(|e| ClientError::Injection(format!("typing stopped: {e}")))
        .and_then(|result| result);
        {
            let mut state = lock(&self.state);
            if let RewriteState::Open { injecting, .. } = &mut *state {
                *injecting = false;
            }
            if result.is_ok() {
                *state = RewriteState::Closed;
            }
        }
        let entry = InjectionEntry {
            at: journal::unix_now(),
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
        tracing::info!(outcome = %entry.outcome, chars = entry.chars, "rewrite applied");
        if let Err(error) = self.injections.append(&entry) {
            tracing::warn!(%error, "the injection log could not be written");
        }
        result
    }

    /// Closes the rewrite without typing anything.
    pub fn cancel(&self, id: u32) -> bool {
        let mut state = lock(&self.state);
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
}
