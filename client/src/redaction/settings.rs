//! What the user chose for redaction: which categories are looked for,
//! their own patterns, and how many sent pictures are kept to look at.

use super::category::Category;
use serde::{Deserialize, Serialize};

/// At most this many own patterns.
pub const MAX_PATTERNS: usize = 32;
/// At most this many sent pictures are kept.
pub const MAX_KEPT_LOOKS: u32 = 50;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(default)]
pub struct RedactionSettings {
    /// Redaction on (the default). An administrator's policy keeps it on.
    pub enabled: bool,
    /// The categories looked for. E-mail addresses and phone numbers are
    /// off by default: they are ordinary on most screens.
    pub categories: Vec<Category>,
    /// The user's own regular expressions; a match is masked as "own pattern".
    pub custom_patterns: Vec<String>,
    /// How many of the last ambient looks keep their sent picture on this
    /// computer for "What was sent"; older ones are deleted.
    pub keep_sent_looks: u32,
}

impl Default for RedactionSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            categories: Category::ALL.into_iter().filter(|c| c.on_by_default()).collect(),
            custom_patterns: Vec::new(),
            keep_sent_looks: 10,
        }
    }
}

impl RedactionSettings {
    /// Whether `category` is looked for.
    pub fn looks_for(&self, category: Category) -> bool {
        self.categories.contains(&category)
    }

    /// Brings a hand-edited file within bounds: a pattern that does not
    /// compile is dropped rather than stopping every upload.
    pub fn normalize(&mut self) {
        self.keep_sent_looks = self.keep_sent_looks.min(MAX_KEPT_LOOKS);
        self.custom_patterns
            .retain(|pattern| super::rules::check_custom(pattern).is_ok());
        self.custom_patterns.truncate(MAX_PATTERNS);
        let mut seen = Vec::new();
        self.categories.retain(|c| {
            let new = !seen.contains(c);
            seen.push(*c);
            new
        });
    }

    /// The settings as an administrator's policy leaves them: on, with
    /// every default category, whatever the user turned off.
    pub fn enforced(&self) -> Self {
        let mut categories = self.categories.clone();
        for category in Category::ALL.into_iter().filter(|c| c.on_by_default()) {
            if !categories.contains(&category) {
                categories.push(category);
            }
        }
        Self {
            enabled: true,
            categories,
            ..self.clone()
        }
    }
}
