//! What a secret looks like in text: the formats of well-known tokens,
//! private-key blocks, values after words such as "password", card numbers
//! and IBANs with their checksums, long random strings, and the user's own
//! patterns. Pure: text in, byte ranges out.
//!
//! The token formats are the providers' published ones, as gitleaks' default
//! rules describe them, widened where OCR misreads (a `0` read for an `O`,
//! a character lost at a line end), because a picture's text is never
//! exact. IBANs are checked with `iban_validate`; card numbers with Luhn.

use crate::error::ClientError;
use regex::{Regex, RegexBuilder};
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
            Category::Custom => "custom",
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

/// A format: the regex and which group is the secret (0: all of it).
#[derive(Debug)]
struct Format {
    category: Category,
    kind: &'static str,
    regex: Regex,
    group: usize,
}

/// The formats of well-known tokens. Lengths are a little wider than the
/// providers' exact ones, since OCR can lose or split a character.
const TOKEN_FORMATS: &[(&str, &str, usize)] = &[
    (
        "aws key",
        r"(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{15,17}",
        0,
    ),
    (
        "aws key",
        r"(?i)aws[\w.-]{0,20}?(?:secret|sec)[\w.-]{0,20}?\s*[=:]\s*[\x22']?([A-Za-z0-9/+]{38,42})",
        1,
    ),
    ("github token", r"\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{30,40}", 0),
    ("github token", r"github_pat_[A-Za-z0-9_]{50,90}", 0),
    ("gitlab token", r"\bglpat-[A-Za-z0-9_-]{18,24}", 0),
    (
        "gitlab token",
        r"\bgl(?:dt|rt|ptt|cbt|oas|soat|ft|imt|agent)-[A-Za-z0-9_-]{18,}",
        0,
    ),
    ("slack token", r"\bxox[abposre]-[A-Za-z0-9-]{10,}", 0),
    ("slack token", r"hooks\.slack\.com/services/[A-Za-z0-9+/]{30,}", 0),
    (
        "jwt",
        r"\beyJ[A-Za-z0-9_-]{8,}\.?eyJ[A-Za-z0-9_-]{8,}\.?[A-Za-z0-9_-]{8,}",
        0,
    ),
    ("google api key", r"AIza[0-9A-Za-z_-]{33,37}", 0),
    ("stripe key", r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{20,}", 0),
    (
        "api key",
        r"\bsk-(?:proj-|ant-(?:api|admin)\d\d-)?[A-Za-z0-9_-]{20,}",
        0,
    ),
    ("npm token", r"\bnpm_[A-Za-z0-9]{34,38}", 0),
    ("pypi token", r"pypi-AgE[A-Za-z0-9_-]{40,}", 0),
    ("age key", r"AGE-SECRET-KEY-1[0-9A-Z]{55,60}", 0),
    ("azure key", r"(?i)AccountKey=([A-Za-z0-9+/=]{40,})", 1),
];

/// Words that name a secret in a key/value layout (`DB_PASSWORD=…`,
/// `"api_key": …`, a form's "Password" field).
const SECRET_WORDS: &str = r"(?:pass(?:word|wd|phrase)?|pwd|secret|token|api[_ .-]?key|apikey|access[_ .-]?key|private[_ .-]?key|client[_ .-]?secret|credentials?|auth[_ .-]?key|pin)";

#[derive(Debug)]
pub struct Rules {
    categories: Vec<Category>,
    formats: Vec<Format>,
    private_key_begin: Regex,
    private_key_end: Regex,
    keyed: Regex,
    label_above: Regex,
    bearer: Regex,
    connection_string: Regex,
    card: Regex,
    iban: Regex,
    email: Regex,
    phone: Regex,
    custom: Vec<Regex>,
}

fn compile(pattern: &str) -> Result<Regex, ClientError> {
    RegexBuilder::new(pattern)
        .size_limit(1 << 22)
        .build()
        .map_err(|e| ClientError::invalid("redaction pattern", e.to_string()))
}

impl Rules {
    pub fn new(categories: &[Category], custom_patterns: &[String]) -> Result<Self, ClientError> {
        let formats = TOKEN_FORMATS
            .iter()
            .map(|(kind, pattern, group)| {
                Ok(Format {
                    category: Category::Token,
                    kind,
                    regex: compile(pattern)?,
                    group: *group,
                })
            })
            .collect::<Result<Vec<_>, ClientError>>()?;
        let custom = custom_patterns
            .iter()
            .map(|pattern| check_custom(pattern))
            .collect::<Result<Vec<_>, ClientError>>()?;
        Ok(Self {
            categories: categories.to_vec(),
            formats,
            private_key_begin: compile(r"(?i)BEGIN[A-Z ]{0,24}PRIVATE\s*KEY")?,
            private_key_end: compile(r"(?i)END[A-Z ]{0,24}PRIVATE\s*KEY[ -]*")?,
            keyed: compile(&format!(
                r#"(?i)[\w.-]*{SECRET_WORDS}[\w.-]*["']?[ ]?(?:[:=]|=>|:=|\t)[ \t]*["']?([^\s"',;]{{3,}})"#
            ))?,
            label_above: compile(&format!(
                r"(?im)^[ \t]*(?:(?:your|new|current|confirm|repeat|account|admin|app|api|access|auth|personal|secret|client|private)[ \t]+){{0,2}}{SECRET_WORDS}(?:[ \t]+(?:token|key))?[ \t]*:?[ \t]*\n[ \t]*(\S{{3,}})"
            ))?,
            bearer: compile(r"(?i)\b(?:bearer|basic)\s+([A-Za-z0-9._~+/=-]{12,})")?,
            connection_string: compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]{1,20}://[^\s:/@]{1,64}:([^\s@/]{1,128})@")?,
            card: compile(r"\b\d(?:[ -]?\d){12,18}\b")?,
            iban: compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,31}\b")?,
            email: compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")?,
            phone: compile(r"(?:\+|\b)\d[\d ().-]{7,18}\d\b")?,
            custom,
        })
    }

    fn on(&self, category: Category) -> bool {
        self.categories.contains(&category)
    }

    /// Every secret in `text` (OCR's words joined with spaces, tabs for wide
    /// gaps and newlines between lines). Findings may overlap.
    pub fn find(&self, text: &str) -> Vec<Finding> {
        let mut found = Vec::new();
        if self.on(Category::PrivateKey) {
            self.private_keys(text, &mut found);
        }
        if self.on(Category::Token) {
            for format in &self.formats {
                push_matches(
                    &format.regex,
                    format.group,
                    text,
                    format.category,
                    format.kind,
                    &mut found,
                );
            }
        }
        if self.on(Category::Password) {
            for (regex, kind) in [
                (&self.keyed, "password"),
                (&self.label_above, "password"),
                (&self.bearer, "bearer token"),
                (&self.connection_string, "password"),
            ] {
                push_matches(regex, 1, text, Category::Password, kind, &mut found);
            }
        }
        if self.on(Category::CardNumber) {
            for m in self.card.find_iter(text) {
                let digits: Vec<u8> = m.as_str().bytes().filter(u8::is_ascii_digit).collect();
                if luhn(&digits) && !digits.windows(2).all(|w| w[0] == w[1]) {
                    found.push(finding(m.start(), m.end(), Category::CardNumber, "card number"));
                }
            }
        }
        if self.on(Category::Iban) {
            self.ibans(text, &mut found);
        }
        if self.on(Category::HighEntropy) {
            random_strings(text, &found.clone(), &mut found);
        }
        if self.on(Category::Email) {
            push_matches(&self.email, 0, text, Category::Email, "email", &mut found);
        }
        if self.on(Category::Phone) {
            for m in self.phone.find_iter(text) {
                let digits = m.as_str().bytes().filter(u8::is_ascii_digit).count();
                let covered = found.iter().any(|f| f.start <= m.start() && m.end() <= f.end);
                if (9..=15).contains(&digits) && !covered {
                    found.push(finding(m.start(), m.end(), Category::Phone, "phone"));
                }
            }
        }
        if self.on(Category::Custom) {
            for regex in &self.custom {
                push_matches(regex, 0, text, Category::Custom, "custom", &mut found);
            }
        }
        found
    }

    /// Only the token formats, which cannot arise by chance from ordinary
    /// words put together: used on the glued text, where a token OCR split
    /// or a terminal wrapped is whole again.
    pub fn find_joined(&self, glued: &str) -> Vec<Finding> {
        let mut found = Vec::new();
        if self.on(Category::Token) {
            for format in self.formats.iter().filter(|f| f.group == 0) {
                push_matches(&format.regex, 0, glued, format.category, format.kind, &mut found);
            }
        }
        found
    }

    /// A `BEGIN … PRIVATE KEY` line through its `END` line; without an END
    /// in sight, through the base64 lines that follow.
    fn private_keys(&self, text: &str, found: &mut Vec<Finding>) {
        for begin in self.private_key_begin.find_iter(text) {
            let start = text[..begin.start()].rfind('\n').map_or(0, |i| i + 1);
            let rest = &text[begin.end()..];
            let end = match self.private_key_end.find(rest) {
                Some(m) => begin.end() + m.end(),
                None => {
                    let mut end = begin.end() + rest.find('\n').unwrap_or(rest.len());
                    for line in text[end..].split_inclusive('\n').skip(1) {
                        let body = line.trim();
                        let base64 = body.len() >= 16
                            && body
                                .bytes()
                                .all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b));
                        if !base64 {
                            break;
                        }
                        end += line.len();
                    }
                    end
                }
            };
            found.push(finding(start, end, Category::PrivateKey, "private key"));
        }
    }

    /// IBAN-shaped runs, shortened from the end until the checksum holds
    /// (the run may have taken in the next word).
    fn ibans(&self, text: &str, found: &mut Vec<Finding>) {
        for m in self.iban.find_iter(text) {
            let mut candidate = m.as_str();
            while candidate.len() >= 15 {
                let compact: String = candidate.chars().filter(|c| !c.is_whitespace()).collect();
                if compact.parse::<iban::Iban>().is_ok() {
                    found.push(finding(
                        m.start(),
                        m.start() + candidate.len(),
                        Category::Iban,
                        "iban",
                    ));
                    break;
                }
                candidate = candidate[..candidate.len() - 1].trim_end();
            }
        }
    }
}

