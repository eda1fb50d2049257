//! The Sightline sidebar as a Tauri 2 app. This crate is the thin shell
//! around `sightline_client`: windows ([`sidebar`], [`overlay`]), tray
//! ([`tray`]), global shortcuts ([`hotkeys`]), WebKit tuning ([`webkit`]),
//! ambient awareness's link to the windows ([`ambient`]), the rewrite
//! shortcut ([`rewrite`]), the connection status line ([`connection`]),
//! and the commands the UI calls ([`commands`]), each a few lines over
//! the client. The events the pages hear are in [`events`]; the UI's
//! TypeScript bindings are generated from [`bindings::builder`]. What the
//! commands share is [`state::AppState`].

pub mod ambient;
pub mod bindings;
pub mod commands;
pub mod connection;
pub mod events;
pub mod hotkeys;
pub mod overlay;
pub mod rewrite;
pub mod sidebar;
pub mod state;
pub mod tray;
pub mod webkit;

use sightline_client::clipboard::Clipboard;
use sightline_client::desktop::Desktop;
use sightline_client::instance::Message;
use sightline_client::platform::{Action, Platform};
use sightline_client::seat::{keyboard::Keyboard, Windows};
use state::AppState;
use std::path::PathBuf;
use std::sync::Arc;
use tauri::Manager;
use tauri_specta::Event;

/// Starts the sidebar with its state in `config_dir`.
///
/// With `action` (from `--action`, which GNOME's keybindings run), a
/// running sidebar is asked to do it; without one running, the sidebar
/// starts and does it once it is up.
pub fn run(config_dir: PathBuf, started: std::time::Instant, action: Option<Action>) -> anyhow::Result<()> {
    // One sidebar per user: a second start hands its message to the first.
    let message = action.map_or(Message::Activate, Message::Action);
    let Some(instance) = sightline_client::instance::acquire(&config_dir, message)? else {
        if action.is_none() {
            println!("Sightline is already running; its sidebar was brought to the front.");
        }
        return Ok(());
    };
    let platform = Platform::detect(&config_dir);
    sidebar::choose_window_backend();
    webkit::prepare_environment();
    let runtime = tokio::runtime::Runtime::new()?;
    let desktop = runtime.block_on(Desktop::open(&config_dir, true))?;
    tauri::async_runtime::set(runtime.handle().clone());
    let runtime_handle = runtime.handle().clone();

    let builder = bindings::builder();
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
            let clipboard = Arc::new(Clipboard::new());
            let seat = platform.open_seat(clipboard.clone(), || keyboard(app.handle()));
            if let Err(error) = &seat {
                tracing::warn!(%error, "rewriting text in other applications is unavailable");
            }
            // Before ambient awareness starts: its gate asks whether an
            // overlay covers the screen.
            app.manage(overlay::Selecting::default());
            let ambient = ambient::Ambient::start(
                app.handle(),
                desktop.clone(),
                match &seat {
                    Ok(seat) => Some(seat.clone() as Arc<dyn Windows>),
                    Err(_) => platform.windows.clone(),
                },
                platform.screens.clone(),
                runtime_handle.clone(),
            )?;
            app.manage(ambient);
            app.manage(AppState {
                desktop: desktop.clone(),
                clipboard,
                seat,
                screens: platform.screens.clone(),
                shortcuts: platform.shortcuts,
                started,
            });
            let handle = app.handle().clone();
            platform.screens.on_access_change(Box::new(move |access| {
                if let Err(error) = (events::ScreenAccessChanged { access }).emit(&handle) {
                    tracing::debug!(%error, "the sidebar did not hear of it");
                }
            }));
            let window = sidebar::create(app.handle(), &desktop.settings())?;
            webkit::tune(&window);
            tray::create(app.handle())?;
            hotkeys::register(app.handle(), platform.shortcuts, &desktop.settings().hotkeys);
            connection::spawn_watch(app.handle().clone(), desktop.clone());
            connection::spawn_renewal(app.handle().clone(), desktop.clone());
            let handle = app.handle().clone();
            instance.on_message(move |message| match message {
                Message::Activate => sidebar::bring_to_front(&handle),
                Message::Action(action) => hotkeys::run(&handle, action),
            });
            if let Some(action) = action {
                hotkeys::run(app.handle(), action);
            }
            Ok(())
        })
        .build(tauri::generate_context!())?;
    app.run(|_, _| {});
    drop(runtime);
    Ok(())
}

/// The keyboard for X11 keystrokes. macOS wants keystrokes from the main
/// thread; elsewhere they get a thread of their own.
fn keyboard(app: &tauri::AppHandle) -> std::result::Result<Keyboard, sightline_client::ClientError> {
    if cfg!(target_os = "macos") {
        let app = app.clone();
        Ok(Keyboard::with_runner(Arc::new(move |job| {
            if let Err(error) = app.run_on_main_thread(job) {
                tracing::warn!(%error, "keystrokes could not reach the main thread");
            }
        })))
    } else {
        Keyboard::on_own_thread()
    }
}
