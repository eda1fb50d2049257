//! Ambient awareness at work: one thread owns the [`Scheduler`], hears the
//! user's activity (keys and clicks through `rdev`, focus changes from the
//! seat) and sleeps until the scheduler's next wake-up, so a static screen
//! without activity costs one grab and a thumbnail per cooldown and nothing
//! in between.
//!
//! [`LiveEnv`] is the scheduler's view of the real desktop: the gate asks
//! the seat which window has the focus *before* anything is grabbed (an
//! excluded one means no look at all); a look grabs the primary monitor
//! with the app's own windows and any excluded window still on screen
//! blanked; a send
//! encodes that frame, writes the upload log and streams the insight to the
//! shell, which shows it in the sidebar's feed.

use super::{Activity, AmbientEnv, AmbientSettings, Gate, Outcome, Scheduler, Trigger};
use crate::api::Attachment;
use crate::capture::change::Thumbnail;
use crate::capture::geometry::PixelRect;
use crate::capture::{self, Encoding, Frame};
use crate::desktop::{ChatEvent, Desktop, Question};
use crate::error::ClientError;
use crate::seat::{Seat, WindowRef};
use crate::status::ConnectionStatus;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What is sent with each picture, as the user's words.
const AMBIENT_CONTEXT: &str = "This is my screen right now, sent by Sightline's screen awareness. \
If something on it is worth a short tip, a warning or a shortcut, say so in a few sentences; \
otherwise answer in one sentence what you see me working on.";

/// What the sidebar shows about ambient awareness.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(tag = "state", content = "reason", rename_all = "snake_case")]
pub enum Indicator {
    Off,
    /// On, and allowed to look.
    Watching,
    Paused,
    Locked,
    /// Not looking while an excluded application or window has the focus.
    Excluded(String),
    Unavailable(String),
}

impl Indicator {
    /// In words, for messages.
    pub fn describe(&self) -> String {
        match self {
            Self::Off => "screen awareness is off".into(),
            Self::Watching => "watching".into(),
            Self::Paused => "paused".into(),
            Self::Locked => "the screen is locked".into(),
            Self::Excluded(rule) => format!("a window matching “{rule}” has the focus"),
            Self::Unavailable(why) => why.clone(),
        }
    }
}

