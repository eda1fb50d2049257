//! The user's settings, as JSON in the OS's config directory
//! (`~/.config/sightline/settings.json` on Linux). Secrets are not here.

use crate::error::ClientError;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub const MIN_SIDEBAR_WIDTH: u32 = 280;
pub const MAX_SIDEBAR_WIDTH: u32 = 640;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(default)]
pub struct Settings {
    /// `https://host:port` of the Sightline server.
    pub server_url: Option<String>,
    pub username: Option<String>,
    /// The mode last chosen (its id).
    pub mode: Option<String>,
    /// Logical pixels, 280–640.
    pub sidebar_width: u32,
    /// Folded to a slim tab at the screen edge.
    pub collapsed: bool,
    pub hotkeys: Hotkeys,
    pub rewrite: RewriteSettings,
    pub ambient: crate::ambient::AmbientSettings,
    pub capture: CaptureSettings,
    pub redaction: crate::redaction::RedactionSettings,
}

/// How pictures of the screen are prepared for upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(default)]
pub struct CaptureSettings {
    /// Larger pictures are scaled down to this longest side (256–8192).
    pub max_side: u32,
    /// JPEG quality for screens and large regions (30–100).
    pub jpeg_quality: u8,
}

impl CaptureSettings {
    pub fn validate(&self) -> Result<(), ClientError> {
        if !(256..=8192).contains(&self.max_side) {
            return Err(ClientError::invalid("longest side", "give 256 to 8192 pixels"));
        }
        if !(30..=100).contains(&self.jpeg_quality) {
            return Err(ClientError::invalid("JPEG quality", "give 30 to 100"));
        }
        Ok(())
    }
}

impl Default for CaptureSettings {
    fn default() -> Self {
        Self {
            max_side: crate::capture::DEFAULT_MAX_SIDE,
            jpeg_quality: crate::capture::DEFAULT_JPEG_QUALITY,
        }
    }
}

/// Typing other applications' text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(default)]
pub struct RewriteSettings {
    /// The rewrite mode last chosen (its id).
    pub mode: Option<String>,
    /// ASCII replacements up to this many characters are typed; longer or
    /// non-ASCII ones are pasted.
    pub type_limit: u32,
    /// The longest replacement that will be put into another application.
    pub max_chars: u32,
}

pub const MAX_REWRITE_CHARS: u32 = 65_536;

impl Default for RewriteSettings {
    fn default() -> Self {
        Self {
            mode: None,
            type_limit: 32,
            max_chars: 20_000,
        }
    }
}

/// Global shortcuts, in the accelerator syntax of the shell
/// (`Ctrl+Shift+Space`, `Alt+F1`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(default)]
pub struct Hotkeys {
    /// Folds the sidebar to its tab and back.
    pub toggle_sidebar: String,
    /// Rewrites the text selected in the focused application.
    pub rewrite: String,
    /// Freezes the screen to select a region to ask about.
    pub select_region: String,
    /// Pauses ambient awareness, or resumes it.
    pub pause_ambient: String,
}

impl Default for Hotkeys {
    fn default() -> Self {
        Self {
            toggle_sidebar: "Ctrl+Alt+S".into(),
            rewrite: "Ctrl+Shift+R".into(),
            select_region: "Ctrl+Shift+Space".into(),
            pause_ambient: "Ctrl+Alt+P".into(),
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            server_url: None,
            username: None,
            mode: None,
            sidebar_width: 360,
            collapsed: false,
            hotkeys: Hotkeys::default(),
            rewrite: RewriteSettings::default(),
            ambient: crate::ambient::AmbientSettings::default(),
            capture: CaptureSettings::default(),
            redaction: crate::redaction::RedactionSettings::default(),
        }
    }
}

impl Settings {
    /// Where settings live for this user.
    pub fn default_path() -> Option<PathBuf> {
        dirs::config_dir().map(|dir| dir.join("sightline").join("settings.json"))
    }

    /// Reads settings; a missing file gives the defaults.
    pub fn load(path: &Path) -> Result<Self, ClientError> {
        match std::fs::read(path) {
            Ok(bytes) => {
                let mut settings: Self = serde_json::from_slice(&bytes)
                    .map_err(|e| ClientError::invalid("settings file", format!("{}: {e}", path.display())))?;
                settings.normalize();
                Ok(settings)
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(error) => Err(ClientError::Io(format!("{}: {error}", path.display()))),
        }
    }

    /// Brings values into their allowed ranges.
    pub fn normalize(&mut self) {
        self.sidebar_width = self.sidebar_width.clamp(MIN_SIDEBAR_WIDTH, MAX_SIDEBAR_WIDTH);
        self.rewrite.max_chars = self.rewrite.max_chars.clamp(1, MAX_REWRITE_CHARS);
        self.ambient.normalize();
        self.capture.max_side = self.capture.max_side.clamp(256, 8192);
        self.capture.jpeg_quality = self.capture.jpeg_quality.clamp(30, 100);
        self.redaction.normalize();
    }

    /// Writes settings atomically (a crash never leaves half a file).
    pub fn save(&self, path: &Path) -> Result<(), ClientError> {
        let io = |e: std::io::Error| ClientError::Io(format!("{}: {e}", path.display()));
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let text = serde_json::to_vec_pretty(self).map_err(|e| ClientError::Io(e.to_string()))?;
        let temporary = path.with_extension("json.tmp");
        std::fs::write(&temporary, text).map_err(io)?;
        std::fs::rename(&temporary, path).map_err(io)
    }

    pub fn validate_server_url(url: &str) -> Result<String, ClientError> {
        let url = url.trim().trim_end_matches('/');
        let rest = url
            .strip_prefix("https://")
            .ok_or_else(|| ClientError::invalid("server address", "it must start with https://"))?;
        if rest.is_empty() || rest.contains(['/', ' ', '?', '#']) {
            return Err(ClientError::invalid(
                "server address",
                "give only https://host or https://host:port",
            ));
        }
        Ok(url.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_defaults_and_clamping() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sightline").join("settings.json");
        assert_eq!(Settings::load(&path).unwrap(), Settings::default());
        let settings = Settings {
            server_url: Some("https://sightline.example:8443".into()),
            sidebar_width: 500,
            ..Settings::default()
        };
        settings.save(&path).unwrap();
        assert_eq!(Settings::load(&path).unwrap(), settings);
        std::fs::write(&path, r#"{"sidebar_width": 5000}"#).unwrap();
        assert_eq!(Settings::load(&path).unwrap().sidebar_width, MAX_SIDEBAR_WIDTH);
    }

    #[test]
    fn server_addresses() {
        assert_eq!(
            Settings::validate_server_url(" https://s.example:8443/ ").unwrap(),
            "https://s.example:8443"
        );
        assert!(Settings::validate_server_url("http://s.example").is_err());
        assert!(Settings::validate_server_url("https://s.example/path").is_err());
    }
}
