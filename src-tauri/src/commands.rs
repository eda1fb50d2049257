//! The commands the sidebar UI calls. Each is a few lines over
//! `sightline_client::desktop::Desktop` (or the shell's windows); errors
//! are the typed `ClientError`, which the generated bindings describe to
//! TypeScript. The commands are listed for the bindings in `bindings.rs`.

use crate::ambient::Ambient;
use crate::events::StatusChanged;
use crate::hotkeys;
use crate::overlay::{self, Pending, WaitingPicture};
use crate::sidebar;
use crate::state::AppState;
use sightline_client::ambient::{AmbientSettings, AmbientStatus, Trigger, UploadEntry};
use sightline_client::capture::geometry::LogicalRect;
use sightline_client::capture::Encoding;
use sightline_client::desktop::chat::{ChatEvent, Question};
use sightline_client::desktop::login::{CodeNeeded, LoggedIn};
use sightline_client::desktop::onboarding::{CaPreview, ImportRequest};
use sightline_client::desktop::redaction::{PicturePreview, RedactionOverview};
use sightline_client::desktop::renewal::CertificateNotice;
use sightline_client::desktop::Overview;
use sightline_client::platform::{self, ScreenAccess};
use sightline_client::redaction::RedactionSettings;
use sightline_client::rewrite::session::{InjectionEntry, RewriteAsk, RewritePanel};
use sightline_client::rewrite::{diff, Injected};
use sightline_client::settings::{CaptureSettings, Hotkeys, RewriteSettings, Settings};
use sightline_client::ClientError;
use sightline_proto::ModeSummary;
use tauri::ipc::Channel;
use tauri::{AppHandle, State, WebviewWindow};

type Result<T> = std::result::Result<T, ClientError>;

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

/// Sends a question; with `attach_picture` the waiting picture (a
/// selected region or the attached screen, as its preview showed it) goes
/// with it. Answers stream to `on_event`.
#[tauri::command]
#[specta::specta]
pub async fn ask(
    app: AppHandle,
    state: State<'_, AppState>,
    question: Question,
    attach_picture: bool,
    on_event: Channel<ChatEvent>,
) -> Result<u32> {
    let pending = if attach_picture {
        Some(
            overlay::take_picture(&app)
                .ok_or_else(|| ClientError::invalid("picture", "attach a picture first"))?,
        )
    } else {
        None
    };
    let image = pending.as_ref().map(|pending| pending.attachment.clone());
    let asked = state
        .desktop
        .ask(question, image, move |event| {
            if let Err(error) = on_event.send(event) {
                tracing::debug!(%error, "the chat view is gone");
            }
        })
        .await;
    // A question refused before it went keeps its picture for the next try.
    if let (Err(_), Some(pending)) = (&asked, pending) {
        overlay::give_back_picture(&app, pending);
    }
    asked
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
    hotkeys::replace(&app, state.shortcuts, &state.desktop.settings().hotkeys, &hotkeys)?;
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
    overlay::open(&app);
}