/// A user's pattern: limited in length and size, checked before it is kept.
pub fn check_custom(pattern: &str) -> Result<Regex, ClientError> {
    if pattern.trim().is_empty() || pattern.len() > super::settings::MAX_PATTERN_LEN {
        return Err(ClientError::invalid(
            "redaction pattern",
            format!(
                "a pattern must have 1 to {} characters",
                super::settings::MAX_PATTERN_LEN
            ),
        ));
    }
    let regex = RegexBuilder::new(pattern)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| ClientError::invalid("redaction pattern", e.to_string()))?;
    if regex.is_match("") {
        return Err(ClientError::invalid(
            "redaction pattern",
            "the pattern matches empty text, so it would mark everything",
        ));
    }
    Ok(regex)
}

fn finding(start: usize, end: usize, category: Category, kind: &'static str) -> Finding {
    Finding {
        start,
        end,
        category,
        kind,
    }
}

fn push_matches(
    regex: &Regex,
    group: usize,
    text: &str,
    category: Category,
    kind: &'static str,
    found: &mut Vec<Finding>,
) {
    for captures in regex.captures_iter(text) {
        if let Some(m) = captures.get(group) {
            if !m.as_str().trim().is_empty() && !placeholder(m.as_str()) {
                found.push(finding(m.start(), m.end(), category, kind));
            }
        }
    }
}

