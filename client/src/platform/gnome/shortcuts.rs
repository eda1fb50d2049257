//! Global shortcuts on GNOME without the GlobalShortcuts portal: GNOME's
//! own custom keybindings, which fire whichever window has the focus (X11
//! key grabs fire only while an XWayland window has it).
//!
//! Each shortcut is an entry under
//! `org.gnome.settings-daemon.plugins.media-keys custom-keybindings` whose
//! command is `sightline --action <action>`; that start hands the action to
//! the running app over the instance socket ([`crate::instance`]). The
//! user's own entries are kept as they are: ours have paths of their own
//! (`…/custom-keybindings/sightline-<action>/`), are added to the list
//! beside theirs, and are rewritten or removed when the user changes or
//! clears a shortcut in Sightline's settings.

use crate::error::ClientError;
use crate::platform::action::Action;
use gio::prelude::*;
use std::path::Path;

const MEDIA_KEYS: &str = "org.gnome.settings-daemon.plugins.media-keys";
const CUSTOM_KEYBINDING: &str = "org.gnome.settings-daemon.plugins.media-keys.custom-keybinding";
const LIST: &str = "custom-keybindings";
const BASE: &str = "/org/gnome/settings-daemon/plugins/media-keys/custom-keybindings/";

fn failed(detail: impl Into<String>) -> ClientError {
    ClientError::invalid("shortcut", detail)
}

/// Where our entry for `action` lives.
fn entry_path(action: Action) -> String {
    format!("{BASE}sightline-{}/", action.as_str())
}

/// Whether GNOME's keybinding settings exist on this system.
pub fn available() -> bool {
    gio::SettingsSchemaSource::default()
        .and_then(|source| source.lookup(MEDIA_KEYS, true))
        .is_some()
}

/// Makes GNOME's keybindings match `bindings` (an empty accelerator
/// removes that action's entry). `program` is the app's executable and
/// `config_dir` the running instance's, which the command names so that it
/// reaches this instance.
pub fn install(bindings: &[(Action, &str)], program: &Path, config_dir: &Path) -> Result<(), ClientError> {
    if !available() {
        return Err(failed("GNOME's keyboard settings are not installed"));
    }
    let converted: Vec<(Action, Option<String>)> = bindings
        .iter()
        .map(|(action, accelerator)| {
            let accelerator = accelerator.trim();
            if accelerator.is_empty() {
                Ok((*action, None))
            } else {
                to_gnome(accelerator).map(|gnome| (*action, Some(gnome)))
            }
        })
        .collect::<Result<_, _>>()?;
    let settings = gio::Settings::new(MEDIA_KEYS);
    let before: Vec<String> = settings.strv(LIST).iter().map(|p| p.to_string()).collect();
    let mut list = before.clone();
    for (action, gnome) in &converted {
        let path = entry_path(*action);
        let entry = gio::Settings::with_path(CUSTOM_KEYBINDING, &path);
        match gnome {
            Some(binding) => {
                set(&entry, "name", &format!("Sightline: {}", action.describe()))?;
                set(&entry, "command", &command(program, config_dir, *action))?;
                set(&entry, "binding", binding)?;
                if !list.contains(&path) {
                    list.push(path);
                }
            }
            None => {
                for key in ["name", "command", "binding"] {
                    entry.reset(key);
                }
                list.retain(|p| p != &path);
            }
        }
    }
    if list != before {
        let list: Vec<&str> = list.iter().map(String::as_str).collect();
        settings
            .set_strv(LIST, list.as_slice())
            .map_err(|e| failed(format!("GNOME's keybinding list: {e}")))?;
    }
    gio::Settings::sync();
    Ok(())
}

fn set(entry: &gio::Settings, key: &str, value: &str) -> Result<(), ClientError> {
    entry
        .set_string(key, value)
        .map_err(|e| failed(format!("GNOME keybinding {key}: {e}")))
}

/// The command line GNOME runs, quoted for GLib's shell parser.
fn command(program: &Path, config_dir: &Path, action: Action) -> String {
    format!(
        "{} --config-dir {} --action {}",
        quote(program),
        quote(config_dir),
        action.as_str()
    )
}

