//! The tray icon: show or hide the sidebar, pause ambient awareness, quit.

use crate::ambient;
use crate::sidebar;
use tauri::menu::{CheckMenuItem, Menu, MenuItem, PredefinedMenuItem};
use tauri::tray::TrayIconBuilder;
use tauri::{AppHandle, Manager};

pub fn create(app: &AppHandle) -> tauri::Result<()> {
    let show = MenuItem::with_id(app, "show", "Show or hide the sidebar", true, None::<&str>)?;
    let pause = CheckMenuItem::with_id(app, "pause", "Pause ambient awareness", true, false, None::<&str>)?;
    let quit = MenuItem::with_id(app, "quit", "Quit Sightline", true, None::<&str>)?;
    let separator = PredefinedMenuItem::separator(app)?;
    let menu = Menu::with_items(app, &[&show, &pause, &separator, &quit])?;
    app.manage(ambient::PauseItem(pause.clone()));
    let mut tray = TrayIconBuilder::with_id("sightline")
        .tooltip("Sightline")
        .menu(&menu)
        .on_menu_event(move |app, event| match event.id().as_ref() {
            "show" => sidebar::toggle_visible(app),
            "pause" => ambient::toggle_paused(app),
            "quit" => app.exit(0),
            _ => {}
        });
    if let Some(icon) = app.default_window_icon() {
        tray = tray.icon(icon.clone());
    }
    tray.build(app)?;
    Ok(())
}
