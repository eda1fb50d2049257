//! The scheduler's view of the real screen, seat and server. The gate
//! asks the seat which window has the focus *before* anything is grabbed
//! (an excluded one means no look at all); a look grabs the primary
//! monitor with the app's own windows and any excluded window still on
//! screen blanked; a send asks the gate once more, encodes that frame,
//! sends it as a question and — once the server took it — writes the
//! upload log and hands the insight to the shell, which shows it in the
//! sidebar's feed.

use super::scheduler::{AmbientEnv, Gate, Trigger};
use super::settings::AmbientSettings;
use super::shell::{AmbientShell, Indicator, Insight};
use crate::capture::change::Thumbnail;
use crate::capture::{Encoding, Frame};
use crate::desktop::chat::{ChatEvent, Question};
use crate::desktop::Desktop;
use crate::error::ClientError;
use crate::platform::Screens;
use crate::seat::{WindowRef, Windows};
use crate::status::ConnectionStatus;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// What is sent with each picture, as the user's words.
const AMBIENT_CONTEXT: &str = "This is my screen right now, sent by Sightline's ambient awareness. \
If something on it is worth a short tip, a warning or a shortcut, say so in a few sentences; \
otherwise answer in one sentence what you see me working on.";

/// The real screen, seat and server, as the scheduler sees them.
pub(super) struct LiveEnv {
    pub(super) desktop: Arc<Desktop>,
    pub(super) seat: Option<Arc<dyn Windows>>,
    pub(super) screens: Arc<dyn Screens>,
    pub(super) shell: Arc<dyn AmbientShell>,
    /// Paused by the user; shared with the watch.
    pub(super) paused: Arc<AtomicBool>,
    pub(super) runtime: tokio::runtime::Handle,
    pub(super) settings: AmbientSettings,
    /// The frame the last look grabbed, for the send that may follow.
    pub(super) frame: Option<Frame>,
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
            return Gate::Unavailable("choose a mode for ambient awareness in Settings".into());
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
        let (primary, mut frame) = crate::platform::grab_primary(self.screens.as_ref())?;
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
            self.screens.recycle(old);
        }
        Ok(thumbnail)
    }

    fn send(&mut self, trigger: Trigger) -> Result<(), ClientError> {
        // The gate again, now that the frame is grabbed: the focus may have
        // moved to an excluded window (or the user paused) meanwhile.
        self.gate_still_open()?;
        let mode = self
            .mode()
            .ok_or_else(|| ClientError::invalid("mode", "choose a mode for ambient awareness"))?;
        let frame = self
            .frame
            .as_ref()
            .ok_or_else(|| ClientError::Capture("nothing was grabbed".into()))?;
        let options = self.desktop.settings().capture;
        // Redaction reads its own copy: the grabbed frame stays as it was,
        // the reference the next look is compared with.
        let prepared = self.desktop.prepare_picture(
            frame.clone(),
            Encoding::Jpeg {
                quality: options.jpeg_quality,
            },
        )?;
        // And once more after redaction, which reads for a good part of a
        // second: what matters is where the user is as the picture leaves.
        let focused = self.gate_still_open()?;
        let attachment = prepared.attachment.logged_as(trigger);
        let redactions = attachment.redaction.counts.clone();
        let sent = super::uploads::sha256_hex(&attachment.bytes);
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
        feed.lock().unwrap_or_else(|p| p.into_inner()).announce(Insight {
            id,
            at: crate::journal::unix_now(),
            mode,
            trigger,
            sent,
            redactions,
        });
        Ok(())
    }
}

impl LiveEnv {
    /// The gate and the exclusions asked again; the window the user is in
    /// (the one they came from, when it is the sidebar), for the picture's
    /// words. A closed gate drops the grabbed frame.
    fn gate_still_open(&mut self) -> Result<Option<WindowRef>, ClientError> {
        let gate = self.gate();
        if gate != Gate::Open {
            self.discard_frame();
            return Err(ClientError::Capture(format!(
                "not sent: {}",
                Indicator::from(&gate).describe()
            )));
        }
        let focused = self.seat.as_ref().and_then(|seat| match seat.active_window() {
            Ok(Some(window)) if seat.is_own(&window) => seat.last_foreign_window(),
            Ok(window) => window,
            Err(_) => None,
        });
        if let Some(rule) = focused.as_ref().and_then(|window| self.settings.excludes(window)) {
            self.discard_frame();
            return Err(ClientError::Capture(format!(
                "not sent: a window matching “{rule}” has the focus"
            )));
        }
        Ok(focused)
    }

    /// Gives the last look's pixels back: they are not kept past the tick
    /// unless they are the reference for a send that has not happened.
    pub(super) fn discard_frame(&mut self) {
        if let Some(frame) = self.frame.take() {
            self.screens.recycle(frame);
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
fn context(focused: Option<&WindowRef>) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_focused_window_is_named_unless_it_is_ours() {
        let window = |pid: u32| WindowRef {
            id: 7,
            pid: Some(pid),
            app: "gedit".into(),
            title: "Notes".into(),
        };
        assert!(context(Some(&window(1))).ends_with("The focused window is “Notes” (gedit)."));
        assert_eq!(context(Some(&window(std::process::id()))), AMBIENT_CONTEXT);
        assert_eq!(context(None), AMBIENT_CONTEXT);
    }
}
