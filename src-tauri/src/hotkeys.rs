//! Global shortcuts. The sidebar's own is "fold/unfold"; later features
//! (region capture, rewrite) add theirs to [`Hotkeys`].

use crate::sidebar;
use sightline_client::settings::Hotkeys;
use sightline_client::ClientError;
use std::str::FromStr;
use tauri::{AppHandle, Runtime};
use tauri_plugin_global_shortcut::{GlobalShortcutExt, Shortcut, ShortcutState};

pub fn plugin<R: Runtime>() -> tauri::plugin::TauriPlugin<R> {
    tauri_plugin_global_shortcut::Builder::new().build()
}

fn parse(accelerator: &str) -> Result<Shortcut, ClientError> {
    Shortcut::from_str(accelerator.trim())
        .map_err(|e| ClientError::invalid("shortcut", format!("{accelerator:?}: {e}")))
}

fn bind(app: &AppHandle, hotkeys: &Hotkeys) -> Result<(), ClientError> {
    let toggle = parse(&hotkeys.toggle_sidebar)?;
    app.global_shortcut()
        .on_shortcut(toggle, |app, _, event| {
            if event.state() == ShortcutState::Pressed {
                sidebar::toggle_collapsed(app);
            }
        })
        .map_err(|e| ClientError::invalid("shortcut", format!("{}: {e}", hotkeys.toggle_sidebar)))
}

/// Registers the shortcuts at start; one that cannot be had (taken by
/// another app) is logged, and the sidebar works without it.
pub fn register(app: &AppHandle, hotkeys: &Hotkeys) {
    if let Err(error) = bind(app, hotkeys) {
        tracing::warn!(%error, "a global shortcut is unavailable");
    }
}

/// Swaps `old` for `new`; if `new` cannot be registered, `old` is put back.
pub fn replace(app: &AppHandle, old: &Hotkeys, new: &Hotkeys) -> Result<(), ClientError> {
    parse(&new.toggle_sidebar)?;
    let shortcuts = app.global_shortcut();
    let _ = shortcuts.unregister_all();
    if let Err(error) = bind(app, new) {
        register(app, old);
        return Err(error);
    }
    Ok(())
}