/// Values that only stand for a secret: `${DB_PASSWORD}`, `<token>`,
/// `****`, `true`, an earlier mask.
fn placeholder(value: &str) -> bool {
    let v = value.trim_matches(|c: char| "\"'`".contains(c));
    v.starts_with("${")
        || v.starts_with('<')
        || v.starts_with("[redacted")
        || v.chars().all(|c| c == '*' || c == '•' || c == '.')
        || ["true", "false", "null", "none", "required", "optional"]
            .contains(&v.to_ascii_lowercase().as_str())
}

/// Luhn's checksum over 13 to 19 digits.
fn luhn(digits: &[u8]) -> bool {
    if !(13..=19).contains(&digits.len()) {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| {
            let d = u32::from(d - b'0');
            if i % 2 == 1 {
                let doubled = d * 2;
                if doubled > 9 {
                    doubled - 9
                } else {
                    doubled
                }
            } else {
                d
            }
        })
        .sum();
    sum % 10 == 0
}

/// Long strings that look random: 20 or more characters of a key's
/// alphabet, mixing letters and digits, with high Shannon entropy per
/// character (hex needs 32 or more). Words found by another rule are
/// skipped.
fn random_strings(text: &str, already: &[Finding], found: &mut Vec<Finding>) {
    let mut offset = 0;
    for word in text.split_inclusive(char::is_whitespace) {
        let start = offset;
        offset += word.len();
        let word = word.trim_end();
        // The value of `key=value` or `key: value` is what is judged.
        let value_start = word.rfind(['=', ':']).map_or(0, |i| i + 1);
        let value = &word[value_start..];
        let trimmed = value.trim_matches(|c: char| "\"'`,;()[]{}<>".contains(c));
        let lead = value.find(trimmed).unwrap_or(0);
        let begin = start + value_start + lead;
        let end = begin + trimmed.len();
        if already.iter().any(|f| f.start <= begin && end <= f.end) {
            continue;
        }
        if looks_random(trimmed) {
            found.push(finding(begin, end, Category::HighEntropy, "random string"));
        }
    }
}