fn quote(path: &Path) -> String {
    format!("'{}'", path.to_string_lossy().replace('\'', "'\\''"))
}

/// "Ctrl+Shift+Space" (the app's accelerators) → "<Control><Shift>space"
/// (GNOME's).
pub fn to_gnome(accelerator: &str) -> Result<String, ClientError> {
    let parts: Vec<&str> = accelerator.split('+').map(str::trim).collect();
    let Some((key, modifiers)) = parts.split_last() else {
        return Err(failed(format!("{accelerator:?} names no key")));
    };
    let mut gnome = String::new();
    for modifier in modifiers {
        let name = match modifier.to_ascii_lowercase().as_str() {
            "ctrl" | "control" | "commandorcontrol" | "cmdorctrl" | "commandorctrl" | "cmdorcontrol" => {
                "<Control>"
            }
            "shift" => "<Shift>",
            "alt" | "option" => "<Alt>",
            "super" | "meta" | "command" | "cmd" => "<Super>",
            other => return Err(failed(format!("{accelerator:?}: unknown modifier {other:?}"))),
        };
        gnome.push_str(name);
    }
    gnome.push_str(&key_name(key).ok_or_else(|| failed(format!("{accelerator:?}: unknown key {key:?}")))?);
    Ok(gnome)
}

/// A key in the app's accelerator syntax as an X keysym name.
fn key_name(key: &str) -> Option<String> {
    let lower = key.to_ascii_lowercase();
    let stripped = lower
        .strip_prefix("key")
        .or_else(|| lower.strip_prefix("digit"))
        .filter(|rest| rest.len() == 1)
        .unwrap_or(&lower);
    if stripped.len() == 1 && stripped.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Some(stripped.to_owned());
    }
    if let Some(number) = lower.strip_prefix('f').and_then(|n| n.parse::<u8>().ok()) {
        return (1..=24).contains(&number).then(|| format!("F{number}"));
    }
    let named = match lower.as_str() {
        "space" => "space",
        "enter" | "return" => "Return",
        "tab" => "Tab",
        "escape" | "esc" => "Escape",
        "backspace" => "BackSpace",
        "delete" => "Delete",
        "insert" => "Insert",
        "home" => "Home",
        "end" => "End",
        "pageup" => "Page_Up",
        "pagedown" => "Page_Down",
        "up" | "arrowup" => "Up",
        "down" | "arrowdown" => "Down",
        "left" | "arrowleft" => "Left",
        "right" | "arrowright" => "Right",
        "," | "comma" => "comma",
        "." | "period" => "period",
        "/" | "slash" => "slash",
        ";" | "semicolon" => "semicolon",
        "-" | "minus" => "minus",
        "=" | "equal" => "equal",
        _ => return None,
    };
    Some(named.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accelerators_become_gnome_bindings() {
        assert_eq!(to_gnome("Ctrl+Shift+Space").unwrap(), "<Control><Shift>space");
        assert_eq!(to_gnome("Ctrl+Alt+S").unwrap(), "<Control><Alt>s");
        assert_eq!(to_gnome("CommandOrControl+KeyR").unwrap(), "<Control>r");
        assert_eq!(to_gnome("Super+F12").unwrap(), "<Super>F12");
        assert_eq!(to_gnome("Alt+Digit1").unwrap(), "<Alt>1");
        assert_eq!(to_gnome("Shift+ArrowUp").unwrap(), "<Shift>Up");
        assert!(to_gnome("Hyper+S").is_err());
        assert!(to_gnome("Ctrl+F99").is_err());
        assert!(to_gnome("Ctrl+Nothing").is_err());
    }

    #[test]
    fn the_command_survives_gnomes_shell_parsing() {
        let command = command(
            Path::new("/opt/it's here/sightline"),
            Path::new("/home/a/.config/sightline"),
            Action::SelectRegion,
        );
        assert_eq!(
            command,
            r"'/opt/it'\''s here/sightline' --config-dir '/home/a/.config/sightline' --action select-region"
        );
    }
}
