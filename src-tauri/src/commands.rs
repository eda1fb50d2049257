//! The commands the sidebar UI calls. Each is a few lines over
//! `sightline_client::desktop::Desktop`; errors are the typed
//! `ClientError`, which the generated bindings describe to TypeScript.

use crate::{sidebar, AppState};
use serde::Serialize;
use sightline_client::ambient::watch::{AmbientStatus, Insight, UploadEntry};
use sightline_client::ambient::AmbientSettings;
use sightline_client::capture;
use sightline_client::capture::geometry::LogicalRect;
use sightline_client::desktop::{
    CaPreview, ChatEvent, CodeNeeded, Desktop, ImportRequest, InjectionEntry, LoggedIn, Overview, Question,
    RewriteAsk, RewriteBegun, RewritePanel,
};
use sightline_client::rewrite::{diff, Injected};
use sightline_client::settings::{CaptureSettings, Hotkeys, RewriteSettings, Settings};
use sightline_client::status::ConnectionStatus;
use sightline_client::ClientError;
use sightline_proto::ModeSummary;
use std::sync::Arc;
use tauri::ipc::Channel;
use tauri::{AppHandle, Manager, State, WebviewWindow};
use tauri_specta::{collect_commands, collect_events, Event};

type Result<T> = std::result::Result<T, ClientError>;

/// The connection changed (the status line).
#[derive(Debug, Clone, Serialize, specta::Type, Event)]
pub struct StatusChanged {
    pub status: ConnectionStatus,
    pub text: String,
}

impl From<&ConnectionStatus> for StatusChanged {
    fn from(status: &ConnectionStatus) -> Self {
        Self {
            status: status.clone(),
            text: status.describe(),
        }
    }
}

/// The sidebar was folded or unfolded (by hotkey, tray or tab).
#[derive(Debug, Clone, Serialize, specta::Type, Event)]
pub struct SidebarChanged {
    pub collapsed: bool,
}

/// Screen awareness changed: on, off, paused, or not looking (and why).
#[derive(Debug, Clone, Serialize, specta::Type, Event)]
pub struct AmbientChanged {
    pub status: AmbientStatus,
}

/// An insight from screen awareness: `event` is `null` when it begins,
/// then its answer streams in.
#[derive(Debug, Clone, Serialize, specta::Type, Event)]
pub struct AmbientInsight {
    pub insight: Insight,
    pub event: Option<ChatEvent>,
}

/// The rewrite shortcut opened a rewrite (or brought the open one back).
#[derive(Debug, Clone, Serialize, specta::Type, Event)]
pub struct RewriteOpened {
    pub panel: RewritePanel,
}

/// A shortcut's action could not be carried out (the rewrite could not
/// read a selection, the selection overlay could not open); the sidebar
/// shows why.
#[derive(Debug, Clone, Serialize, specta::Type, Event)]
pub struct ShortcutFailed {
    pub error: ClientError,
}

/// A region was selected on the overlay; it goes with the next question.
#[derive(Debug, Clone, Serialize, specta::Type, Event)]
pub struct RegionSelected {
    pub width: u32,
    pub height: u32,
    /// A small JPEG of the region as a `data:` URL.
    pub thumbnail: String,
}

/// The selection overlays opened (their pages fetch the new frame) or
/// closed (they drop it).
#[derive(Debug, Clone, Serialize, specta::Type, Event)]
pub struct OverlayChanged {
    pub generation: u32,
    pub open: bool,
}

/// Every command and event, for the invoke handler and the bindings.
pub fn bindings() -> tauri_specta::Builder<tauri::Wry> {
    tauri_specta::Builder::<tauri::Wry>::new()
        .commands(collect_commands![
            overview,
            connection_status,
            fetch_server_ca,
            import_package,
            check_connection,
            reset_setup,
            login,
            verify_code,
            logout,
            modes,
            choose_mode,
            ask,
            stop,
            set_collapsed,
            set_hotkeys,
            copy_text,
            ui_ready,
            rewrite_panel,
            rewrite_text,
            rewrite_diff,
            apply_rewrite,
            cancel_rewrite,
            set_rewrite_settings,
            injection_log,
            select_region,
            overlay_info,
            overlay_confirm,
            overlay_cancel,
            overlay_painted,
            discard_region,
            ambient_status,
            set_ambient_settings,
            set_ambient_paused,
            upload_log,
        ])
        .events(collect_events![
            StatusChanged,
            SidebarChanged,
            AmbientChanged,
            AmbientInsight,
            RewriteOpened,
            ShortcutFailed,
            RegionSelected,
            OverlayChanged
        ])
        .dangerously_cast_bigints_to_number()
        .disable_serde_phases()
}

