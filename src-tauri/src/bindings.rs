//! The sidebar's TypeScript bindings: every command and event, collected
//! for the invoke handler and exported to `sidebar-ui/src/bindings.ts`
//! (a unit test fails when that file is stale).

use crate::commands;
use crate::events;
use tauri_specta::{collect_commands, collect_events};

/// Every command and event, for the invoke handler and the bindings.
pub fn builder() -> tauri_specta::Builder<tauri::Wry> {
    tauri_specta::Builder::<tauri::Wry>::new()
        .commands(collect_commands![
            commands::overview,
            commands::connection_status,
            commands::certificate_notice,
            commands::request_access_again,
            commands::fetch_server_ca,
            commands::import_package,
            commands::check_connection,
            commands::reset_setup,
            commands::login,
            commands::verify_code,
            commands::logout,
            commands::modes,
            commands::choose_mode,
            commands::ask,
            commands::stop,
            commands::set_collapsed,
            commands::set_hotkeys,
            commands::copy_text,
            commands::ui_ready,
            commands::rewrite_panel,
            commands::rewrite_text,
            commands::rewrite_diff,
            commands::apply_rewrite,
            commands::cancel_rewrite,
            commands::set_rewrite_settings,
            commands::injection_log,
            commands::select_region,
            commands::overlay_info,
            commands::overlay_confirm,
            commands::overlay_cancel,
            commands::overlay_painted,
            commands::discard_region,
            commands::attach_screen,
            commands::send_region_unredacted,
            commands::redaction_overview,
            commands::set_redaction,
            commands::sent_picture,
            commands::waiting_picture,
            commands::ambient_status,
            commands::set_ambient_settings,
            commands::set_ambient_paused,
            commands::upload_log,
            commands::screen_access,
            commands::ask_screen_access,
        ])
        .events(collect_events![
            events::StatusChanged,
            events::CertificateChanged,
            events::SidebarChanged,
            events::AmbientChanged,
            events::AmbientInsight,
            events::RewriteOpened,
            events::ShortcutFailed,
            events::RegionSelected,
            events::RegionChecking,
            events::OverlayChanged,
            events::ScreenAccessChanged
        ])
        .dangerously_cast_bigints_to_number()
        .disable_serde_phases()
}

/// Writes the TypeScript bindings for the UI to `path`.
pub fn export(path: &std::path::Path) -> anyhow::Result<()> {
    let header = "// Generated from src-tauri/src/bindings.rs by `cargo test -p sightline-desktop`\n\
                  // with SIGHTLINE_WRITE_BINDINGS=1. Do not edit by hand.\n";
    builder()
        .export(specta_typescript::Typescript::default().header(header), path)
        .map_err(|e| anyhow::anyhow!("exporting the bindings: {e}"))
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
            super::export(&committed).unwrap();
        }
        let dir = tempfile::tempdir().unwrap();
        let fresh = dir.path().join("bindings.ts");
        super::export(&fresh).unwrap();
        let fresh = std::fs::read_to_string(fresh).unwrap();
        let committed = std::fs::read_to_string(&committed).unwrap_or_default();
        assert!(
            fresh == committed,
            "sidebar-ui/src/bindings.ts is stale: run SIGHTLINE_WRITE_BINDINGS=1 cargo test -p sightline-desktop"
        );
    }
}
