//! Focused region selection: the shortcut (or the sidebar's button) grabs
//! every monitor first, then opens one borderless, always-on-top overlay
//! per monitor showing its frozen frame (served to the page over the
//! `sightline-frame` scheme). The page reports the selection in its own
//! logical pixels; the crop is taken from the frozen frame in physical
//! pixels (`capture::geometry`), encoded, and handed to the sidebar.
//!
//! The sidebar's own pixels are blanked in the frozen frames, so it can
//! never be part of a selection.

use crate::events::{OverlayChanged, RegionChecking, RegionSelected, ShortcutFailed};
use crate::sidebar;
use crate::state::AppState;
use sightline_client::ambient::Trigger;
use sightline_client::api::Attachment;
use sightline_client::capture::geometry::{LogicalRect, MonitorInfo};
use sightline_client::capture::{self, Encoding, Frame};
use sightline_client::desktop::redaction::PicturePreview;
use sightline_client::platform::DisplayServer;
use sightline_client::redaction::ReadAhead;
use sightline_client::ClientError;
use std::str::FromStr;
use std::sync::Mutex;
use tauri::{AppHandle, Manager, PhysicalPosition, PhysicalSize, WebviewUrl};
use tauri_plugin_global_shortcut::{GlobalShortcutExt, Shortcut, ShortcutState};
use tauri_specta::Event;

pub const SCHEME: &str = "sightline-frame";

/// Regions larger than this many pixels go as JPEG rather than PNG.
const PNG_MAX_PIXELS: u64 = 2_000_000;

/// One monitor's frozen frame while the overlays are open.
#[derive(Debug)]
pub struct Shot {
    pub monitor: MonitorInfo,
    pub frame: Frame,
    /// The frame as the overlay page shows it.
    pub preview: Vec<u8>,
    /// Its words, read for redaction while the user selects: started once
    /// the overlay has painted (so reading never slows the overlay down);
    /// none while redaction is off.
    pub reading: Option<ReadAhead>,
}

/// A picture checked and encoded, waiting for its question.
#[derive(Debug)]
pub struct Pending {
    pub attachment: Attachment,
    /// As the sidebar shows it.
    pub preview: PicturePreview,
    /// A region's own pixels, kept until it is sent for "send unredacted
    /// once"; the attached screen has none (that action is for a region).
    pub region: Option<(Frame, Encoding)>,
    /// Tells one waiting picture from the next.
    id: u64,
}

impl Pending {
    pub fn new(attachment: Attachment, preview: PicturePreview, region: Option<(Frame, Encoding)>) -> Self {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        Self {
            attachment,
            preview,
            region,
            id: NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        }
    }
}

/// The waiting picture as the sidebar shows it, for a view that opens
/// after it arrived.
#[derive(Debug, Clone, serde::Serialize, specta::Type)]
pub struct WaitingPicture {
    pub picture: PicturePreview,
    /// A selected region (else the attached screen).
    pub region: bool,
}

pub fn waiting_picture(app: &AppHandle) -> Option<WaitingPicture> {
    lock(&app.state::<Selecting>().picture)
        .as_ref()
        .map(|pending| WaitingPicture {
            picture: pending.preview.clone(),
            region: pending.region.is_some(),
        })
}

/// Takes the waiting picture, if any.
pub fn take_picture(app: &AppHandle) -> Option<Pending> {
    lock(&app.state::<Selecting>().picture).take()
}

/// Keeps `pending` for the next question.
pub fn keep_picture(app: &AppHandle, pending: Pending) {
    *lock(&app.state::<Selecting>().picture) = Some(pending);
}

/// Puts a picture back whose question did not go, unless another one
/// arrived meanwhile.
pub fn give_back_picture(app: &AppHandle, pending: Pending) {
    lock(&app.state::<Selecting>().picture).get_or_insert(pending);
}

