//! Ambient awareness: when to look at the screen, and when to send it.
//!
//! The [`Scheduler`] is a pure state machine over a clock the caller gives
//! (so tests control time). Moments to consider a capture come from
//! activity (a pause after typing, a click, another window getting the
//! focus) and from the cooldown timer. At each one, in this order:
//! 1. the privacy gate — paused, screen locked, an excluded application or
//!    window title focused — decides *before any pixel is grabbed*;
//! 2. at most one upload per cooldown: too soon, and the moment waits for
//!    the cooldown's end;
//! 3. a cheap change check (a 64×36 grayscale thumbnail of the frame)
//!    against the last frame sent: below the threshold nothing is sent.
//!    The first look after ambient awareness is turned on only sets that
//!    reference: it is changes that are worth a word, not the screen the
//!    user was already looking at.
//!
//! With no activity, the timer's check of a static screen costs one grab
//! and a thumbnail per cooldown.

pub mod watch;

use crate::capture::change::Thumbnail;
use crate::error::ClientError;
use crate::seat::WindowRef;
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

pub const MIN_COOLDOWN_SECS: u32 = 5;

/// The user's choices for ambient awareness.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(default)]
pub struct AmbientSettings {
    /// Off until the user turns it on.
    pub enabled: bool,
    /// The mode insights are asked in (its id); the sidebar's mode when
    /// not chosen.
    pub mode: Option<String>,
    /// Seconds between uploads at most; at least [`MIN_COOLDOWN_SECS`].
    pub cooldown_secs: u32,
    /// The share of the screen, in percent (1–100), that must change
    /// before it is sent again.
    pub threshold_percent: u32,
    /// Applications never looked at (matched in their name, any case).
    pub excluded_apps: Vec<String>,
    /// Window titles never looked at (matched in the title, any case).
    pub excluded_titles: Vec<String>,
}

impl Default for AmbientSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            mode: None,
            cooldown_secs: 30,
            threshold_percent: 5,
            excluded_apps: [
                "keepassxc",
                "keepass",
                "1password",
                "bitwarden",
                "lastpass",
                "dashlane",
                "enpass",
                "keeper",
                "proton pass",
                "seahorse",
                "kwalletmanager",
            ]
            .map(String::from)
            .to_vec(),
            excluded_titles: [
                "private browsing",
                "incognito",
                "inprivate",
                "private window",
                "password",
            ]
            .map(String::from)
            .to_vec(),
        }
    }
}

impl AmbientSettings {
    pub fn normalize(&mut self) {
        self.cooldown_secs = self.cooldown_secs.clamp(MIN_COOLDOWN_SECS, 24 * 3600);
        self.threshold_percent = self.threshold_percent.clamp(1, 100);
        for list in [&mut self.excluded_apps, &mut self.excluded_titles] {
            list.iter_mut().for_each(|entry| *entry = entry.trim().to_owned());
            list.retain(|entry| !entry.is_empty());
            list.dedup();
        }
    }

    /// Refuses values outside their ranges (the settings page says why,
    /// rather than saving something else than the user typed).
    pub fn validate(&self) -> Result<(), ClientError> {
        if !(MIN_COOLDOWN_SECS..=24 * 3600).contains(&self.cooldown_secs) {
            return Err(ClientError::invalid(
                "cooldown",
                format!("give {MIN_COOLDOWN_SECS} to 86400 seconds"),
            ));
        }
        if !(1..=100).contains(&self.threshold_percent) {
            return Err(ClientError::invalid("change threshold", "give 1 to 100 percent"));
        }
        for (what, list) in [
            ("excluded applications", &self.excluded_apps),
            ("excluded window titles", &self.excluded_titles),
        ] {
            if list.len() > 200 {
                return Err(ClientError::invalid(what, "at most 200 entries"));
            }
            if let Some(long) = list.iter().find(|entry| entry.chars().count() > 200) {
                return Err(ClientError::invalid(
                    what,
                    format!(
                        "\"{}…\" is longer than 200 characters",
                        long.chars().take(20).collect::<String>()
                    ),
                ));
            }
        }
        if self.mode.as_ref().is_some_and(|mode| mode.len() > 200) {
            return Err(ClientError::invalid("mode", "not a mode id"));
        }
        Ok(())
    }

