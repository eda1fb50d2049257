//! The kinds of secret and where one was found: the words the rules, the
//! masks, the settings and the upload log share.

use serde::{Deserialize, Serialize};

/// The kinds of secret, as the user turns them on and off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "snake_case")]
pub enum Category {
    PrivateKey,
    Token,
    Password,
    CardNumber,
    Iban,
    HighEntropy,
    Email,
    Phone,
    Custom,
}

impl Category {
    pub const ALL: [Category; 9] = [
        Category::PrivateKey,
        Category::Token,
        Category::Password,
        Category::CardNumber,
        Category::Iban,
        Category::HighEntropy,
        Category::Email,
        Category::Phone,
        Category::Custom,
    ];

    /// In words, as the masks and the upload log say it.
    pub fn label(self) -> &'static str {
        match self {
            Category::PrivateKey => "private key",
            Category::Token => "token",
            Category::Password => "password",
            Category::CardNumber => "card number",
            Category::Iban => "iban",
            Category::HighEntropy => "random string",
            Category::Email => "email",
            Category::Phone => "phone",
            Category::Custom => "own pattern",
        }
    }

    /// E-mail addresses and phone numbers are on most screens and rarely
    /// secret, so they are looked for only when the user asks.
    pub fn on_by_default(self) -> bool {
        !matches!(self, Category::Email | Category::Phone)
    }
}

/// One secret in a text: where, and what it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Byte range in the text.
    pub start: usize,
    pub end: usize,
    pub category: Category,
    /// What the mask says, e.g. "aws key".
    pub kind: &'static str,
}

pub(super) fn finding(start: usize, end: usize, category: Category, kind: &'static str) -> Finding {
    Finding {
        start,
        end,
        category,
        kind,
    }
}