/// The waiting region again, unredacted: the user checked it. Refused when
/// another picture arrived while it was being prepared.
pub async fn region_unredacted(app: &AppHandle) -> Result<PicturePreview, ClientError> {
    let (region, id) = lock(&app.state::<Selecting>().picture)
        .as_ref()
        .and_then(|pending| Some((pending.region.clone()?, pending.id)))
        .ok_or_else(|| ClientError::invalid("region", "select a region first"))?;
    let desktop = app.state::<AppState>().desktop.clone();
    let (frame, encoding) = region.clone();
    let prepared = tauri::async_runtime::spawn_blocking(move || desktop.prepare_unredacted(frame, encoding))
        .await
        .map_err(io)??;
    let selecting = app.state::<Selecting>();
    let mut waiting = lock(&selecting.picture);
    if waiting.as_ref().map(|pending| pending.id) != Some(id) {
        return Err(ClientError::invalid("region", "another picture is waiting now"));
    }
    *waiting = Some(Pending::new(
        prepared.attachment.logged_as(Trigger::RegionSelection),
        prepared.preview.clone(),
        Some(region),
    ));
    Ok(prepared.preview)
}

/// The overlays' state, kept by Tauri for the app's life.
#[derive(Default)]
pub struct Selecting {
    shots: Mutex<Option<Vec<Shot>>>,
    /// The picture (a confirmed region, or the attached screen) waiting
    /// for the question it goes with.
    pub picture: Mutex<Option<Pending>>,
    /// When the shortcut was pressed, for the time to a painted overlay.
    opened_at: Mutex<Option<std::time::Instant>>,
    /// Claimed from the shortcut until the overlays close: a second press
    /// meanwhile does nothing.
    busy: std::sync::atomic::AtomicBool,
    /// Counts openings, so a page never shows the frame of an earlier one.
    generation: std::sync::atomic::AtomicU32,
}

