//! Whether the app may see the screen, in the words the sidebar shows.

/// Whether the app may see the screen. On X11 it always may; on GNOME
/// Wayland the user decides once, in GNOME's own dialog.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(tag = "state", content = "reason", rename_all = "snake_case")]
pub enum ScreenAccess {
    Granted,
    /// The user has not been asked yet: the sidebar explains what the
    /// desktop will ask before it does.
    NotAsked,
    /// The user said no in the desktop's dialog.
    Refused,
    /// The user stopped the screen sharing (GNOME's indicator).
    Stopped,
    /// This session offers no way to see the screen.
    Unavailable(String),
}

impl std::fmt::Display for ScreenAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Granted => f.write_str("Sightline may see the screen"),
            Self::NotAsked => f.write_str("Sightline has not been allowed to see the screen yet"),
            Self::Refused => f.write_str("seeing the screen was not allowed"),
            Self::Stopped => f.write_str("screen sharing was stopped"),
            Self::Unavailable(reason) => f.write_str(reason),
        }
    }
}