impl From<&Gate> for Indicator {
    fn from(gate: &Gate) -> Self {
        match gate {
            Gate::Open => Self::Watching,
            Gate::Paused => Self::Paused,
            Gate::Locked => Self::Locked,
            Gate::Excluded(rule) => Self::Excluded(rule.clone()),
            Gate::Unavailable(why) => Self::Unavailable(why.clone()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct AmbientStatus {
    pub indicator: Indicator,
    /// Paused by the user (also while off or not looking for another reason).
    pub paused: bool,
    /// Pictures sent since the app started.
    pub uploads: u32,
    /// The last look or send that failed, until one succeeds.
    pub problem: Option<ClientError>,
}

/// An insight in the sidebar's feed.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Insight {
    /// The answer's id (dismissing a running insight stops it).
    pub id: u32,
    /// Seconds since the Unix epoch.
    pub at: u64,
    pub mode: String,
    pub trigger: Trigger,
}

/// One line of the upload log: what left the computer, never the image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct UploadEntry {
    /// Seconds since the Unix epoch.
    pub at: u64,
    pub trigger: Trigger,
    pub mode: String,
    pub bytes: u32,
    /// SHA-256 of the uploaded file, hex.
    pub sha256: String,
}

/// What the watch needs from the app's shell.
pub trait AmbientShell: Send + Sync {
    /// The app's own windows on screen, in desktop pixels: blanked in
    /// every look, so the app never sends itself.
    fn own_windows(&self) -> Result<Vec<PixelRect>, ClientError>;
    /// Something of ours covers the screen (the region overlay): no looks.
    fn covering(&self) -> bool;
    fn status(&self, status: &AmbientStatus);
    /// An insight: `None` when it begins, then its answer as it streams.
    fn insight(&self, insight: &Insight, event: Option<ChatEvent>);
}

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
}

impl std::fmt::Debug for AmbientWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AmbientWatch")
            .field("paused", &self.paused.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

impl AmbientWatch {
    /// Starts the watch thread with the settings in `desktop`.
    pub fn start(
        desktop: Arc<Desktop>,
        seat: Option<Arc<dyn Seat>>,
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

    /// Keys and clicks anywhere on the desktop, from the first time
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
            Outcome::Gated(gate) => board.update(|status| status.indicator = Indicator::from(&gate)),
            Outcome::Sent { trigger, difference } => {
                tracing::info!(?trigger, difference, "the screen changed; sent");
                board.update(|status| {
                    status.indicator = Indicator::Watching;
                    status.uploads += 1;
                    status.problem = None;
                });
            }
            Outcome::Failed(error) => {
                tracing::warn!(%error, "screen awareness could not look or send");
                board.update(|status| {
                    status.indicator = Indicator::Watching;
                    status.problem = Some(error);
                });
            }
            Outcome::CoolingDown | Outcome::Baseline | Outcome::Unchanged(_) => {
                board.update(|status| status.indicator = Indicator::Watching);
            }
        }
        // The last look's pixels are not kept past the tick unless they
        // are the reference for a send that has not happened.
        if let Some(frame) = env.frame.take() {
            capture::recycle(frame);
        }
    }
}

/// The real desktop and server, as the scheduler sees them.
struct LiveEnv {
    desktop: Arc<Desktop>,
    seat: Option<Arc<dyn Seat>>,
    shell: Arc<dyn AmbientShell>,
    paused: Arc<AtomicBool>,
    runtime: tokio::runtime::Handle,
    settings: AmbientSettings,
    /// The frame the last look grabbed, for the send that may follow.
    frame: Option<Frame>,
}

impl LiveEnv {
    fn mode(&self) -> Option<String> {
        self.settings
            .mode
            .clone()
            .or_else(|| self.desktop.settings().mode)
            .filter(|mode| !mode.is_empty())
    }
}

impl AmbientEnv for LiveEnv {
    fn gate(&mut self) -> Gate {
        if self.paused.load(Ordering::SeqCst) {
            return Gate::Paused;
        }
        if self.shell.covering() {
            return Gate::Unavailable("a region is being selected".into());
        }
        let Some(seat) = &self.seat else {
            return Gate::Unavailable(
                "the focused window cannot be told in this session, so exclusions could not be honoured"
                    .into(),
            );
        };
        if seat.screen_locked() {
            return Gate::Locked;
        }
        let focused = match seat.active_window() {
            Ok(focused) => focused,
            Err(error) => return Gate::Unavailable(error.to_string()),
        };
        // The sidebar itself is never looked at; with it focused, the
        // window the user came from is the one that matters.
        let focused = match focused {
            Some(window) if seat.is_own(&window) => seat.last_foreign_window(),
            other => other,
        };
        if let Some(rule) = focused.as_ref().and_then(|window| self.settings.excludes(window)) {
            return Gate::Excluded(rule);
        }
        // Nothing could be sent: not worth a grab.
        match self.desktop.status() {
            Some(ConnectionStatus::Connected) => {}
            Some(status) => return Gate::Unavailable(status.describe()),
            None => return Gate::Unavailable("connecting to the server".into()),
        }
        if self.mode().is_none() {
            return Gate::Unavailable("choose a mode for screen awareness in Settings".into());
        }
        Gate::Open
    }

    fn look(&mut self) -> Result<Thumbnail, ClientError> {
        // Excluded windows that are on screen without the focus are
        // blanked like our own: found before the grab, painted over before
        // the frame is compared or encoded.
        let mut blanked = self.shell.own_windows()?;
        if let Some(seat) = &self.seat {
            blanked.extend(
                seat.visible_windows()?
                    .into_iter()
                    .filter(|(window, _)| !seat.is_own(window) && self.settings.excludes(window).is_some())
                    .map(|(_, rect)| rect),
            );
        }
        tracing::debug!(?blanked, "looking at the screen");
        let monitors = capture::monitors()?;
        let primary = monitors
            .iter()
            .find(|monitor| monitor.primary)
            .ok_or_else(|| ClientError::Capture("no monitor found".into()))?;
        let mut frame = capture::capture_monitor(primary)?;
        for own in blanked {
            if let Some(rect) = own.intersect(&primary.bounds) {
                frame.fill(
                    &rect.relative_to(primary.bounds.x, primary.bounds.y),
                    [32, 32, 32, 255],
                );
            }
        }
        let thumbnail = frame
            .thumbnail()
            .ok_or_else(|| ClientError::Capture("the captured frame is empty".into()))?;
        if let Some(old) = self.frame.replace(frame) {
            capture::recycle(old);
        }
        Ok(thumbnail)
    }

