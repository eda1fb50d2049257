//! When to look and when to send: the [`Scheduler`] is a pure state
//! machine over a clock the caller gives (so tests control time), and
//! [`AmbientEnv`] is what it needs from the screen and the server. The
//! order of the checks at each moment is described in [`super`].

use super::settings::AmbientSettings;
use crate::capture::change::Thumbnail;
use crate::error::ClientError;
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

/// What the user did, as the global input listener reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activity {
    Key,
    Click,
    WindowChanged,
}

/// Why a picture was taken (kept in the upload log): the first four are
/// ambient awareness's own, the last two the user's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    TypingPause,
    Click,
    WindowChanged,
    Timer,
    /// A region the user selected.
    RegionSelection,
    /// The screen the user attached to a question.
    AttachedScreen,
}

impl Trigger {
    /// Taken by ambient awareness on its own, not by the user.
    pub fn is_ambient(self) -> bool {
        !matches!(self, Trigger::RegionSelection | Trigger::AttachedScreen)
    }
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

/// What the scheduler needs from the screen, the seat and the server.
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
}
