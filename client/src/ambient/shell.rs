//! Between the watch and the app's shell: what the sidebar shows (the
//! indicator, the status, insights in the feed) and what the watch asks of
//! the shell (where the app's own windows are, whether an overlay covers
//! the screen).

use super::scheduler::{Gate, Trigger};
use crate::capture::geometry::PixelRect;
use crate::desktop::chat::ChatEvent;
use crate::error::ClientError;
use serde::Serialize;

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
            Self::Off => "ambient awareness is off".into(),
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
    /// SHA-256 of the picture as it was sent: "What was sent" shows it
    /// while it is kept (`Desktop::sent_picture`).
    pub sent: String,
    /// Secrets blacked out in it, by category.
    pub redactions: std::collections::BTreeMap<crate::redaction::Category, u32>,
}

/// What the watch needs from the app's shell.
pub trait AmbientShell: Send + Sync {
    /// The app's own windows on screen, in physical screen pixels: blanked in
    /// every look, so the app never sends itself.
    fn own_windows(&self) -> Result<Vec<PixelRect>, ClientError>;
    /// Something of ours covers the screen (the region overlay): no looks.
    fn covering(&self) -> bool;
    fn status(&self, status: &AmbientStatus);
    /// An insight: `None` when it begins, then its answer as it streams.
    fn insight(&self, insight: &Insight, event: Option<ChatEvent>);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_indicator_follows_the_gate() {
        assert_eq!(Indicator::from(&Gate::Open), Indicator::Watching);
        assert_eq!(
            Indicator::from(&Gate::Excluded("keepassxc".into())),
            Indicator::Excluded("keepassxc".into())
        );
    }
}