#[tauri::command]
#[specta::specta]
pub fn overlay_info(app: AppHandle, monitor: u32) -> Result<overlay::OverlayInfo> {
    overlay::info(&app, monitor)
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
    overlay::confirm(
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
    overlay::close(&app);
    Ok(())
}

/// The overlay page has drawn its frozen frame.
#[tauri::command]
#[specta::specta]
pub fn overlay_painted(app: AppHandle, monitor: u32) {
    overlay::painted(&app, monitor);
}

/// Drops the waiting picture without asking about it.
#[tauri::command]
#[specta::specta]
pub fn discard_region(app: AppHandle) {
    overlay::take_picture(&app);
}

/// "Attach screen": the primary monitor, taken with the sidebar hidden and
/// checked for secrets; it waits for the question, and the sidebar shows
/// it as it will be sent.
#[tauri::command]
#[specta::specta]
pub async fn attach_screen(
    app: AppHandle,
    state: State<'_, AppState>,
    window: WebviewWindow,
) -> Result<PicturePreview> {
    let screens = state.screens.clone();
    let frame =
        sidebar::while_hidden(&window, move || Ok(platform::grab_primary(screens.as_ref())?.1)).await?;
    let desktop = state.desktop.clone();
    let quality = desktop.settings().capture.jpeg_quality;
    let prepared = tauri::async_runtime::spawn_blocking(move || {
        desktop.prepare_picture(frame, Encoding::Jpeg { quality })
    })
    .await
    .map_err(|e| ClientError::Io(e.to_string()))??;
    overlay::keep_picture(
        &app,
        Pending::new(
            prepared.attachment.logged_as(Trigger::AttachedScreen),
            prepared.preview.clone(),
            None,
        ),
    );
    Ok(prepared.preview)
}

/// The waiting picture, for a chat view that opens after it arrived.
#[tauri::command]
#[specta::specta]
pub fn waiting_picture(app: AppHandle) -> Option<WaitingPicture> {
    overlay::waiting_picture(&app)
}

/// "Send unredacted once": the waiting region as it is, after the user
/// checked it; refused under the administrator's policy.
#[tauri::command]
#[specta::specta]
pub async fn send_region_unredacted(app: AppHandle) -> Result<PicturePreview> {
    overlay::region_unredacted(&app).await
}

/// Redaction's settings, and whether the administrator enforces it.
#[tauri::command]
#[specta::specta]
pub fn redaction_overview(state: State<'_, AppState>) -> RedactionOverview {
    state.desktop.redaction_overview()
}

#[tauri::command]
#[specta::specta]
pub fn set_redaction(state: State<'_, AppState>, settings: RedactionSettings) -> Result<Settings> {
    state.desktop.set_redaction(settings)
}

/// An ambient look's picture exactly as it was sent, while it is kept.
#[tauri::command]
#[specta::specta]
pub fn sent_picture(state: State<'_, AppState>, sha256: String) -> Result<Option<String>> {
    state.desktop.sent_picture(&sha256)
}

/// Ambient awareness as the indicator shows it (for a page that starts
/// after the last report).
#[tauri::command]
#[specta::specta]
pub fn ambient_status(ambient_state: State<'_, Ambient>) -> Option<AmbientStatus> {
    ambient_state.status()
}

/// Turns ambient awareness on or off and changes its rules, and how
/// pictures are prepared for upload; saved, and in force at once.
#[tauri::command]
#[specta::specta]
pub fn set_ambient_settings(
    state: State<'_, AppState>,
    ambient_state: State<'_, Ambient>,
    ambient: AmbientSettings,
    capture: CaptureSettings,
) -> Result<Settings> {
    ambient.validate()?;
    capture.validate()?;
    let settings = state.desktop.update_settings(|s| {
        s.ambient = ambient;
        s.capture = capture;
    })?;
    ambient_state.watch.set_settings(settings.ambient.clone());
    Ok(settings)
}

#[tauri::command]
#[specta::specta]
pub fn set_ambient_paused(ambient_state: State<'_, Ambient>, paused: bool) {
    ambient_state.watch.set_paused(paused);
}

/// The newest entries of the local upload log.
#[tauri::command]
#[specta::specta]
pub fn upload_log(ambient_state: State<'_, Ambient>) -> Result<Vec<UploadEntry>> {
    ambient_state.watch.upload_log(200)
}

/// Whether the app may see the screen (GNOME on Wayland asks the user).
#[tauri::command]
#[specta::specta]
pub fn screen_access(state: State<'_, AppState>) -> ScreenAccess {
    state.screens.access()
}

/// Shows the desktop's dialog that lets the app see the screen, and waits
/// for the user's answer.
#[tauri::command]
#[specta::specta]
pub async fn ask_screen_access(state: State<'_, AppState>) -> Result<ScreenAccess> {
    let screens = state.screens.clone();
    tauri::async_runtime::spawn_blocking(move || screens.ask())
        .await
        .map_err(|e| ClientError::Io(e.to_string()))?
}

/// What the sidebar shows about the device certificate (renewal failing
/// near expiry, or expired), for a page that starts after the first
/// `CertificateChanged` went out.
#[tauri::command]
#[specta::specta]
pub fn certificate_notice(state: State<'_, AppState>) -> CertificateNotice {
    state.desktop.certificate_notice()
}

/// Opens the server's request-access page, with this certificate's e-mail
/// address filled in, in the user's browser.
#[tauri::command]
#[specta::specta]
pub fn request_access_again(state: State<'_, AppState>) -> Result<String> {
    let url = state.desktop.request_access_url()?;
    open_in_browser(&url).map_err(|e| ClientError::Io(format!("the browser could not be opened: {e}")))?;
    tracing::info!("the request-access page was opened");
    Ok(url)
}

/// The user's browser: the first one `$BROWSER` names, as Unix tools
/// honour it, else the desktop's default.
fn open_in_browser(url: &str) -> std::io::Result<()> {
    let named = std::env::var("BROWSER")
        .ok()
        .and_then(|list| list.split(':').next().map(str::to_owned))
        .filter(|browser| !browser.is_empty() && cfg!(unix));
    match named {
        Some(browser) => std::process::Command::new(browser)
            .arg(url)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .map(|mut child| {
                // Reaped when it ends, so no zombie is left behind.
                std::thread::spawn(move || child.wait());
            }),
        None => open::that_detached(url),
    }
}
