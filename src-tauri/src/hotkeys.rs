//! Global shortcuts: fold/unfold the sidebar, rewrite the selection of the
//! focused application, select a region, pause ambient awareness. All of
//! them live in [`Hotkeys`].

use crate::ambient;
use crate::overlay;
use crate::rewrite;
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

/// What a shortcut does.
type Action = fn(&AppHandle);

/// Each shortcut with what it does.
fn actions(hotkeys: &Hotkeys) -> [(&str, Action); 4] {
    [
        (hotkeys.toggle_sidebar.as_str(), sidebar::toggle_collapsed),
        (hotkeys.rewrite.as_str(), rewrite::begin),
        (hotkeys.select_region.as_str(), overlay::open),
        (hotkeys.pause_ambient.as_str(), ambient::toggle_paused),
    ]
}

/// Every accelerator parses and none is given twice.
fn validate(hotkeys: &Hotkeys) -> Result<(), ClientError> {
    let mut seen = Vec::new();
    for (accelerator, _) in actions(hotkeys) {
        let shortcut = parse(accelerator)?;
        if seen.contains(&shortcut) {
            return Err(ClientError::invalid(
                "shortcut",
                format!("{accelerator} is given twice"),
            ));
        }
        seen.push(shortcut);
    }
    Ok(())
}

fn bind(app: &AppHandle, hotkeys: &Hotkeys) -> Result<(), ClientError> {
    for (accelerator, action) in actions(hotkeys) {
        bind_one(app, accelerator, action)?;
    }
    Ok(())
}

fn bind_one(app: &AppHandle, accelerator: &str, action: Action) -> Result<(), ClientError> {
    app.global_shortcut()
        .on_shortcut(parse(accelerator)?, move |app, _, event| {
            if event.state() == ShortcutState::Pressed {
                action(app);
            }
        })
        .map_err(|e| ClientError::invalid("shortcut", format!("{accelerator}: {e}")))
}

/// Registers the shortcuts at start; one that cannot be had (taken by
/// another app) is logged, and the sidebar works without it.
pub fn register(app: &AppHandle, hotkeys: &Hotkeys) {
    for (accelerator, action) in actions(hotkeys) {
        if let Err(error) = bind_one(app, accelerator, action) {
            tracing::warn!(%error, "a global shortcut is unavailable");
        }
    }
}

/// Swaps `old` for `new`; if `new` cannot be registered, `old` is put back.
pub fn replace(app: &AppHandle, old: &Hotkeys, new: &Hotkeys) -> Result<(), ClientError> {
    validate(new)?;
    let shortcuts = app.global_shortcut();
    let _ = shortcuts.unregister_all();
    if let Err(error) = bind(app, new) {
        let _ = shortcuts.unregister_all();
        register(app, old);
        return Err(error);
    }
    Ok(())
}
