//! What the seat says about windows: which one (by the windowing system's
//! id), and how to be told when the focus moves. Kept apart so that the
//! X11 backend and the [`super::Seat`] trait share them without depending
//! on each other.

use serde::Serialize;

/// A top-level window of some application.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct WindowRef {
    /// The windowing system's id (an X window id).
    pub id: u64,
    pub pid: Option<u32>,
    /// The application, as its window class or process name says.
    pub app: String,
    pub title: String,
}

impl WindowRef {
    /// "Title — App", for messages.
    pub fn describe(&self) -> String {
        match (self.title.trim(), self.app.trim()) {
            ("", "") => format!("window {}", self.id),
            ("", app) => app.to_owned(),
            (title, "") => title.to_owned(),
            (title, app) => format!("{title} — {app}"),
        }
    }
}

/// Told of focus changes, on the thread that follows them.
pub type FocusListener = Box<dyn Fn() + Send + Sync>;
