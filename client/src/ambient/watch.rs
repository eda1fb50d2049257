//! Ambient awareness at work: one thread owns the [`Scheduler`], hears the
//! user's activity (keys and clicks through `rdev`, focus changes from the
//! seat) and sleeps until the scheduler's next wake-up, so a static screen
//! without activity costs one grab and a thumbnail per cooldown and nothing
//! in between. What a look and a send do is in `live`.

use super::live::LiveEnv;
use super::scheduler::{Activity, AmbientEnv, Gate, Outcome, Scheduler};
use super::settings::AmbientSettings;
use super::shell::{AmbientShell, AmbientStatus, Indicator};
use super::uploads::UploadEntry;
use crate::desktop::Desktop;
use crate::error::ClientError;
use crate::platform::Screens;
use crate::seat::Windows;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

enum Message {
    Activity(Activity),
    Settings(AmbientSettings),
    /// Something the gate depends on changed (pause, the connection).
    Refresh,
}

/// The running watch; its thread lives as long as the app.
pub struct AmbientWatch {
    sender: Mutex<mpsc::Sender<Message>>,
    paused: Arc<AtomicBool>,
    /// Read by the input listener so that, while off, it drops events at once.
    enabled: Arc<AtomicBool>,
    listening: std::sync::Once,
    desktop: Arc<Desktop>,
}