/// Writes the TypeScript bindings for the UI to `path`.
pub fn export_bindings(path: &std::path::Path) -> anyhow::Result<()> {
    let header = "// Generated from src-tauri/src/commands.rs by `cargo test -p sightline-desktop`\n\
                  // with SIGHTLINE_WRITE_BINDINGS=1. Do not edit by hand.\n";
    bindings()
        .export(specta_typescript::Typescript::default().header(header), path)
        .map_err(|e| anyhow::anyhow!("exporting the bindings: {e}"))
}

/// Reports the connection to the UI for as long as the app runs.
pub fn spawn_connection_watch(app: AppHandle, desktop: Arc<Desktop>) {
    tauri::async_runtime::spawn(desktop.watch_connection(move |status| {
        tracing::info!(status = %status.describe(), "connection");
        if let Err(error) = StatusChanged::from(status).emit(&app) {
            tracing::warn!(%error, "the status could not be shown");
        }
        // Screen awareness does not look while nothing could be sent.
        if let Some(state) = app.try_state::<AppState>() {
            state.ambient.watch.refresh();
        }
    }));
}

#[tauri::command]
#[specta::specta]
pub async fn overview(state: State<'_, AppState>) -> Result<Overview> {
    Ok(state.desktop.overview().await)
}

/// The connection as last seen, for a page that starts after the first
/// `StatusChanged` went out.
#[tauri::command]
#[specta::specta]
pub fn connection_status(state: State<'_, AppState>) -> Option<StatusChanged> {
    state.desktop.status().as_ref().map(StatusChanged::from)
}

#[tauri::command]
#[specta::specta]
pub async fn fetch_server_ca(state: State<'_, AppState>, server_url: String) -> Result<CaPreview> {
    state.desktop.fetch_server_ca(&server_url).await
}

#[tauri::command]
#[specta::specta]
pub async fn import_package(state: State<'_, AppState>, request: ImportRequest) -> Result<Overview> {
    state.desktop.import_package(request).await
}

#[tauri::command]
#[specta::specta]
pub async fn check_connection(state: State<'_, AppState>) -> Result<()> {
    state.desktop.check_connection().await
}

#[tauri::command]
#[specta::specta]
pub async fn reset_setup(state: State<'_, AppState>) -> Result<Overview> {
    state.desktop.reset().await
}

#[tauri::command]
#[specta::specta]
pub async fn login(state: State<'_, AppState>, username: String, password: String) -> Result<CodeNeeded> {
    state.desktop.login(&username, &password).await
}

#[tauri::command]
#[specta::specta]
pub async fn verify_code(state: State<'_, AppState>, code: String) -> Result<LoggedIn> {
    state.desktop.verify(&code).await
}

#[tauri::command]
#[specta::specta]
pub async fn logout(state: State<'_, AppState>) -> Result<Overview> {
    state.desktop.logout().await
}

#[tauri::command]
#[specta::specta]
pub async fn modes(state: State<'_, AppState>) -> Result<Vec<ModeSummary>> {
    state.desktop.modes().await
}

#[tauri::command]
#[specta::specta]
pub async fn choose_mode(state: State<'_, AppState>, mode: String) -> Result<Settings> {
    state.desktop.update_settings(|s| s.mode = Some(mode))
}