impl Selecting {
    /// The overlays are open (or opening).
    pub fn is_busy(&self) -> bool {
        self.busy.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Claims the overlays for an opening (or their removal); false if
    /// they are claimed already.
    fn claim(&self) -> bool {
        !self.busy.swap(true, std::sync::atomic::Ordering::AcqRel)
    }

    fn release(&self) {
        self.busy.store(false, std::sync::atomic::Ordering::Release);
    }
}

impl std::fmt::Debug for Selecting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Selecting")
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

fn label(index: usize) -> String {
    format!("overlay-{index}")
}

fn io(error: impl std::fmt::Display) -> ClientError {
    ClientError::Io(error.to_string())
}

/// The shortcut or the button: freeze every monitor and open the overlays.
pub fn open(app: &AppHandle) {
    let app = app.clone();
    let started = std::time::Instant::now();
    let selecting = app.state::<Selecting>();
    if !selecting.claim() {
        return;
    }
    tauri::async_runtime::spawn(async move {
        *lock(&app.state::<Selecting>().opened_at) = Some(started);
        if let Err(error) = show(&app).await {
            tracing::warn!(%error, "the selection overlay could not open");
            close(&app);
            if let Err(error) = (ShortcutFailed { error }).emit(&app) {
                tracing::debug!(%error, "the sidebar did not hear of it");
            }
            return;
        }
        tracing::info!(
            elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            "selection overlay shown"
        );
    });
}

async fn show(app: &AppHandle) -> Result<(), ClientError> {
    let selecting = app.state::<Selecting>();
    // Where the sidebar is, to blank it out of the frames.
    let sidebar = sidebar::screen_rect(app)?;
    let screens = app.state::<AppState>().screens.clone();
    let shots = tauri::async_runtime::spawn_blocking(move || -> Result<Vec<Shot>, ClientError> {
        let monitors = screens.monitors()?;
        let mut shots = Vec::with_capacity(monitors.len());
        for monitor in monitors {
            let mut frame = screens.grab(&monitor)?;
            if let Some(own) = sidebar.and_then(|rect| rect.intersect(&monitor.bounds)) {
                frame.fill(
                    &own.relative_to(monitor.bounds.x, monitor.bounds.y),
                    [32, 32, 32, 255],
                );
            }
            let preview = capture::local_jpeg(&frame, 90)?;
            shots.push(Shot {
                monitor,
                frame,
                preview,
                reading: None,
            });
        }
        Ok(shots)
    })
    .await
    .map_err(io)??;
    let monitors: Vec<MonitorInfo> = shots.iter().map(|shot| shot.monitor.clone()).collect();
    *lock(&selecting.shots) = Some(shots);

    // Esc cancels even when the overlay does not have the keyboard.
    let escape = Shortcut::from_str("Escape").map_err(io)?;
    if let Err(error) = app.global_shortcut().on_shortcut(escape, |app, _, event| {
        if event.state() == ShortcutState::Pressed {
            // Not from inside the shortcut's own handler: closing
            // unregisters this shortcut, which would wait on the handler.
            let app = app.clone();
            tauri::async_runtime::spawn(async move { close(&app) });
        }
    }) {
        tracing::warn!(%error, "Esc is not available as a global shortcut; the overlay still takes it");
    }

    let generation = selecting
        .generation
        .fetch_add(1, std::sync::atomic::Ordering::AcqRel)
        + 1;
    // The pages fetch the new frame; each shows nothing until it loaded.
    OverlayChanged {
        generation,
        open: true,
    }
    .emit(app)
    .map_err(io)?;
    let on_gnome = DisplayServer::current().windows_through_xwayland();
    for (index, monitor) in monitors.iter().enumerate() {
        let window = match app.get_webview_window(&label(index)) {
            Some(window) => window,
            // A monitor added since start: its overlay is made now.
            None => build(app, index)?,
        };
        window
            .set_position(PhysicalPosition::new(monitor.bounds.x, monitor.bounds.y))
            .map_err(io)?;
        window
            .set_size(PhysicalSize::new(monitor.bounds.width, monitor.bounds.height))
            .map_err(io)?;
        // Mutter keeps ordinary windows below GNOME's top bar; a fullscreen
        // one covers the whole monitor, as the frozen frame does.
        if on_gnome {
            window.set_fullscreen(true).map_err(io)?;
        }
        window.show().map_err(io)?;
        if monitor.primary {
            take_focus(app, &window, on_gnome);
        }
    }
    Ok(())
}

/// Gives the overlay the keyboard focus: Enter, Esc and the arrows are
/// its. On GNOME Wayland mutter refuses an app's ordinary request while a
/// Wayland window has the focus, so the overlay asks as a pager does.
fn take_focus(app: &AppHandle, window: &tauri::WebviewWindow, on_gnome: bool) {
    #[cfg(target_os = "linux")]
    if on_gnome {
        let overlay = window.clone();
        let asked = app.run_on_main_thread(move || {
            let Some(xid) = x_window_id(&overlay) else {
                let _ = overlay.set_focus();
                return;
            };
            // Off the main thread: it waits for the window to be mapped.
            std::thread::spawn(move || {
                if let Err(error) = sightline_client::seat::activate_own_x11_window(xid) {
                    tracing::warn!(%error, "the overlay could not take the focus");
                }
                // Now that the window has it, the toolkit hands the focus on
                // to the page.
                let _ = overlay.set_focus();
            });
        });
        if asked.is_ok() {
            return;
        }
    }
    let _ = (app, on_gnome);
    let _ = window.set_focus();
}

/// The X window of one of the app's windows (they are X windows on GNOME
/// Wayland, through XWayland). On the main thread only.
#[cfg(target_os = "linux")]
fn x_window_id(window: &tauri::WebviewWindow) -> Option<u64> {
    use gtk::glib::Cast;
    use gtk::prelude::WidgetExt;
    let gdk_window = window.gtk_window().ok()?.window()?;
    let x11 = gdk_window.downcast::<gdkx11::X11Window>().ok()?;
    Some(x11.xid())
}

/// One hidden overlay window. The overlays get a web context of their own
/// (another data folder): they hold nothing the sidebar's pages need, and a
/// WebDriver session automating the sidebar would otherwise claim them too
/// and stall them.
fn build(app: &AppHandle, index: usize) -> Result<tauri::WebviewWindow, ClientError> {
    let data_directory = app.path().app_cache_dir().map_err(io)?.join("overlay-webview");
    let url = WebviewUrl::App(format!("overlay.html?monitor={index}").into());
    let window = tauri::WebviewWindowBuilder::new(app, label(index), url)
        .data_directory(data_directory)
        .title("Sightline selection")
        .decorations(false)
        .always_on_top(true)
        .skip_taskbar(true)
        .resizable(false)
        .shadow(false)
        .visible(false)
        .build()
        .map_err(io)?;
    crate::webkit::tune(&window);
    Ok(window)
}

/// How long hidden overlays are kept after an opening closes. While kept,
/// the next opening only grabs, encodes and shows (about 110 ms instead of
/// 300 ms for a new web view); after it, their web process is given back
/// (some 85 MB), so a sidebar that is not used for regions stays light.
const KEEP_WARM: std::time::Duration = std::time::Duration::from_secs(600);

/// Destroys the hidden overlays once [`KEEP_WARM`] has passed without
/// another opening.
fn expire_later(app: &AppHandle, closed_generation: u32) {
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        tokio::time::sleep(KEEP_WARM).await;
        let selecting = app.state::<Selecting>();
        // Claimed like an opening, so none can start while they go.
        if !selecting.claim() {
            return;
        }
        let generation = selecting.generation.load(std::sync::atomic::Ordering::Acquire);
        if generation == closed_generation {
            for (label, window) in app.webview_windows() {
                if label.starts_with("overlay-") {
                    let _ = window.destroy();
                }
            }
        }
        selecting.release();
    });
}