impl std::fmt::Debug for AmbientWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AmbientWatch")
            .field("paused", &self.paused.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl AmbientWatch {
    /// Starts the watch thread with the settings in `desktop`.
    pub fn start(
        desktop: Arc<Desktop>,
        seat: Option<Arc<dyn Windows>>,
        screens: Arc<dyn Screens>,
        shell: Arc<dyn AmbientShell>,
        runtime: tokio::runtime::Handle,
    ) -> Result<Arc<Self>, ClientError> {
        let (sender, receiver) = mpsc::channel();
        let settings = desktop.settings().ambient;
        let watch = Arc::new(Self {
            sender: Mutex::new(sender),
            paused: Arc::new(AtomicBool::new(false)),
            enabled: Arc::new(AtomicBool::new(settings.enabled)),
            listening: std::sync::Once::new(),
            desktop: desktop.clone(),
        });
        if let Some(seat) = &seat {
            let sender = watch.sender();
            let enabled = watch.enabled.clone();
            seat.on_focus_change(Box::new(move || {
                if enabled.load(Ordering::Relaxed) {
                    let _ = sender.send(Message::Activity(Activity::WindowChanged));
                }
            }));
        }
        let env = LiveEnv {
            desktop,
            seat,
            screens,
            shell: shell.clone(),
            paused: watch.paused.clone(),
            runtime,
            settings: settings.clone(),
            frame: None,
        };
        std::thread::Builder::new()
            .name("ambient".into())
            .spawn(move || run(receiver, env, shell, settings))
            .map_err(|e| ClientError::Io(format!("the ambient watch could not start: {e}")))?;
        if watch.enabled.load(Ordering::Relaxed) {
            watch.listen_for_activity();
        }
        Ok(watch)
    }

    fn sender(&self) -> mpsc::Sender<Message> {
        self.sender.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn tell(&self, message: Message) {
        // The thread only ends with the process; a failed send means it
        // died, which its own log line explains.
        let _ = self.sender().send(message);
    }

    /// New settings (turned on or off, cooldown, exclusions, mode).
    pub fn set_settings(&self, settings: AmbientSettings) {
        self.enabled.store(settings.enabled, Ordering::Relaxed);
        if settings.enabled {
            self.listen_for_activity();
        }
        self.tell(Message::Settings(settings));
    }

    pub fn set_paused(&self, paused: bool) {
        self.paused.store(paused, Ordering::SeqCst);
        self.refresh();
    }

    /// Pauses or resumes; returns the new state.
    pub fn toggle_paused(&self) -> bool {
        let paused = !self.paused.fetch_xor(true, Ordering::SeqCst);
        self.refresh();
        paused
    }

    /// Asks the gate again now, for the indicator (the connection came or
    /// went): nothing is grabbed.
    pub fn refresh(&self) {
        self.tell(Message::Refresh);
    }

    /// The newest entries of the upload log, newest first.
    pub fn upload_log(&self, limit: usize) -> Result<Vec<UploadEntry>, ClientError> {
        self.desktop.uploads().recent(limit)
    }

    /// Keys and clicks anywhere in the user's session, from the first time
    /// ambient awareness is on (the listener cannot be stopped, so it is
    /// not started for users who never turn it on).
    fn listen_for_activity(&self) {
        let sender = self.sender();
        let enabled = self.enabled.clone();
        self.listening.call_once(move || {
            let spawned = std::thread::Builder::new()
                .name("ambient-input".into())
                .spawn(move || {
                    let result = rdev::listen(move |event| {
                        if !enabled.load(Ordering::Relaxed) {
                            return;
                        }
                        let activity = match event.event_type {
                            rdev::EventType::KeyPress(_) => Activity::Key,
                            rdev::EventType::ButtonPress(_) => Activity::Click,
                            _ => return,
                        };
                        let _ = sender.send(Message::Activity(activity));
                    });
                    if let Err(error) = result {
                        tracing::warn!(
                            ?error,
                            "keys and clicks cannot be followed; the timer alone triggers looks"
                        );
                    }
                });
            if let Err(error) = spawned {
                tracing::warn!(%error, "the input listener could not start");
            }
        });
    }
}

/// The status as last reported; reports only what changed.
struct Board {
    shell: Arc<dyn AmbientShell>,
    status: AmbientStatus,
}

impl Board {
    fn update(&mut self, change: impl FnOnce(&mut AmbientStatus)) {
        let mut next = self.status.clone();
        change(&mut next);
        if next != self.status {
            self.status = next;
            self.shell.status(&self.status);
        }
    }
}

/// What the indicator shows between looks: off, or what the gate says now
/// (asking it grabs nothing).
fn current(scheduler: &Scheduler, env: &mut LiveEnv) -> Indicator {
    if scheduler.settings().enabled {
        Indicator::from(&env.gate())
    } else {
        Indicator::Off
    }
}

/// The watch thread: waits for a message or the scheduler's next wake-up.
fn run(
    receiver: mpsc::Receiver<Message>,
    mut env: LiveEnv,
    shell: Arc<dyn AmbientShell>,
    settings: AmbientSettings,
) {
    let mut scheduler = Scheduler::new(settings, Instant::now());
    let mut last_gate: Option<Gate> = None;
    let mut last_failure: Option<ClientError> = None;
    let mut board = Board {
        shell: shell.clone(),
        status: AmbientStatus {
            indicator: current(&scheduler, &mut env),
            paused: env.paused.load(Ordering::SeqCst),
            uploads: 0,
            problem: None,
        },
    };
    shell.status(&board.status);
    loop {
        let wait = if scheduler.settings().enabled {
            scheduler.next_wake().saturating_duration_since(Instant::now())
        } else {
            // Off: nothing to do until a message comes.
            Duration::from_secs(3600)
        };
        match receiver.recv_timeout(wait) {
            Ok(Message::Activity(activity)) => {
                if scheduler.settings().enabled {
                    scheduler.on_activity(activity, Instant::now());
                }
            }
            Ok(Message::Settings(settings)) => {
                env.settings = settings.clone();
                scheduler.set_settings(settings, Instant::now());
                let indicator = current(&scheduler, &mut env);
                board.update(|status| {
                    status.indicator = indicator;
                    status.problem = None;
                });
            }
            Ok(Message::Refresh) => {
                let indicator = current(&scheduler, &mut env);
                let paused = env.paused.load(Ordering::SeqCst);
                board.update(|status| {
                    status.indicator = indicator;
                    status.paused = paused;
                });
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        }
        let now = Instant::now();
        if !scheduler.settings().enabled || scheduler.next_wake() > now {
            continue;
        }
        match scheduler.tick(now, &mut env) {
            Outcome::Idle => {}
            Outcome::Gated(gate) => {
                // Once per change of reason, so the log says why nothing
                // was looked at without repeating it every tick.
                if last_gate.as_ref() != Some(&gate) {
                    tracing::info!(reason = %Indicator::from(&gate).describe(), "ambient awareness is not looking");
                    last_gate = Some(gate.clone());
                }
                board.update(|status| status.indicator = Indicator::from(&gate));
            }
            Outcome::Sent { trigger, difference } => {
                last_gate = None;
                last_failure = None;
                tracing::info!(?trigger, difference, "the screen changed; sent");
                board.update(|status| {
                    status.indicator = Indicator::Watching;
                    status.uploads += 1;
                    status.problem = None;
                });
            }
            Outcome::Failed(error) => {
                // Once per kind of failure: a refused screen share fails
                // every tick until the user answers.
                if last_failure.as_ref() != Some(&error) {
                    tracing::warn!(%error, "ambient awareness could not look or send");
                    last_failure = Some(error.clone());
                }
                board.update(|status| {
                    status.indicator = Indicator::Watching;
                    status.problem = Some(error);
                });
            }
            Outcome::CoolingDown | Outcome::Baseline | Outcome::Unchanged(_) => {
                last_gate = None;
                last_failure = None;
                board.update(|status| status.indicator = Indicator::Watching);
            }
        }
        env.discard_frame();
    }
}
