//! Tauri's build step, with the app's own commands in its ACL manifest.
//!
//! With a manifest every command gets an `allow-<command>` permission and
//! is refused to any page whose capability (`capabilities/*.json`) does not
//! list it: the sidebar gets the sidebar's commands, the selection overlays
//! only the overlay's. Before Tauri's step this script checks that the list
//! below is the invoke handler's list in `src/bindings.rs` and that every
//! command is granted somewhere, so a new command cannot be forgotten here
//! (it would be refused to every page) or left out of every capability.

use std::collections::BTreeSet;
use std::error::Error;
use std::path::Path;

/// Every command of the invoke handler (`collect_commands!` in
/// `src/bindings.rs`), in the same order.
const COMMANDS: &[&str] = &[
    "overview",
    "connection_status",
    "certificate_notice",
    "request_access_again",
    "fetch_server_ca",
    "import_package",
    "check_connection",
    "reset_setup",
    "login",
    "verify_code",
    "logout",
    "modes",
    "choose_mode",
    "ask",
    "stop",
    "set_collapsed",
    "set_hotkeys",
    "copy_text",
    "ui_ready",
    "rewrite_panel",
    "rewrite_text",
    "rewrite_diff",
    "apply_rewrite",
    "cancel_rewrite",
    "set_rewrite_settings",
    "injection_log",
    "select_region",
    "overlay_info",
    "overlay_confirm",
    "overlay_cancel",
    "overlay_painted",
    "discard_region",
    "attach_screen",
    "send_region_unredacted",
    "redaction_overview",
    "set_redaction",
    "sent_picture",
    "waiting_picture",
    "ambient_status",
    "set_ambient_settings",
    "set_ambient_paused",
    "upload_log",
    "screen_access",
    "ask_screen_access",
];

type BuildError = Box<dyn Error + Send + Sync>;

fn main() {
    // A plain message, with its causes, rather than `main`'s `Debug` of the
    // error: cargo shows it as it is when the build fails.
    if let Err(error) = build() {
        eprintln!("error: {error:#}");
        std::process::exit(1);
    }
}

fn build() -> Result<(), BuildError> {
    println!("cargo:rerun-if-changed=src/bindings.rs");
    check_commands(Path::new("src/bindings.rs"), Path::new("capabilities"))?;
    tauri_build::try_build(
        tauri_build::Attributes::new().app_manifest(tauri_build::AppManifest::new().commands(COMMANDS)),
    )?;
    Ok(())
}

/// The commands `collect_commands![...]` names in `bindings`.
fn handler_commands(bindings: &str) -> Result<Vec<String>, BuildError> {
    let start = bindings
        .find("collect_commands![")
        .ok_or("src/bindings.rs has no collect_commands![...]")?;
    let list = &bindings[start..];
    let end = list.find(']').ok_or("collect_commands![ is not closed")?;
    Ok(list[..end]
        .split("commands::")
        .skip(1)
        .map(|rest| {
            rest.chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect::<String>()
        })
        .filter(|name| !name.is_empty())
        .collect())
}

/// Fails the build when [`COMMANDS`] and the invoke handler disagree, or
/// when a command's permission is in no capability file.
fn check_commands(bindings: &Path, capabilities: &Path) -> Result<(), BuildError> {
    let handler = handler_commands(&std::fs::read_to_string(bindings)?)?;
    let handler_set: BTreeSet<&str> = handler.iter().map(String::as_str).collect();
    let listed: BTreeSet<&str> = COMMANDS.iter().copied().collect();
    let unlisted: Vec<_> = handler_set.difference(&listed).collect();
    let stale: Vec<_> = listed.difference(&handler_set).collect();
    if !unlisted.is_empty() || !stale.is_empty() {
        return Err(format!(
            "build.rs's COMMANDS must be the commands of src/bindings.rs: add {unlisted:?} \
             (and give each `allow-<command>` to the capability of the page that calls it), \
             remove {stale:?}"
        )
        .into());
    }

    let mut granted = String::new();
    for entry in std::fs::read_dir(capabilities)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "json") {
            granted.push_str(&std::fs::read_to_string(&path)?);
        }
    }
    let ungranted: Vec<String> = COMMANDS
        .iter()
        .map(|command| format!("allow-{}", command.replace('_', "-")))
        .filter(|permission| !granted.contains(&format!("\"{permission}\"")))
        .collect();
    if !ungranted.is_empty() {
        return Err(format!(
            "no capability grants {ungranted:?}: add each to capabilities/default.json (the \
             sidebar) or capabilities/overlay.json (the selection overlays), for the page that \
             calls it"
        )
        .into());
    }
    Ok(())
}
