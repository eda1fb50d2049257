//! The user's choices for ambient awareness, their limits, and the
//! exclusions the privacy gate applies (applications and window titles
//! never looked at).

use crate::error::ClientError;
use crate::seat::WindowRef;
use serde::{Deserialize, Serialize};
use std::time::Duration;

pub const MIN_COOLDOWN_SECS: u32 = 5;

/// The user's choices for ambient awareness.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(default)]
pub struct AmbientSettings {
    /// Off until the user turns it on.
    pub enabled: bool,
    /// The mode insights are asked in (its id); the sidebar's mode when
    /// not chosen.
    pub mode: Option<String>,
    /// Seconds between uploads at most; at least [`MIN_COOLDOWN_SECS`].
    pub cooldown_secs: u32,
    /// The share of the screen, in percent (1–100), that must change
    /// before it is sent again.
    pub threshold_percent: u32,
    /// Applications never looked at (matched in their name, any case).
    pub excluded_apps: Vec<String>,
    /// Window titles never looked at (matched in the title, any case).
    pub excluded_titles: Vec<String>,
}

impl Default for AmbientSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            mode: None,
            cooldown_secs: 30,
            threshold_percent: 5,
            excluded_apps: [
                "keepassxc",
                "keepass",
                "1password",
                "bitwarden",
                "lastpass",
                "dashlane",
                "enpass",
                "keeper",
                "proton pass",
                "seahorse",
                "kwalletmanager",
            ]
            .map(String::from)
            .to_vec(),
            excluded_titles: [
                "private browsing",
                "incognito",
                "inprivate",
                "private window",
                "password",
            ]
            .map(String::from)
            .to_vec(),
        }
    }
}

impl AmbientSettings {
    pub fn normalize(&mut self) {
        self.cooldown_secs = self.cooldown_secs.clamp(MIN_COOLDOWN_SECS, 24 * 3600);
        self.threshold_percent = self.threshold_percent.clamp(1, 100);
        for list in [&mut self.excluded_apps, &mut self.excluded_titles] {
            list.iter_mut().for_each(|entry| *entry = entry.trim().to_owned());
            list.retain(|entry| !entry.is_empty());
            list.dedup();
        }
    }

    /// Refuses values outside their ranges (the settings page says why,
    /// rather than saving something else than the user typed).
    pub fn validate(&self) -> Result<(), ClientError> {
        if !(MIN_COOLDOWN_SECS..=24 * 3600).contains(&self.cooldown_secs) {
            return Err(ClientError::invalid(
                "cooldown",
                format!("give {MIN_COOLDOWN_SECS} to 86400 seconds"),
            ));
        }
        if !(1..=100).contains(&self.threshold_percent) {
            return Err(ClientError::invalid("change threshold", "give 1 to 100 percent"));
        }
        for (what, list) in [
            ("excluded applications", &self.excluded_apps),
            ("excluded window titles", &self.excluded_titles),
        ] {
            if list.len() > 200 {
                return Err(ClientError::invalid(what, "at most 200 entries"));
            }
            if let Some(long) = list.iter().find(|entry| entry.chars().count() > 200) {
                return Err(ClientError::invalid(
                    what,
                    format!(
                        "\"{}…\" is longer than 200 characters",
                        long.chars().take(20).collect::<String>()
                    ),
                ));
            }
        }
        if self.mode.as_ref().is_some_and(|mode| mode.len() > 200) {
            return Err(ClientError::invalid("mode", "not a mode id"));
        }
        Ok(())
    }

    pub fn cooldown(&self) -> Duration {
        Duration::from_secs(u64::from(self.cooldown_secs.max(MIN_COOLDOWN_SECS)))
    }

    /// The exclusion that `window` falls under, if any.
    pub fn excludes(&self, window: &WindowRef) -> Option<String> {
        let app = window.app.to_lowercase();
        let title = window.title.to_lowercase();
        self.excluded_apps
            .iter()
            .find(|entry| !entry.is_empty() && app.contains(&entry.to_lowercase()))
            .or_else(|| {
                self.excluded_titles
                    .iter()
                    .find(|entry| !entry.is_empty() && title.contains(&entry.to_lowercase()))
            })
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_out_of_range_are_refused() {
        assert!(AmbientSettings::default().validate().is_ok());
        let short = AmbientSettings {
            cooldown_secs: 4,
            ..AmbientSettings::default()
        };
        assert!(matches!(short.validate(), Err(ClientError::Invalid { what, .. }) if what == "cooldown"));
        let none = AmbientSettings {
            threshold_percent: 0,
            ..AmbientSettings::default()
        };
        assert!(none.validate().is_err());
        let long = AmbientSettings {
            excluded_titles: vec!["x".repeat(201)],
            ..AmbientSettings::default()
        };
        assert!(long.validate().is_err());
    }

    #[test]
    fn exclusions_match_apps_and_titles_in_any_case() {
        let settings = AmbientSettings::default();
        let window = |app: &str, title: &str| WindowRef {
            id: 1,
            pid: None,
            app: app.into(),
            title: title.into(),
        };
        assert_eq!(
            settings.excludes(&window("KeePassXC", "Passwords.kdbx")),
            Some("keepassxc".into())
        );
        assert_eq!(
            settings.excludes(&window("firefox", "New Private Browsing tab — Mozilla Firefox")),
            Some("private browsing".into())
        );
        assert_eq!(
            settings.excludes(&window("chromium", "New Tab - Chromium (Incognito)")),
            Some("incognito".into())
        );
        assert_eq!(settings.excludes(&window("gedit", "notes.txt")), None);

        let mut odd = AmbientSettings {
            cooldown_secs: 1,
            threshold_percent: 0,
            excluded_apps: vec!["  ".into(), " Vault ".into()],
            ..AmbientSettings::default()
        };
        odd.normalize();
        assert_eq!(odd.cooldown_secs, MIN_COOLDOWN_SECS);
        assert_eq!(odd.threshold_percent, 1);
        assert_eq!(odd.excluded_apps, vec!["Vault".to_owned()]);
        assert_eq!(odd.excludes(&window("vault-app", "x")), Some("Vault".into()));
    }
}
