//! Global shortcuts: fold/unfold the sidebar, rewrite the selection of the
//! focused application, select a region, pause ambient awareness. All of
//! them live in [`Hotkeys`]. Where the session allows key grabs (X11,
//! Windows), the global-shortcut plugin grabs them; on GNOME Wayland they
//! are GNOME's own keybindings, which run `sightline --action …`, and the
//! running instance hears the action ([`run`]).

use crate::ambient;
use crate::overlay;
use crate::rewrite;
use crate::sidebar;
use crate::state::AppState;
use sightline_client::platform::{self, Action as Job, ShortcutRoute};
use sightline_client::settings::Hotkeys;
use sightline_client::ClientError;
use std::str::FromStr;
use tauri::{AppHandle, Manager, Runtime};
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

fn action(job: Job) -> Action {
    match job {
        Job::ToggleSidebar => sidebar::toggle_collapsed,
        Job::Rewrite => rewrite::begin,
        Job::SelectRegion => overlay::open,
        Job::PauseAmbient => ambient::toggle_paused,
    }
}

/// Does what the shortcut for `job` does (GNOME's keybinding ran
/// `sightline --action …`).
pub fn run(app: &AppHandle, job: Job) {
    action(job)(app);
}

/// Each shortcut with what it does.
fn actions(hotkeys: &Hotkeys) -> [(&str, Action); 4] {
    Job::bindings(hotkeys).map(|(job, accelerator)| (accelerator, action(job)))
}

fn install_gnome(app: &AppHandle, hotkeys: &Hotkeys) -> Result<(), ClientError> {
    let state = app.state::<AppState>();
    platform::install_desktop_shortcuts(hotkeys, state.desktop.config_dir())
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
pub fn register(app: &AppHandle, route: ShortcutRoute, hotkeys: &Hotkeys) {
    if route == ShortcutRoute::GnomeKeybindings {
        if let Err(error) = install_gnome(app, hotkeys) {
            tracing::warn!(%error, "GNOME's keybindings could not be set");
        }
        return;
    }
    for (accelerator, action) in actions(hotkeys) {
        if let Err(error) = bind_one(app, accelerator, action) {
            tracing::warn!(%error, "a global shortcut is unavailable");
        }
    }
}

/// Swaps `old` for `new`; if `new` cannot be registered, `old` is put back.
pub fn replace(
    app: &AppHandle,
    route: ShortcutRoute,
    old: &Hotkeys,
    new: &Hotkeys,
) -> Result<(), ClientError> {
    validate(new)?;
    if route == ShortcutRoute::GnomeKeybindings {
        if let Err(error) = install_gnome(app, new) {
            let _ = install_gnome(app, old);
            return Err(error);
        }
        return Ok(());
    }
    let shortcuts = app.global_shortcut();
    let _ = shortcuts.unregister_all();
    if let Err(error) = bind(app, new) {
        let _ = shortcuts.unregister_all();
        register(app, route, old);
        return Err(error);
    }
    Ok(())
}