    fn send(&mut self, trigger: Trigger) -> Result<(), ClientError> {
        // The gate again, now that the frame is grabbed: the focus may have
        // moved to an excluded window (or the user paused) meanwhile.
        let gate = self.gate();
        if gate != Gate::Open {
            self.discard_frame();
            return Err(ClientError::Capture(format!(
                "not sent: {}",
                Indicator::from(&gate).describe()
            )));
        }
        let focused = capture::active_window().ok().flatten();
        if let Some(rule) = focused.as_ref().and_then(|window| {
            self.settings.excludes(&WindowRef {
                id: 0,
                pid: window.pid,
                app: window.app.clone(),
                title: window.title.clone(),
            })
        }) {
            self.discard_frame();
            return Err(ClientError::Capture(format!(
                "not sent: a window matching “{rule}” has the focus"
            )));
        }
        let mode = self
            .mode()
            .ok_or_else(|| ClientError::invalid("mode", "choose a mode for screen awareness"))?;
        let frame = self
            .frame
            .as_ref()
            .ok_or_else(|| ClientError::Capture("nothing was grabbed".into()))?;
        let options = self.desktop.settings().capture;
        let attachment = capture::encode(
            frame,
            options.max_side,
            Encoding::Jpeg {
                quality: options.jpeg_quality,
            },
        )?;
        let entry = upload_entry(&attachment, trigger, &mode);
        let question = Question {
            text: context(focused.as_ref()),
            mode: mode.clone(),
        };
        let feed = Arc::new(Mutex::new(Feed {
            shell: self.shell.clone(),
            insight: None,
            early: Vec::new(),
        }));
        let sink = {
            let feed = feed.clone();
            move |event: ChatEvent| feed.lock().unwrap_or_else(|p| p.into_inner()).pass(event)
        };
        // Counted, logged and announced only once the server has taken the
        // picture: one that never left is not an upload.
        let id = self
            .runtime
            .block_on(self.desktop.ask_accepted(question, Some(attachment), sink))?;
        self.desktop.record_upload(&entry);
        feed.lock().unwrap_or_else(|p| p.into_inner()).announce(Insight {
            id,
            at: entry.at,
            mode,
            trigger,
        });
        Ok(())
    }
}

impl LiveEnv {
    fn discard_frame(&mut self) {
        if let Some(frame) = self.frame.take() {
            capture::recycle(frame);
        }
    }
}

/// One insight's way to the shell: what streams in before it is announced
/// waits, so the feed gets the insight first and its text in order.
struct Feed {
    shell: Arc<dyn AmbientShell>,
    insight: Option<Insight>,
    early: Vec<ChatEvent>,
}

impl Feed {
    fn pass(&mut self, event: ChatEvent) {
        match &self.insight {
            Some(insight) => self.shell.insight(insight, Some(event)),
            None => self.early.push(event),
        }
    }

    fn announce(&mut self, insight: Insight) {
        self.shell.insight(&insight, None);
        for event in std::mem::take(&mut self.early) {
            self.shell.insight(&insight, Some(event));
        }
        self.insight = Some(insight);
    }
}

/// The words that go with the picture: what it is, and which window the
/// user is in (the gate has already ruled out excluded ones; our own
/// sidebar is not worth naming).
fn context(focused: Option<&capture::ActiveWindow>) -> String {
    match focused.filter(|window| window.pid != Some(std::process::id()) && !window.title.trim().is_empty()) {
        Some(window) if window.app.trim().is_empty() => {
            format!(
                "{AMBIENT_CONTEXT} The focused window is “{}”.",
                window.title.trim()
            )
        }
        Some(window) => format!(
            "{AMBIENT_CONTEXT} The focused window is “{}” ({}).",
            window.title.trim(),
            window.app.trim()
        ),
        None => AMBIENT_CONTEXT.to_owned(),
    }
}

fn upload_entry(attachment: &Attachment, trigger: Trigger, mode: &str) -> UploadEntry {
    let digest = ring::digest::digest(&ring::digest::SHA256, &attachment.bytes);
    UploadEntry {
        at: now_secs(),
        trigger,
        mode: mode.to_owned(),
        bytes: u32::try_from(attachment.bytes.len()).unwrap_or(u32::MAX),
        sha256: data_encoding::HEXLOWER.encode(digest.as_ref()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_upload_log_names_the_file_not_its_pixels() {
        let attachment = Attachment {
            bytes: bytes::Bytes::from_static(b"abc"),
            file_name: "screen.jpg".into(),
            mime: "image/jpeg",
        };
        let entry = upload_entry(&attachment, Trigger::Click, "describe");
        assert_eq!(entry.bytes, 3);
        assert_eq!(
            entry.sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let line = serde_json::to_string(&entry).unwrap();
        assert!(line.contains("\"trigger\":\"click\""), "{line}");
    }

    #[test]
    fn the_focused_window_is_named_unless_it_is_ours() {
        let window = |pid: u32| capture::ActiveWindow {
            pid: Some(pid),
            app: "gedit".into(),
            title: "Notes".into(),
            bounds: PixelRect {
                x: 0,
                y: 0,
                width: 10,
                height: 10,
            },
        };
        assert!(context(Some(&window(1))).ends_with("The focused window is “Notes” (gedit)."));
        assert_eq!(context(Some(&window(std::process::id()))), AMBIENT_CONTEXT);
        assert_eq!(context(None), AMBIENT_CONTEXT);
    }

    #[test]
    fn the_indicator_follows_the_gate() {
        assert_eq!(Indicator::from(&Gate::Open), Indicator::Watching);
        assert_eq!(
            Indicator::from(&Gate::Excluded("keepassxc".into())),
            Indicator::Excluded("keepassxc".into())
        );
    }
}
