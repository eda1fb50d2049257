//! The Sightline sidebar as a Tauri 2 app. This crate is the thin shell:
//! windows ([`sidebar`]), tray ([`tray`]), global hotkeys ([`hotkeys`]),
//! WebKit tuning ([`webkit`]) and the commands the UI calls
//! ([`commands`]), each a few lines over `sightline_client`. The UI's
//! TypeScript bindings are generated from [`commands::bindings`].

pub mod ambient;
pub mod commands;
pub mod hotkeys;
pub mod overlay;
pub mod sidebar;
pub mod tray;
pub mod webkit;

use sightline_client::desktop::Desktop;
use sightline_client::seat::{keyboard::Keyboard, Seat, SystemSeat};
use std::path::PathBuf;
use std::sync::Arc;
use tauri::Manager;

/// Shared with every command.
#[derive(Debug)]
pub struct AppState {
    pub desktop: Arc<Desktop>,
    /// Screen awareness: its watch and last status.
    pub ambient: ambient::Ambient,
    pub clipboard: Arc<sightline_client::clipboard::Clipboard>,
    /// The desktop's focus, keyboard and clipboard for rewrites; the error
    /// says why typing into other apps is impossible in this session.
    pub seat: std::result::Result<Arc<dyn Seat>, sightline_client::ClientError>,
    /// The selection overlays' frozen frames and the confirmed region.
    pub selecting: overlay::Selecting,
    /// When the process began, for the start-up time in the log.
    pub started: std::time::Instant,
}

/// Starts the sidebar with its state in `config_dir`.
pub fn run(config_dir: PathBuf, started: std::time::Instant) -> anyhow::Result<()> {
    // One sidebar per user: a second start shows the first one's window.
    let Some(instance) = sightline_client::instance::acquire(&config_dir)? else {
        println!("Sightline is already running; its sidebar was brought to the front.");
        return Ok(());
    };
    webkit::prepare_environment();
    let runtime = tokio::runtime::Runtime::new()?;
    let desktop = runtime.block_on(Desktop::open(&config_dir, true))?;
    tauri::async_runtime::set(runtime.handle().clone());
    let runtime_handle = runtime.handle().clone();

    let builder = commands::bindings();
    let app = tauri::Builder::default();
    // Windows has no Unix socket for the instance lock; its own
    // single-instance support brings the first sidebar forward instead.
    #[cfg(windows)]
    let app = app.plugin(tauri_plugin_single_instance::init(|app, _, _| {
        sidebar::bring_to_front(app)
    }));
    let app = app
        .plugin(hotkeys::plugin())
        .plugin(tauri_plugin_dialog::init())
        .invoke_handler(builder.invoke_handler())
        .register_uri_scheme_protocol(overlay::SCHEME, |context, request| {
            overlay::serve_frame(context.app_handle(), request.uri().path())
        })
        .setup(move |app| {
            builder.mount_events(app);
            let clipboard = Arc::new(sightline_client::clipboard::Clipboard::new());
            let seat = open_seat(app.handle(), clipboard.clone());
            if let Err(error) = &seat {
                tracing::warn!(%error, "rewriting text in other applications is unavailable");
            }
            let ambient = ambient::Ambient::start(
                app.handle(),
                desktop.clone(),
                seat.as_ref().ok().cloned(),
                runtime_handle.clone(),
            )?;
            app.manage(AppState {
                desktop: desktop.clone(),
                ambient,
                clipboard,
                seat,
                selecting: overlay::Selecting::default(),
                started,
            });
            let window = sidebar::create(app.handle(), &desktop.settings())?;
            webkit::tune(&window);
            tray::create(app.handle())?;
            hotkeys::register(app.handle(), &desktop.settings().hotkeys);
            commands::spawn_connection_watch(app.handle().clone(), desktop.clone());
            let handle = app.handle().clone();
            instance.on_activate(move || sidebar::bring_to_front(&handle));
            Ok(())
        })
        .build(tauri::generate_context!())?;
    app.run(|_, _| {});
    drop(runtime);
    Ok(())
}

/// The real seat. macOS wants keystrokes from the main thread; elsewhere
/// they get a thread of their own.
fn open_seat(
    app: &tauri::AppHandle,
    clipboard: Arc<sightline_client::clipboard::Clipboard>,
) -> std::result::Result<Arc<dyn Seat>, sightline_client::ClientError> {
    let keyboard = if cfg!(target_os = "macos") {
        let app = app.clone();
        Keyboard::with_runner(Arc::new(move |job| {
            if let Err(error) = app.run_on_main_thread(job) {
                tracing::warn!(%error, "keystrokes could not reach the main thread");
            }
        }))
    } else {
        Keyboard::on_own_thread()?
    };
    Ok(Arc::new(SystemSeat::open(clipboard, keyboard)?))
}