pub(super) fn looks_random(value: &str) -> bool {
    let len = value.chars().count();
    if len < 20
        || !value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+/=_-".contains(c))
    {
        return false;
    }
    let digits = value.chars().filter(char::is_ascii_digit).count();
    let upper = value.chars().filter(char::is_ascii_uppercase).count();
    let lower = value.chars().filter(char::is_ascii_lowercase).count();
    let hex = value.chars().all(|c| c.is_ascii_hexdigit());
    if hex {
        return len >= 32 && digits > 0 && entropy(value) >= 3.0;
    }
    // Identifiers (`snake_case_names`, `CONSTANT_NAMES`) mix no digits in
    // and repeat their letters; keys mix all three classes.
    let classes = usize::from(digits > 0) + usize::from(upper > 0) + usize::from(lower > 0);
    classes == 3 && digits * 10 >= len && entropy(value) >= 3.7
}

/// Shannon entropy in bits per character.
fn entropy(value: &str) -> f64 {
    let mut counts = std::collections::HashMap::new();
    for c in value.chars() {
        *counts.entry(c).or_insert(0u32) += 1;
    }
    let len = value.chars().count() as f64;
    counts
        .values()
        .map(|&n| {
            let p = f64::from(n) / len;
            -p * p.log2()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> Rules {
        Rules::new(&Category::ALL, &[]).unwrap()
    }

    fn kinds(text: &str) -> Vec<(&'static str, String)> {
        rules()
            .find(text)
            .into_iter()
            .map(|f| (f.kind, text[f.start..f.end].to_owned()))
            .collect()
    }

    #[test]
    fn well_known_tokens_are_found() {
        let text = "export AWS_ACCESS_KEY_ID=AKIAZ7Q2MXLP4RTWX3UV\n\
                    token ghp_aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3z5A used\n\
                    glpat-Xy12_ab34-CD56ef78GH and xoxb-1234567890-0987654321-AbCdEfGhIjKlMnOpQrStUvWx";
        let found = kinds(text);
        for expected in [
            "AKIAZ7Q2MXLP4RTWX3UV",
            "ghp_aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3z5A",
            "glpat-Xy12_ab34-CD56ef78GH",
        ] {
            assert!(
                found.iter().any(|(_, s)| s == expected),
                "{expected} in {found:?}"
            );
        }
        assert!(found
            .iter()
            .any(|(k, s)| *k == "slack token" && s.starts_with("xoxb-")));
    }

    #[test]
    fn values_after_secret_words_are_found_but_not_the_words() {
        let found = kinds("DB_PASSWORD=hunter2isbad\n\"api_key\": \"q8Zr\", name: Alice\nPassword\tS3cret!x");
        let values: Vec<&str> = found.iter().map(|(_, s)| s.as_str()).collect();
        assert!(values.contains(&"hunter2isbad"), "{values:?}");
        assert!(values.contains(&"q8Zr"), "{values:?}");
        assert!(values.contains(&"S3cret!x"), "{values:?}");
        assert!(!values.iter().any(|v| v.contains("Alice")));
        let above = kinds("API token\nzq81-rrk3-AAA\nSave");
        assert!(above.iter().any(|(_, s)| s == "zq81-rrk3-AAA"), "{above:?}");
        assert!(kinds("password: ${DB_PASSWORD}").is_empty());
        assert!(kinds("Forgot your password? Reset it here").is_empty());
    }

    #[test]
    fn cards_need_luhn_and_ibans_their_checksum() {
        let found =
            kinds("card 4111 1111 1111 1111 exp\nnot 4111 1111 1111 1112\nDE89 3704 0044 0532 0130 00 BIC");
        let values: Vec<&str> = found.iter().map(|(_, s)| s.as_str()).collect();
        assert!(values.contains(&"4111 1111 1111 1111"), "{values:?}");
        assert!(!values.iter().any(|v| v.contains("1112")), "{values:?}");
        assert!(values.contains(&"DE89 3704 0044 0532 0130 00"), "{values:?}");
        assert!(kinds("DE89 3704 0044 0532 0130 01")
            .iter()
            .all(|(k, _)| *k != "iban"));
    }

    #[test]
    fn private_key_blocks_run_to_their_end_line() {
        let text = "key:\n-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAx9\nabc\n-----END RSA PRIVATE KEY-----\nafter";
        let found = rules().find(text);
        let block = found.iter().find(|f| f.category == Category::PrivateKey).unwrap();
        assert!(text[block.start..block.end].starts_with("-----BEGIN"));
        assert!(text[block.start..block.end].ends_with("KEY-----"));
    }

    #[test]
    fn random_strings_but_not_identifiers_or_hashes() {
        assert!(looks_random("q8Zr4Tk1Lm9XcV2bN7aP0sDf"));
        assert!(looks_random(
            "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
        ));
        for ordinary in [
            "CARGO_TARGET_DIR_FOR_RELEASE",
            "x86_64-unknown-linux-gnu",
            "some_long_function_name_here",
            "3f2a9c1",
            "release-2026-11-30-final",
        ] {
            assert!(!looks_random(ordinary), "{ordinary}");
        }
    }

    #[test]
    fn email_and_phone_only_when_asked() {
        let text = "mail ann@example.com or call +44 20 7946 0958";
        let default: Vec<Category> = Category::ALL.into_iter().filter(|c| c.on_by_default()).collect();
        assert!(Rules::new(&default, &[]).unwrap().find(text).is_empty());
        let all = rules().find(text);
        assert!(all.iter().any(|f| f.category == Category::Email));
        assert!(all.iter().any(|f| f.category == Category::Phone));
    }

    #[test]
    fn own_patterns_are_checked() {
        assert!(check_custom("PROJ-\\d{4}").is_ok());
        assert!(check_custom("(").is_err());
        assert!(check_custom("a*").is_err());
        assert!(check_custom(&"a".repeat(300)).is_err());
        let rules = Rules::new(&[Category::Custom], &["PROJ-\\d{4}".into()]).unwrap();
        assert_eq!(rules.find("see PROJ-1234 now").len(), 1);
    }
}