/// Sends a question; with `attach_region` the selected region goes with
/// it, with `attach_screen` the primary monitor is captured first (with the
/// sidebar hidden). Answers stream to `on_event`.
#[tauri::command]
#[specta::specta]
pub async fn ask(
    state: State<'_, AppState>,
    window: WebviewWindow,
    question: Question,
    attach_screen: bool,
    attach_region: bool,
    on_event: Channel<ChatEvent>,
) -> Result<u32> {
    let region = if attach_region {
        let region = state
            .selecting
            .region
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        Some(region.ok_or_else(|| ClientError::invalid("region", "select a region first"))?)
    } else {
        None
    };
    let image = if region.is_some() {
        region
    } else if attach_screen {
        let options = state.desktop.settings().capture;
        Some(
            sidebar::while_hidden(&window, move || {
                capture::capture_primary(options.max_side, options.jpeg_quality)
            })
            .await?,
        )
    } else {
        None
    };
    state
        .desktop
        .ask(question, image, move |event| {
            if let Err(error) = on_event.send(event) {
                tracing::debug!(%error, "the chat view is gone");
            }
        })
        .await
}

#[tauri::command]
#[specta::specta]
pub fn stop(state: State<'_, AppState>, id: u32) -> bool {
    state.desktop.stop(id)
}

#[tauri::command]
#[specta::specta]
pub fn set_collapsed(app: AppHandle, collapsed: bool) -> Result<Settings> {
    sidebar::set_collapsed(&app, collapsed)
}

/// Changes the global shortcuts; an accelerator that does not parse or is
/// taken by another app is refused and the old one stays.
#[tauri::command]
#[specta::specta]
pub fn set_hotkeys(app: AppHandle, state: State<'_, AppState>, hotkeys: Hotkeys) -> Result<Settings> {
    crate::hotkeys::replace(&app, &state.desktop.settings().hotkeys, &hotkeys)?;
    state.desktop.update_settings(|s| s.hotkeys = hotkeys)
}

#[tauri::command]
#[specta::specta]
pub fn copy_text(state: State<'_, AppState>, text: String) -> Result<()> {
    state.clipboard.set_text(&text)
}

/// The UI has drawn its first real view; start-up time goes to the log
/// (the desktop benchmark reads it).
#[tauri::command]
#[specta::specta]
pub fn ui_ready(state: State<'_, AppState>) {
    tracing::info!(
        elapsed_ms = u64::try_from(state.started.elapsed().as_millis()).unwrap_or(u64::MAX),
        "sidebar interactive"
    );
}

