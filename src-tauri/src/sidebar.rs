//! The sidebar window: always on top, undecorated, docked to the right edge
//! of the primary monitor at the full height of its work area. Its left
//! edge drags the width (the window system's own resize, limited to
//! 280–640 px and remembered); it can fold to a slim tab at that edge.

use crate::events::SidebarChanged;
use crate::state::AppState;
use sightline_client::capture::geometry::PixelRect;
use sightline_client::settings::{Settings, MAX_SIDEBAR_WIDTH, MIN_SIDEBAR_WIDTH};
use sightline_client::ClientError;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;
use tauri::{
    AppHandle, LogicalSize, Manager, PhysicalPosition, PhysicalSize, WebviewUrl, WebviewWindow, WindowEvent,
};
use tauri_specta::Event;

/// Chooses how the app's windows reach the screen, before GTK starts. On
/// GNOME's Wayland compositor they go through XWayland, where mutter lets
/// the sidebar dock and stay on top (a native Wayland window can do
/// neither). A user's own `GDK_BACKEND` stands.
pub fn choose_window_backend() {
    let session = sightline_client::platform::DisplayServer::current();
    if session.windows_through_xwayland() && std::env::var_os("GDK_BACKEND").is_none() {
        // Set before any thread that reads the environment starts.
        std::env::set_var("GDK_BACKEND", "x11");
        tracing::info!(?session, "the app's windows go through XWayland");
    }
}

pub const LABEL: &str = "sidebar";

/// Width of the folded tab, in logical pixels.
const TAB_WIDTH: u32 = 28;

/// Opens the sidebar where the settings say, hidden until it is placed so
/// it never flashes in the middle of the screen.
pub fn create(app: &AppHandle, settings: &Settings) -> tauri::Result<WebviewWindow> {
    let window = tauri::WebviewWindowBuilder::new(app, LABEL, WebviewUrl::App("index.html".into()))
        .title("Sightline")
        .decorations(false)
        .always_on_top(true)
        .skip_taskbar(true)
        .resizable(true)
        .shadow(false)
        .visible(false)
        .build()?;
    dock(&window, settings)?;
    window.show()?;
    let handle = app.clone();
    window.on_window_event(move |event| {
        if let WindowEvent::Resized(size) = event {
            remember_width(&handle, *size);
        }
    });
    Ok(window)
}

/// Corrective docks since the last one of ours or the last user drag.
static CORRECTIONS: AtomicU32 = AtomicU32::new(0);
const MAX_CORRECTIONS: u32 = 3;

/// Keeps the width the user dragged to, once the drag has settled (a drag
/// reports many sizes; only the last is written). Sizes that arrive while
/// no mouse button is held are not the user's: they come from our own
/// docking or from the window system applying the size limits (it may
/// clamp the unfolding tab to the 280 px floor before the new size
/// arrives). Those put the window back where it belongs instead, a few
/// times at most so a window system that insists cannot make a loop.
fn remember_width(app: &AppHandle, size: PhysicalSize<u32>) {
    static GENERATION: AtomicU64 = AtomicU64::new(0);
    static DRAGGED: AtomicBool = AtomicBool::new(false);
    let state = app.state::<AppState>();
    if state.desktop.settings().collapsed {
        return;
    }
    let Some(window) = app.get_webview_window(LABEL) else {
        return;
    };
    // Without a way to ask (no X), every size counts as the user's.
    let by_user = match &state.seat {
        Ok(seat) => seat.button_held().unwrap_or(true),
        Err(_) => true,
    };
    if by_user {
        DRAGGED.store(true, Ordering::SeqCst);
        CORRECTIONS.store(0, Ordering::SeqCst);
    }
    let scale = window.scale_factor().unwrap_or(1.0);
    let width = (f64::from(size.width) / scale).round() as u32;
    let generation = GENERATION.fetch_add(1, Ordering::SeqCst) + 1;
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        if GENERATION.load(Ordering::SeqCst) != generation {
            return;
        }
        let state = app.state::<AppState>();
        let mut settings = state.desktop.settings();
        if settings.collapsed {
            return;
        }
        let dragged = DRAGGED.swap(false, Ordering::SeqCst);
        if dragged
            && settings.sidebar_width != width
            && (MIN_SIDEBAR_WIDTH..=MAX_SIDEBAR_WIDTH).contains(&width)
        {
            match state.desktop.update_settings(|s| s.sidebar_width = width) {
                Ok(saved) => settings = saved,
                Err(error) => tracing::warn!(%error, "the sidebar width could not be remembered"),
            }
        } else if !dragged && CORRECTIONS.fetch_add(1, Ordering::SeqCst) >= MAX_CORRECTIONS {
            return;
        }
        // Back to the right edge at full height if the window system moved
        // an edge. A window in place is left alone: a drag that paused is
        // still the window system's, and docking would fight it.
        let placed = docked_place(&window, &settings).ok().flatten();
        let actual = window.outer_position().ok().zip(window.outer_size().ok());
        if placed.is_some() && placed != actual {
            if let Err(error) = dock(&window, &settings) {
                tracing::warn!(%error, "the sidebar could not be docked");
            }
        }
    });
}

