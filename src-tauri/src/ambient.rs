//! Ambient awareness in the shell: tells the watch (`sightline_client::
//! ambient::watch`) where our windows are, and turns its reports into
//! events for the sidebar's indicator and feed and the tray's check mark.

use crate::events::{AmbientChanged, AmbientInsight};
use crate::overlay::Selecting;
use crate::sidebar;
use sightline_client::ambient::{AmbientShell, AmbientStatus, AmbientWatch, Insight};
use sightline_client::capture::geometry::PixelRect;
use sightline_client::desktop::chat::ChatEvent;
use sightline_client::desktop::Desktop;
use sightline_client::platform::Screens;
use sightline_client::seat::Windows;
use sightline_client::ClientError;
use std::sync::{Arc, Mutex};
use tauri::menu::CheckMenuItem;
use tauri::{AppHandle, Manager, Wry};
use tauri_specta::Event;

/// The watch and what it last reported, kept by Tauri for the app's life.
#[derive(Debug)]
pub struct Ambient {
    pub watch: Arc<AmbientWatch>,
    shell: Arc<Shell>,
}

impl Ambient {
    pub fn start(
        app: &AppHandle,
        desktop: Arc<Desktop>,
        windows: Option<Arc<dyn Windows>>,
        screens: Arc<dyn Screens>,
        runtime: tokio::runtime::Handle,
    ) -> Result<Self, ClientError> {
        let shell = Arc::new(Shell {
            app: app.clone(),
            last: Mutex::new(None),
        });
        let watch = AmbientWatch::start(desktop, windows, screens, shell.clone(), runtime)?;
        Ok(Self { watch, shell })
    }

    pub fn status(&self) -> Option<AmbientStatus> {
        lock(&self.shell.last).clone()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// The tray's "Pause ambient awareness" item, kept to show the state that
/// the hotkey or the sidebar set.
pub struct PauseItem(pub CheckMenuItem<Wry>);

impl std::fmt::Debug for PauseItem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PauseItem")
    }
}

#[derive(Debug)]
struct Shell {
    app: AppHandle,
    last: Mutex<Option<AmbientStatus>>,
}

impl AmbientShell for Shell {
    fn own_windows(&self) -> Result<Vec<PixelRect>, ClientError> {
        Ok(sidebar::screen_rect(&self.app)?.into_iter().collect())
    }

    fn covering(&self) -> bool {
        self.app
            .try_state::<Selecting>()
            .is_some_and(|selecting| selecting.is_busy())
    }

    fn status(&self, status: &AmbientStatus) {
        *lock(&self.last) = Some(status.clone());
        if let Some(item) = self.app.try_state::<PauseItem>() {
            if let Err(error) = item.0.set_checked(status.paused) {
                tracing::debug!(%error, "the tray's pause item was not updated");
            }
        }
        let event = AmbientChanged {
            status: status.clone(),
        };
        if let Err(error) = event.emit(&self.app) {
            tracing::debug!(%error, "the sidebar did not hear of ambient awareness");
        }
    }

    fn insight(&self, insight: &Insight, event: Option<ChatEvent>) {
        let event = AmbientInsight {
            insight: insight.clone(),
            event,
        };
        if let Err(error) = event.emit(&self.app) {
            tracing::debug!(%error, "the sidebar did not hear of an insight");
        }
    }
}

/// The tray item or the hotkey: pause ambient awareness, or resume it.
pub fn toggle_paused(app: &AppHandle) {
    let paused = app.state::<Ambient>().watch.toggle_paused();
    tracing::info!(paused, "ambient awareness paused or resumed");
}