    pub fn cooldown(&self) -> Duration {
        Duration::from_secs(u64::from(self.cooldown_secs.max(MIN_COOLDOWN_SECS)))
    }

    /// The exclusion that `window` falls under, if any.
    pub fn excludes(&self, window: &WindowRef) -> Option<String> {
        let app = window.app.to_lowercase();
        let title = window.title.to_lowercase();
        self.excluded_apps
            .iter()
            .find(|entry| !entry.is_empty() && app.contains(&entry.to_lowercase()))
            .or_else(|| {
                self.excluded_titles
                    .iter()
                    .find(|entry| !entry.is_empty() && title.contains(&entry.to_lowercase()))
            })
            .cloned()
    }
}

/// What the user did, as the global input listener reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activity {
    Key,
    Click,
    WindowChanged,
}

/// Why a capture was considered (kept in the upload log).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    TypingPause,
    Click,
    WindowChanged,
    Timer,
}

/// The privacy gate's answer, given before anything is grabbed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(tag = "state", content = "reason", rename_all = "snake_case")]
pub enum Gate {
    Open,
    Paused,
    Locked,
    /// An excluded application or window has the focus (the rule matched).
    Excluded(String),
    /// Looking is not possible or not safe now (why): the focused window
    /// cannot be told, a region is being selected, nobody is logged in.
    Unavailable(String),
}

/// What the scheduler needs from the desktop and the server.
pub trait AmbientEnv {
    fn gate(&mut self) -> Gate;
    /// Grabs the screen and reduces it for the change check.
    fn look(&mut self) -> Result<Thumbnail, ClientError>;
    /// Encodes and sends what [`AmbientEnv::look`] last grabbed.
    fn send(&mut self, trigger: Trigger) -> Result<(), ClientError>;
}

/// What a tick did.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Nothing to consider yet.
    Idle,
    Gated(Gate),
    /// Too soon after the last upload; considered again at the cooldown's end.
    CoolingDown,
    /// The first look: kept as the reference, nothing sent.
    Baseline,
    /// Looked: the screen changed less than the threshold.
    Unchanged(f32),
    Sent {
        trigger: Trigger,
        difference: f32,
    },
    Failed(ClientError),
}

/// A key pressed and then this long without keys is a typing pause.
const TYPING_PAUSE: Duration = Duration::from_millis(1500);

#[derive(Debug)]
pub struct Scheduler {
    settings: AmbientSettings,
    /// The thumbnail of the last frame sent.
    sent: Option<Thumbnail>,
    last_sent_at: Option<Instant>,
    /// When the timer next asks for a look.
    timer_due: Instant,
    /// A key was pressed at this moment and no pause followed yet.
    typing_since: Option<Instant>,
    last_key: Option<Instant>,
    /// Activity waiting to be considered, and since when.
    pending: Option<Trigger>,
    pending_at: Option<Instant>,
}

impl Scheduler {
    pub fn new(settings: AmbientSettings, now: Instant) -> Self {
        let timer_due = now + settings.cooldown();
        Self {
            settings,
            sent: None,
            last_sent_at: None,
            timer_due,
            typing_since: None,
            last_key: None,
            pending: None,
            pending_at: None,
        }
    }

    pub fn settings(&self) -> &AmbientSettings {
        &self.settings
    }

    pub fn set_settings(&mut self, settings: AmbientSettings, now: Instant) {
        // Turned on again: the screen as it is now is the new reference.
        if settings.enabled && !self.settings.enabled {
            self.sent = None;
            self.last_sent_at = None;
        }
        self.settings = settings;
        self.timer_due = self.timer_due.min(now + self.settings.cooldown());
    }

    pub fn on_activity(&mut self, activity: Activity, now: Instant) {
        match activity {
            Activity::Key => {
                self.typing_since.get_or_insert(now);
                self.last_key = Some(now);
            }
            Activity::Click => self.set_pending(Trigger::Click, now),
            Activity::WindowChanged => self.set_pending(Trigger::WindowChanged, now),
        }
    }

    fn set_pending(&mut self, trigger: Trigger, now: Instant) {
        self.pending = Some(trigger);
        self.pending_at.get_or_insert(now);
    }