/// An overlay page has painted its frozen frame: the time from the
/// shortcut goes to the log (the desktop benchmark reads it).
pub fn painted(app: &AppHandle, monitor: u32) {
    let selecting = app.state::<Selecting>();
    match app.state::<AppState>().desktop.redactor() {
        Ok(redactor) => {
            if let Some(shot) = lock(&selecting.shots)
                .as_mut()
                .and_then(|shots| shots.get_mut(monitor as usize))
                .filter(|shot| shot.reading.is_none())
            {
                shot.reading = redactor.read_ahead(shot.frame.clone());
            }
        }
        Err(error) => tracing::warn!(%error, "the frozen screen cannot be read ahead"),
    }
    let opened_at = *lock(&selecting.opened_at);
    if let Some(started) = opened_at {
        tracing::info!(
            monitor,
            elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            "selection overlay visible"
        );
    }
}

/// Closes every overlay and forgets the frozen frames.
pub fn close(app: &AppHandle) {
    let selecting = app.state::<Selecting>();
    if let Some(shots) = lock(&selecting.shots).take() {
        if let Some(state) = app.try_state::<AppState>() {
            for shot in shots {
                state.screens.recycle(shot.frame);
            }
        }
    }
    if let Ok(escape) = Shortcut::from_str("Escape") {
        let _ = app.global_shortcut().unregister(escape);
    }
    // Hidden, not destroyed: an opening soon after reuses them.
    for (label, window) in app.webview_windows() {
        if label.starts_with("overlay-") {
            let _ = window.hide();
        }
    }
    let generation = selecting.generation.load(std::sync::atomic::Ordering::Acquire);
    if let Err(error) = (OverlayChanged {
        generation,
        open: false,
    })
    .emit(app)
    {
        tracing::debug!(%error, "the overlay pages did not hear of the closing");
    }
    expire_later(app, generation);
    selecting.release();
}

/// What an overlay page needs: the frame's size and the windows it can
/// click to select (topmost first, in the page's pixels).
#[derive(Debug, Clone, serde::Serialize, specta::Type)]
pub struct OverlayInfo {
    /// The opening this frame belongs to.
    pub generation: u32,
    pub frame_width: u32,
    pub frame_height: u32,
    pub windows: Vec<LogicalRect>,
}

pub fn info(app: &AppHandle, monitor: u32) -> Result<OverlayInfo, ClientError> {
    let selecting = app.state::<Selecting>();
    let shots = lock(&selecting.shots);
    let shot = shots
        .as_ref()
        .and_then(|shots| shots.get(monitor as usize))
        .ok_or_else(|| ClientError::invalid("selection", "it is closed"))?;
    let windows: Vec<LogicalRect> = app
        .state::<AppState>()
        .screens
        .window_frames()
        .iter()
        .filter_map(|rect| shot.monitor.to_overlay(rect))
        .collect();
    Ok(OverlayInfo {
        generation: selecting.generation.load(std::sync::atomic::Ordering::Acquire),
        frame_width: shot.frame.width,
        frame_height: shot.frame.height,
        windows,
    })
}

