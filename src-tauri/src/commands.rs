//! The commands the sidebar UI calls. Each is a few lines over
//! `sightline_client::desktop::Desktop`; errors are the typed
//! `ClientError`, which the generated bindings describe to TypeScript.

use crate::{sidebar, AppState};
use serde::Serialize;
use sightline_client::capture;
use sightline_client::desktop::{
    CaPreview, ChatEvent, CodeNeeded, Desktop, ImportRequest, LoggedIn, Overview, Question,
};
use sightline_client::settings::{Hotkeys, Settings};
use sightline_client::status::ConnectionStatus;
use sightline_client::ClientError;
use sightline_proto::ModeSummary;
use std::sync::Arc;
use tauri::ipc::Channel;
use tauri::{AppHandle, State, WebviewWindow};
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

/// Ambient capture was paused or resumed from the tray.
#[derive(Debug, Clone, Serialize, specta::Type, Event)]
pub struct PauseChanged {
    pub paused: bool,
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
        ])
        .events(collect_events![StatusChanged, SidebarChanged, PauseChanged])
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

/// Sends a question; with `attach_screen` the primary monitor is captured
/// first (with the sidebar hidden). Answers stream to `on_event`.
#[tauri::command]
#[specta::specta]
pub async fn ask(
    state: State<'_, AppState>,
    window: WebviewWindow,
    question: Question,
    attach_screen: bool,
    on_event: Channel<ChatEvent>,
) -> Result<u32> {
    let image = if attach_screen {
        Some(
            sidebar::while_hidden(&window, || {
                capture::capture_primary(capture::DEFAULT_MAX_SIDE, capture::DEFAULT_JPEG_QUALITY)
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
