//! The rewrite shortcut in the shell: the panel's state machine is the
//! client's (`sightline_client::rewrite::session`); here its outcome is
//! shown, with the sidebar brought forward.

use crate::events::{RewriteOpened, ShortcutFailed};
use crate::sidebar;
use crate::state::AppState;
use sightline_client::rewrite::session::RewriteBegun;
use tauri::{AppHandle, Manager};
use tauri_specta::Event;

/// The rewrite shortcut: reads the focused application's selection and
/// shows the rewrite panel (or says why it cannot).
pub fn begin(app: &AppHandle) {
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        let state = app.state::<AppState>();
        let result = match &state.seat {
            Ok(seat) => state.desktop.begin_rewrite(seat.clone()).await,
            Err(error) => Err(error.clone()),
        };
        let emitted = match result {
            Ok(RewriteBegun::Opened { panel }) | Ok(RewriteBegun::AlreadyOpen { panel: Some(panel) }) => {
                sidebar::bring_to_front(&app);
                RewriteOpened { panel }.emit(&app)
            }
            // Still reading from the first press.
            Ok(RewriteBegun::AlreadyOpen { panel: None }) => Ok(()),
            Err(error) => {
                sidebar::bring_to_front(&app);
                ShortcutFailed { error }.emit(&app)
            }
        };
        if let Err(error) = emitted {
            tracing::warn!(%error, "the rewrite panel could not be shown");
        }
    });
}