/// The page's selection → the exact pixels of the frozen frame, checked
/// for secrets and encoded (PNG up to two megapixels: regions are mostly
/// text), for the sidebar. The overlays close at once; the sidebar gets
/// the region once redaction has read it.
pub fn confirm(
    app: &AppHandle,
    monitor: u32,
    generation: u32,
    selection: &LogicalRect,
    overlay_width: f64,
    overlay_height: f64,
) -> Result<(), ClientError> {
    let selecting = app.state::<Selecting>();
    // A page still showing an earlier opening must not crop this one.
    if generation != selecting.generation.load(std::sync::atomic::Ordering::Acquire) {
        return Err(ClientError::invalid(
            "selection",
            "it belongs to an earlier opening",
        ));
    }
    let (region, encoding, rect, reading) = {
        let shots = lock(&selecting.shots);
        let shot = shots
            .as_ref()
            .and_then(|shots| shots.get(monitor as usize))
            .ok_or_else(|| ClientError::invalid("selection", "it is closed"))?;
        let rect = capture::geometry::crop(
            selection,
            overlay_width,
            overlay_height,
            shot.frame.width,
            shot.frame.height,
        )
        .ok_or_else(|| ClientError::invalid("selection", "select an area first"))?;
        let region = shot
            .frame
            .crop(&rect)
            .ok_or_else(|| ClientError::invalid("selection", "it is outside the screen"))?;
        let options = app.state::<AppState>().desktop.settings().capture;
        let encoding = if u64::from(rect.width) * u64::from(rect.height) <= PNG_MAX_PIXELS {
            Encoding::Png
        } else {
            Encoding::Jpeg {
                quality: options.jpeg_quality,
            }
        };
        (region, encoding, rect, shot.reading.clone())
    };
    tracing::info!(width = rect.width, height = rect.height, "region selected");
    // The new region replaces whatever waited, also if it fails its check.
    take_picture(app);
    close(app);
    sidebar::bring_to_front(app);
    if let Err(error) = (RegionChecking {
        width: rect.width,
        height: rect.height,
    })
    .emit(app)
    {
        tracing::debug!(%error, "the sidebar did not hear of the region");
    }
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        let desktop = app.state::<AppState>().desktop.clone();
        let kept = region.clone();
        let prepared = tauri::async_runtime::spawn_blocking(move || {
            desktop.prepare_region(reading.as_ref(), region, &rect, encoding)
        })
        .await
        .map_err(io)
        .and_then(|prepared| prepared);
        let emitted = match prepared {
            Ok(prepared) => {
                tracing::info!(
                    secrets = prepared.attachment.redaction.total(),
                    "region checked for secrets"
                );
                keep_picture(
                    &app,
                    Pending::new(
                        prepared.attachment.logged_as(Trigger::RegionSelection),
                        prepared.preview.clone(),
                        Some((kept, encoding)),
                    ),
                );
                RegionSelected {
                    picture: prepared.preview,
                }
                .emit(&app)
            }
            Err(error) => {
                tracing::warn!(%error, "the region could not be checked for secrets");
                ShortcutFailed { error }.emit(&app)
            }
        };
        if let Err(error) = emitted {
            tracing::debug!(%error, "the sidebar did not hear of the region");
        }
    });
    Ok(())
}

/// Serves `sightline-frame://localhost/<monitor>`: the frozen frame.
pub fn serve_frame(app: &AppHandle, path: &str) -> tauri::http::Response<Vec<u8>> {
    let selecting = app.state::<Selecting>();
    let index: Option<usize> = path
        .trim_start_matches('/')
        .split(['?', '/'])
        .next()
        .and_then(|n| n.parse().ok());
    let shots = lock(&selecting.shots);
    let found = index.and_then(|i| shots.as_ref().and_then(|shots| shots.get(i)));
    let response = match found {
        Some(shot) => tauri::http::Response::builder()
            .header("Content-Type", "image/jpeg")
            .header("Cache-Control", "no-store")
            .body(shot.preview.clone()),
        None => tauri::http::Response::builder().status(404).body(Vec::new()),
    };
    response.unwrap_or_else(|_| tauri::http::Response::new(Vec::new()))
}