    /// When [`Scheduler::tick`] should run next.
    pub fn next_wake(&self) -> Instant {
        let mut wake = self.timer_due;
        if let Some(key) = self.last_key.filter(|_| self.typing_since.is_some()) {
            wake = key + TYPING_PAUSE;
        }
        if let Some(at) = self.pending_at.filter(|_| self.pending.is_some()) {
            // At once, or when the cooldown ends.
            wake = wake.min(self.cooldown_end().map_or(at, |end| end.max(at)));
        }
        wake
    }

    fn cooldown_end(&self) -> Option<Instant> {
        self.last_sent_at.map(|at| at + self.settings.cooldown())
    }

    /// Considers a capture now, if anything asks for one.
    pub fn tick(&mut self, now: Instant, env: &mut dyn AmbientEnv) -> Outcome {
        if !self.settings.enabled {
            return Outcome::Idle;
        }
        if let Some(key) = self.last_key {
            if self.typing_since.is_some() && now >= key + TYPING_PAUSE {
                self.typing_since = None;
                self.set_pending(Trigger::TypingPause, now);
            }
        }
        // While the user types, the timer waits for the pause: a screen
        // caught mid-word helps no one.
        let typing = self.typing_since.is_some();
        let trigger = match self.pending {
            Some(trigger) => trigger,
            None if now >= self.timer_due && !typing => Trigger::Timer,
            None => return Outcome::Idle,
        };
        if trigger == Trigger::Timer {
            self.timer_due = now + self.settings.cooldown();
        }
        // Before anything else, and before any pixel: may we look at all?
        let gate = env.gate();
        if gate != Gate::Open {
            self.pending = None;
            self.pending_at = None;
            return Outcome::Gated(gate);
        }
        if self.cooldown_end().is_some_and(|end| now < end) {
            // Kept: considered again when the cooldown ends.
            self.pending = Some(trigger);
            return Outcome::CoolingDown;
        }
        self.pending = None;
        self.pending_at = None;
        let thumbnail = match env.look() {
            Ok(thumbnail) => thumbnail,
            Err(error) => return Outcome::Failed(error),
        };
        let Some(reference) = self.sent.as_ref() else {
            self.sent = Some(thumbnail);
            return Outcome::Baseline;
        };
        let difference = reference.difference(&thumbnail);
        if difference * 100.0 < self.settings.threshold_percent as f32 {
            return Outcome::Unchanged(difference);
        }
        match env.send(trigger) {
            Ok(()) => {
                self.sent = Some(thumbnail);
                self.last_sent_at = Some(now);
                self.timer_due = now + self.settings.cooldown();
                Outcome::Sent { trigger, difference }
            }
            Err(error) => Outcome::Failed(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A screen the test paints, a gate it sets, and counters.
    struct Desk {
        brightness: u8,
        gate: Gate,
        looks: usize,
        sent: Vec<Trigger>,
    }

    impl Desk {
        fn new() -> Self {
            Self {
                brightness: 250,
                gate: Gate::Open,
                looks: 0,
                sent: Vec::new(),
            }
        }
    }

    impl AmbientEnv for Desk {
        fn gate(&mut self) -> Gate {
            self.gate.clone()
        }
        fn look(&mut self) -> Result<Thumbnail, ClientError> {
            self.looks += 1;
            let (width, height) = (320, 180);
            let mut pixels = vec![250u8; width * height * 4];
            // The top half shows the test's brightness.
            for byte in &mut pixels[..width * height * 2] {
                *byte = self.brightness;
            }
            Ok(Thumbnail::from_bgra(&pixels, width, height, width * 4).unwrap())
        }
        fn send(&mut self, trigger: Trigger) -> Result<(), ClientError> {
            self.sent.push(trigger);
            Ok(())
        }
    }

    fn enabled() -> AmbientSettings {
        AmbientSettings {
            enabled: true,
            cooldown_secs: 30,
            ..AmbientSettings::default()
        }
    }

    /// Runs the scheduler as the app's loop does, second by second.
    fn run(scheduler: &mut Scheduler, desk: &mut Desk, from: Instant, seconds: u64) -> Vec<Outcome> {
        let mut outcomes = Vec::new();
        for second in 1..=seconds {
            let now = from + Duration::from_secs(second);
            if scheduler.next_wake() <= now {
                let outcome = scheduler.tick(now, desk);
                if outcome != Outcome::Idle {
                    outcomes.push(outcome);
                }
            }
        }
        outcomes
    }

    #[test]
    fn settings_out_of_range_are_refused() {
        assert!(AmbientSettings::default().validate().is_ok());
        let short = AmbientSettings {
            cooldown_secs: 4,
            ..AmbientSettings::default()
        };
        assert!(matches!(short.validate(), Err(ClientError::Invalid { what, .. }) if what == "cooldown"));
        let none = AmbientSettings {
            threshold_percent: 0,
            ..AmbientSettings::default()
        };
        assert!(none.validate().is_err());
        let long = AmbientSettings {
            excluded_titles: vec!["x".repeat(201)],
            ..AmbientSettings::default()
        };
        assert!(long.validate().is_err());
    }

    #[test]
    fn off_means_nothing_at_all() {
        let start = Instant::now();
        let mut scheduler = Scheduler::new(AmbientSettings::default(), start);
        let mut desk = Desk::new();
        scheduler.on_activity(Activity::Click, start);
        run(&mut scheduler, &mut desk, start, 300);
        assert_eq!((desk.looks, desk.sent.len()), (0, 0));
    }

    #[test]
    fn a_static_screen_is_only_looked_at() {
        let start = Instant::now();
        let mut scheduler = Scheduler::new(enabled(), start);
        let mut desk = Desk::new();
        // The first look only sets the reference.
        let outcomes = run(&mut scheduler, &mut desk, start, 30);
        assert_eq!(outcomes, vec![Outcome::Baseline]);
        assert!(desk.sent.is_empty());
        // Ten minutes of a static screen without activity: one look per
        // cooldown, nothing sent.
        let outcomes = run(&mut scheduler, &mut desk, start + Duration::from_secs(30), 600);
        assert!(desk.sent.is_empty());
        assert_eq!(desk.looks, 1 + 20);
        assert!(
            outcomes
                .iter()
                .all(|o| matches!(o, Outcome::Unchanged(d) if *d == 0.0)),
            "{outcomes:?}"
        );
    }

    #[test]
    fn a_change_is_sent_exactly_once_and_the_cooldown_holds() {
        let start = Instant::now();
        let mut scheduler = Scheduler::new(enabled(), start);
        let mut desk = Desk::new();
        run(&mut scheduler, &mut desk, start, 30);
        assert_eq!(desk.looks, 1);

        // The screen changes; a click sends it at once.
        let t = start + Duration::from_secs(35);
        desk.brightness = 20;
        scheduler.on_activity(Activity::Click, t);
        assert!(matches!(
            scheduler.tick(t, &mut desk),
            Outcome::Sent {
                trigger: Trigger::Click,
                ..
            }
        ));

        // It changes again five seconds later: the click waits for the
        // cooldown's end, then exactly one more upload.
        let u = t + Duration::from_secs(5);
        desk.brightness = 200;
        scheduler.on_activity(Activity::Click, u);
        assert_eq!(scheduler.tick(u, &mut desk), Outcome::CoolingDown);
        assert_eq!(desk.looks, 2, "no grab while cooling down");
        assert_eq!(scheduler.next_wake(), t + Duration::from_secs(30));
        let outcomes = run(&mut scheduler, &mut desk, u, 120);
        assert_eq!(desk.sent, vec![Trigger::Click, Trigger::Click], "{outcomes:?}");

        // Clicks every second on the now static screen send nothing more.
        let later = u + Duration::from_secs(120);
        for second in 0..60 {
            let now = later + Duration::from_secs(second);
            scheduler.on_activity(Activity::Click, now);
            scheduler.tick(now, &mut desk);
        }
        assert_eq!(desk.sent.len(), 2);
    }

    #[test]
    fn activity_before_any_upload_is_considered_at_once_and_re_enabling_resets() {
        let start = Instant::now();
        let mut scheduler = Scheduler::new(enabled(), start);
        let mut desk = Desk::new();
        scheduler.on_activity(Activity::Click, start + Duration::from_secs(2));
        assert_eq!(scheduler.next_wake(), start + Duration::from_secs(2));
        assert_eq!(
            scheduler.tick(start + Duration::from_secs(2), &mut desk),
            Outcome::Baseline
        );

        // Off, the screen changes, on again: the new screen is the reference.
        let t = start + Duration::from_secs(10);
        scheduler.set_settings(AmbientSettings::default(), t);
        desk.brightness = 10;
        scheduler.set_settings(enabled(), t);
        scheduler.on_activity(Activity::WindowChanged, t);
        assert_eq!(scheduler.tick(t, &mut desk), Outcome::Baseline);
        assert!(desk.sent.is_empty());
    }

    #[test]
    fn typing_is_considered_after_a_pause() {
        let start = Instant::now();
        let mut scheduler = Scheduler::new(
            AmbientSettings {
                cooldown_secs: 5,
                ..enabled()
            },
            start,
        );
        let mut desk = Desk::new();
        assert_eq!(run(&mut scheduler, &mut desk, start, 5), vec![Outcome::Baseline]);
        let t = start + Duration::from_secs(10);
        desk.brightness = 30;
        for tenth in 0..30 {
            scheduler.on_activity(Activity::Key, t + Duration::from_millis(tenth * 100));
        }
        // Still typing at +2.9 s: nothing yet.
        assert_eq!(
            scheduler.tick(t + Duration::from_millis(2950), &mut desk),
            Outcome::Idle
        );
        let paused = t + Duration::from_millis(2900) + TYPING_PAUSE;
        assert_eq!(scheduler.next_wake(), paused);
        assert!(matches!(
            scheduler.tick(paused, &mut desk),
            Outcome::Sent {
                trigger: Trigger::TypingPause,
                ..
            }
        ));
    }

    #[test]
    fn the_gate_is_asked_before_any_grab() {
        let start = Instant::now();
        let mut scheduler = Scheduler::new(enabled(), start);
        let mut desk = Desk::new();
        for gate in [Gate::Paused, Gate::Locked, Gate::Excluded("keepassxc".into())] {
            desk.gate = gate.clone();
            desk.brightness = desk.brightness.wrapping_add(100);
            let outcomes = run(&mut scheduler, &mut desk, start, 600);
            scheduler.on_activity(Activity::WindowChanged, start + Duration::from_secs(601));
            assert_eq!(
                scheduler.tick(start + Duration::from_secs(601), &mut desk),
                Outcome::Gated(gate.clone())
            );
            assert!(
                outcomes.iter().all(|o| *o == Outcome::Gated(gate.clone())),
                "{outcomes:?}"
            );
        }
        assert_eq!(desk.looks, 0, "the capture function was never called");
        assert!(desk.sent.is_empty());
    }

    #[test]
    fn exclusions_match_apps_and_titles_in_any_case() {
        let settings = AmbientSettings::default();
        let window = |app: &str, title: &str| WindowRef {
            id: 1,
            pid: None,
            app: app.into(),
            title: title.into(),
        };
        assert_eq!(
            settings.excludes(&window("KeePassXC", "Passwords.kdbx")),
            Some("keepassxc".into())
        );
        assert_eq!(
            settings.excludes(&window("firefox", "New Private Browsing tab — Mozilla Firefox")),
            Some("private browsing".into())
        );
        assert_eq!(
            settings.excludes(&window("chromium", "New Tab - Chromium (Incognito)")),
            Some("incognito".into())
        );
        assert_eq!(settings.excludes(&window("gedit", "notes.txt")), None);

        let mut odd = AmbientSettings {
            cooldown_secs: 1,
            threshold_percent: 0,
            excluded_apps: vec!["  ".into(), " Vault ".into()],
            ..AmbientSettings::default()
        };
        odd.normalize();
        assert_eq!(odd.cooldown_secs, MIN_COOLDOWN_SECS);
        assert_eq!(odd.threshold_percent, 1);
        assert_eq!(odd.excluded_apps, vec!["Vault".to_owned()]);
        assert_eq!(odd.excludes(&window("vault-app", "x")), Some("Vault".into()));
    }
}