/// The rewrite shortcut: reads the focused application's selection and
/// shows the rewrite panel (or says why it cannot).
pub fn begin_rewrite(app: &AppHandle) {
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

/// The open rewrite, for a page that starts after it opened.
#[tauri::command]
#[specta::specta]
pub fn rewrite_panel(state: State<'_, AppState>) -> Option<RewritePanel> {
    state.desktop.rewrite_panel()
}

/// Asks for a replacement; it streams to `on_event`. Async, so it runs on
/// the runtime that carries the stream.
#[tauri::command]
#[specta::specta]
pub async fn rewrite_text(
    state: State<'_, AppState>,
    ask: RewriteAsk,
    on_event: Channel<ChatEvent>,
) -> Result<()> {
    state.desktop.rewrite(ask, move |event| {
        if let Err(error) = on_event.send(event) {
            tracing::debug!(%error, "the rewrite panel is gone");
        }
    })
}

/// The word-level difference the confirmation shows.
#[tauri::command]
#[specta::specta]
pub fn rewrite_diff(original: String, replacement: String) -> Vec<diff::Span> {
    diff::words(&original, &replacement)
}

/// The user approved `replacement`: it goes into the target window, or
/// nothing is typed and the error says why.
#[tauri::command]
#[specta::specta]
pub async fn apply_rewrite(state: State<'_, AppState>, id: u32, replacement: String) -> Result<Injected> {
    let seat = state.seat.clone()?;
    state.desktop.apply_rewrite(seat, id, replacement).await
}

#[tauri::command]
#[specta::specta]
pub fn cancel_rewrite(state: State<'_, AppState>, id: u32) -> bool {
    state.desktop.cancel_rewrite(id)
}

#[tauri::command]
#[specta::specta]
pub fn set_rewrite_settings(state: State<'_, AppState>, rewrite: RewriteSettings) -> Result<Settings> {
    state.desktop.update_settings(|s| s.rewrite = rewrite)
}

/// The newest entries of the local injection log.
#[tauri::command]
#[specta::specta]
pub fn injection_log(state: State<'_, AppState>) -> Result<Vec<InjectionEntry>> {
    state.desktop.injection_log(200)
}

/// The sidebar's "Select region" button: the same as the shortcut.
#[tauri::command]
#[specta::specta]
pub fn select_region(app: AppHandle) {
    crate::overlay::open(&app);
}

#[tauri::command]
#[specta::specta]
pub fn overlay_info(app: AppHandle, monitor: u32) -> Result<crate::overlay::OverlayInfo> {
    crate::overlay::info(&app, monitor)
}

/// The selection on overlay `monitor`, in the page's pixels, with the
/// page's size (the crop's scale comes from it and the frame).
#[tauri::command]
#[specta::specta]
pub async fn overlay_confirm(
    app: AppHandle,
    monitor: u32,
    generation: u32,
    selection: LogicalRect,
    overlay_width: f64,
    overlay_height: f64,
) -> Result<()> {
    crate::overlay::confirm(
        &app,
        monitor,
        generation,
        &selection,
        overlay_width,
        overlay_height,
    )
}

#[tauri::command]
#[specta::specta]
pub async fn overlay_cancel(app: AppHandle) -> Result<()> {
    crate::overlay::close(&app);
    Ok(())
}

/// The overlay page has drawn its frozen frame.
#[tauri::command]
#[specta::specta]
pub fn overlay_painted(app: AppHandle, monitor: u32) {
    crate::overlay::painted(&app, monitor);
}

/// Drops the selected region without asking about it.
#[tauri::command]
#[specta::specta]
pub fn discard_region(state: State<'_, AppState>) {
    *state.selecting.region.lock().unwrap_or_else(|p| p.into_inner()) = None;
}

/// Screen awareness as the indicator shows it (for a page that starts
/// after the last report).
#[tauri::command]
#[specta::specta]
pub fn ambient_status(state: State<'_, AppState>) -> Option<AmbientStatus> {
    state.ambient.status()
}

/// Turns screen awareness on or off and changes its rules, and how
/// pictures are prepared for upload; saved, and in force at once.
#[tauri::command]
#[specta::specta]
pub fn set_ambient_settings(
    state: State<'_, AppState>,
    ambient: AmbientSettings,
    capture: CaptureSettings,
) -> Result<Settings> {
    ambient.validate()?;
    capture.validate()?;
    let settings = state.desktop.update_settings(|s| {
        s.ambient = ambient;
        s.capture = capture;
    })?;
    state.ambient.watch.set_settings(settings.ambient.clone());
    Ok(settings)
}

#[tauri::command]
#[specta::specta]
pub fn set_ambient_paused(state: State<'_, AppState>, paused: bool) {
    state.ambient.watch.set_paused(paused);
}

/// The newest entries of the local upload log.
#[tauri::command]
#[specta::specta]
pub fn upload_log(state: State<'_, AppState>) -> Result<Vec<UploadEntry>> {
    state.desktop.upload_log(200)
}

#[cfg(test)]
mod tests {
    /// The committed bindings must match the commands; regenerate with
    /// `SIGHTLINE_WRITE_BINDINGS=1 cargo test -p sightline-desktop`.
    #[test]
    fn bindings_are_current() {
        let committed =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../sidebar-ui/src/bindings.ts");
        if std::env::var_os("SIGHTLINE_WRITE_BINDINGS").is_some() {
            super::export_bindings(&committed).unwrap();
        }
        let dir = tempfile::tempdir().unwrap();
        let fresh = dir.path().join("bindings.ts");
        super::export_bindings(&fresh).unwrap();
        let fresh = std::fs::read_to_string(fresh).unwrap();
        let committed = std::fs::read_to_string(&committed).unwrap_or_default();
        assert!(
            fresh == committed,
            "sidebar-ui/src/bindings.ts is stale: run SIGHTLINE_WRITE_BINDINGS=1 cargo test -p sightline-desktop"
        );
    }
}
