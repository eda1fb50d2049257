//! What every part of the shell shares, kept by Tauri for the app's life.
//! Features with state of their own keep it beside their code and have
//! Tauri keep it too: the selection overlays' `overlay::Selecting`,
//! ambient awareness's `ambient::Ambient`.

use sightline_client::clipboard::Clipboard;
use sightline_client::desktop::Desktop;
use sightline_client::platform::{Screens, ShortcutRoute};
use sightline_client::seat::Seat;
use sightline_client::ClientError;
use std::sync::Arc;

/// Shared with every command.
pub struct AppState {
    pub desktop: Arc<Desktop>,
    pub clipboard: Arc<Clipboard>,
    /// The user's session's focus, keyboard and clipboard for rewrites; the
    /// error says why typing into other apps is impossible in this session.
    pub seat: Result<Arc<dyn Seat>, ClientError>,
    /// The monitors and their frames, through this session's backend.
    pub screens: Arc<dyn Screens>,
    pub shortcuts: ShortcutRoute,
    /// When the process began, for the start-up time in the log.
    pub started: std::time::Instant,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("desktop", &self.desktop)
            .field("seat", &self.seat)
            .field("shortcuts", &self.shortcuts)
            .finish_non_exhaustive()
    }
}