/// Places the window at the right edge of the primary monitor's work
/// area, `sidebar_width` wide (or tab-wide when collapsed).
pub fn dock(window: &WebviewWindow, settings: &Settings) -> tauri::Result<()> {
    let Some((position, size)) = docked_place(window, settings)? else {
        // No monitor reported (a display being reconfigured): keep the
        // window where it is rather than guess.
        return Ok(());
    };
    // The window system enforces the width range while the edge is dragged;
    // the folded tab is pinned to its width. The limits are lifted before
    // the new size is set and put back after it: a limit applied to the old
    // size makes the window system resize to the limit first (the folded
    // tab grows to the 280 px floor), a size that would then be taken for
    // one the user dragged to.
    let (min, max) = if settings.collapsed {
        (TAB_WIDTH, TAB_WIDTH)
    } else {
        (MIN_SIDEBAR_WIDTH, MAX_SIDEBAR_WIDTH)
    };
    window.set_min_size(None::<LogicalSize<f64>>)?;
    window.set_max_size(None::<LogicalSize<f64>>)?;
    window.set_size(size)?;
    window.set_position(position)?;
    window.set_max_size(Some(LogicalSize::new(f64::from(max), 100_000.0)))?;
    window.set_min_size(Some(LogicalSize::new(f64::from(min), 200.0)))?;
    Ok(())
}

/// Where the docked sidebar belongs: the right edge of the primary
/// monitor's work area, at its full height. `None` while no monitor is
/// reported.
fn docked_place(
    window: &WebviewWindow,
    settings: &Settings,
) -> tauri::Result<Option<(PhysicalPosition<i32>, PhysicalSize<u32>)>> {
    let monitor = match window.primary_monitor()? {
        Some(monitor) => Some(monitor),
        None => window.current_monitor()?,
    };
    let Some(monitor) = monitor else {
        return Ok(None);
    };
    let area = monitor.work_area();
    let logical_width = if settings.collapsed {
        TAB_WIDTH
    } else {
        settings.sidebar_width
    };
    let width = physical(logical_width, monitor.scale_factor()).min(area.size.width);
    let x = area.position.x + i32::try_from(area.size.width - width).unwrap_or(0);
    Ok(Some((
        PhysicalPosition::new(x, area.position.y),
        PhysicalSize::new(width, area.size.height),
    )))
}

fn physical(logical: u32, scale: f64) -> u32 {
    (f64::from(logical) * scale).round() as u32
}

/// Folds or unfolds the sidebar, remembers it and tells the UI.
/// Where the sidebar (or its tab) is on the screen; `None` when it is not
/// shown. An error when that cannot be told: a capture must then not go
/// ahead, as the sidebar could be in it.
pub fn screen_rect(app: &AppHandle) -> Result<Option<PixelRect>, ClientError> {
    let Some(window) = app.get_webview_window(LABEL) else {
        return Ok(None);
    };
    let failed = |error: tauri::Error| ClientError::Capture(format!("where the sidebar is: {error}"));
    if !window.is_visible().map_err(failed)? {
        return Ok(None);
    }
    let position = window.outer_position().map_err(failed)?;
    let size = window.outer_size().map_err(failed)?;
    Ok(Some(PixelRect {
        x: position.x,
        y: position.y,
        width: size.width,
        height: size.height,
    }))
}

pub fn set_collapsed(app: &AppHandle, collapsed: bool) -> Result<Settings, ClientError> {
    let state = app.state::<AppState>();
    let settings = state.desktop.update_settings(|s| s.collapsed = collapsed)?;
    CORRECTIONS.store(0, Ordering::SeqCst);
    if let Some(window) = app.get_webview_window(LABEL) {
        dock(&window, &settings).map_err(|e| ClientError::Io(e.to_string()))?;
        let _ = window.show();
    }
    if let Err(error) = (SidebarChanged { collapsed }).emit(app) {
        tracing::warn!(%error, "the UI was not told about the fold");
    }
    Ok(settings)
}

pub fn toggle_collapsed(app: &AppHandle) {
    let collapsed = app.state::<AppState>().desktop.settings().collapsed;
    if let Err(error) = set_collapsed(app, !collapsed) {
        tracing::warn!(%error, "the sidebar could not be folded");
    }
}

/// Shows the sidebar (unfolded) above everything and focuses it.
pub fn bring_to_front(app: &AppHandle) {
    if app.state::<AppState>().desktop.settings().collapsed {
        toggle_collapsed(app);
    }
    if let Some(window) = app.get_webview_window(LABEL) {
        let _ = window.show();
        let _ = window.unminimize();
        let _ = window.set_focus();
    }
}

pub fn toggle_visible(app: &AppHandle) {
    if let Some(window) = app.get_webview_window(LABEL) {
        if window.is_visible().unwrap_or(true) {
            let _ = window.hide();
        } else {
            bring_to_front(app);
        }
    }
}

/// Runs `work` (a blocking capture) while the sidebar is hidden, so the
/// app itself never appears in a screenshot.
pub async fn while_hidden<T: Send + 'static>(
    window: &WebviewWindow,
    work: impl FnOnce() -> Result<T, ClientError> + Send + 'static,
) -> Result<T, ClientError> {
    let was_visible = window.is_visible().unwrap_or(true);
    if was_visible {
        window.hide().map_err(|e| ClientError::Io(e.to_string()))?;
        // The display server needs a moment to repaint what was beneath.
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    let result = tauri::async_runtime::spawn_blocking(work)
        .await
        .map_err(|e| ClientError::Capture(e.to_string()))?;
    if was_visible {
        let _ = window.show();
    }
    result
}

#[cfg(test)]
mod tests {
    #[test]
    fn logical_to_physical_widths() {
        assert_eq!(super::physical(360, 1.0), 360);
        assert_eq!(super::physical(360, 1.25), 450);
        assert_eq!(super::physical(280, 1.5), 420);
        assert_eq!(super::physical(640, 2.0), 1280);
    }
}
