//! What a secret looks like in text: well-known token formats
//! (`formats.rs`), private-key blocks, values after words such as
//! "password" in key/value layouts and forms, bearer headers, connection
//! strings, card numbers (Luhn) and IBANs (`iban_validate`), long random
//! strings, and the user's own patterns. Pure: text in, byte ranges out.

use super::category::{finding, Category, Finding};
use super::checks::{continues_token, looks_random, luhn, placeholder};
use super::formats::{token_end, Formats};
use crate::error::ClientError;
use regex::{Regex, RegexBuilder};

/// Own patterns are regular expressions; longer ones are refused.
pub const MAX_PATTERN_LEN: usize = 200;

/// Words that name a secret in a key/value layout (`DB_PASSWORD=…`,
/// `"api_key": …`, a form's "Password" field).
const SECRET_WORDS: &str = r"(?:pass(?:word|wd|phrase)?|pwd|secret|token|api[_ .-]?key|apikey|access[_ .-]?key|private[_ .-]?key|client[_ .-]?secret|credentials?|auth[_ .-]?key|pin|salt|jwt)";

#[derive(Debug)]
pub struct Rules {
    categories: Vec<Category>,
    formats: Formats,
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
        let custom = custom_patterns
            .iter()
            .map(|pattern| check_custom(pattern))
            .collect::<Result<Vec<_>, ClientError>>()?;
        Ok(Self {
            categories: categories.to_vec(),
            formats: Formats::new(compile)?,
            private_key_begin: compile(r"(?i)BEGIN[A-Z ]{0,24}PRIVATE\s*KEY")?,
            private_key_end: compile(r"(?i)END[A-Z ]{0,24}PRIVATE\s*KEY[ -]*")?,
            // The value after a secret's name: quoted (to the closing
            // quote, OCR's spaces and all) or one word; a type annotation
            // (`: &str =`) in between is skipped.
            keyed: compile(&format!(
                r#"(?i)[\w.-]*{SECRET_WORDS}[\w.-]*["'”]?[ ]?(?:[:=]|=>|:=|\t)[ \t]*\n?[ \t]*(?:&?[A-Za-z_][\w<>:]*[ \t]*=[ \t]*)?(?:["'“‘]([^"'”’\n]{{3,}})|([^\s"',;“”]{{2,}}))"#
            ))?,
            label_above: compile(&format!(
                r"(?im)^[ \t]*(?:(?:your|new|current|confirm|repeat|account|admin|app|api|access|auth|personal|secret|client|private)[ \t]+){{0,2}}{SECRET_WORDS}(?:[ \t]+(?:token|key))?[ \t]*:?[ \t]*\n[ \t]*(\S{{3,}})"
            ))?,
            bearer: compile(r"(?i)\b(?:bearer|basic)\s+([A-Za-z0-9._~+/=-]{12,})")?,
            connection_string: compile(
                r"\b[a-zA-Z][a-zA-Z0-9+.-]{1,20}:\s?//[^\s:/@]{1,64}:\s?([^\s@/]{1,128})\s?@",
            )?,
            card: compile(r"\b\d(?:[ -]?\d){12,18}\b")?,
            iban: compile(r"\b[A-Z]{2}[0-9OIl]{2}(?: ?[A-Z0-9]){11,31}\b")?,
            email: compile(r"\b[A-Za-z0-9._%+-]+\s?@\s?[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")?,
            phone: compile(r"(?:\+|\b)\d[\d ().-]{7,18}\d\b")?,
            custom,
        })
    }

    fn on(&self, category: Category) -> bool {
        self.categories.contains(&category)
    }

    /// Every secret in `text` (OCR's words joined with spaces, tabs for wide
    /// gaps and newlines between rows). Findings may overlap.
    pub fn find(&self, text: &str) -> Vec<Finding> {
        let mut found = Vec::new();
        if self.on(Category::PrivateKey) {
            self.private_keys(text, &mut found);
        }
        if self.on(Category::Token) {
            self.formats.find(text, &mut found);
        }
        if self.on(Category::Password) {
            self.passwords(text, &mut found);
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
            push_matches(&self.email, &[0], text, Category::Email, "email", &mut found);
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
                push_matches(regex, &[0], text, Category::Custom, "own pattern", &mut found);
            }
        }
        found
    }

    /// The token formats and the values after a secret's name, on the
    /// glued text, where a value OCR split or an editor or a terminal
    /// wrapped is whole again.
    pub fn find_joined(&self, glued: &str) -> Vec<Finding> {
        let mut found = Vec::new();
        if self.on(Category::Token) {
            self.formats.find(glued, &mut found);
        }
        if self.on(Category::Password) {
            self.passwords(glued, &mut found);
        }
        found
    }

    fn passwords(&self, text: &str, found: &mut Vec<Finding>) {
        for captures in self.keyed.captures_iter(text) {
            let value = captures.get(1).or_else(|| captures.get(2));
            if let Some(m) = value.filter(|m| !placeholder(m.as_str())) {
                // An unquoted value goes on to the pieces OCR cut off it.
                let end = if captures.get(2).is_some() {
                    continued(text, m.end())
                } else {
                    m.end()
                };
                found.push(finding(m.start(), end, Category::Password, "password"));
            }
        }
        push_matches(
            &self.label_above,
            &[1],
            text,
            Category::Password,
            "password",
            found,
        );
        push_matches(
            &self.connection_string,
            &[1],
            text,
            Category::Password,
            "password",
            found,
        );
        for captures in self.bearer.captures_iter(text) {
            if let Some(m) = captures.get(1) {
                // A bearer token OCR cut goes on to its pieces.
                let end = token_end(text, m.start(), None).map_or(m.end(), |end| end.max(m.end()));
                found.push(finding(m.start(), end, Category::Password, "bearer token"));
            }
        }
    }

    /// The words of a `BEGIN … PRIVATE KEY` block, from its BEGIN line to
    /// its END line (without an END in sight, while lines look like
    /// base64). Within the block, line numbers of an editor's gutter and
    /// `key:` names stay: only what could be the key is covered.
    fn private_keys(&self, text: &str, found: &mut Vec<Finding>) {
        // An END that OCR read without its BEGIN: the base64 lines above it.
        for end in self.private_key_end.find_iter(text) {
            let begun = self
                .private_key_begin
                .find_iter(&text[..end.start()])
                .last()
                .is_some_and(|b| text[b.end()..end.start()].lines().count() <= 60);
            if begun {
                continue;
            }
            let line_start = text[..end.start()].rfind('\n').map_or(0, |i| i + 1);
            found.push(finding(
                line_start,
                end.end(),
                Category::PrivateKey,
                "private key",
            ));
            let mut above = &text[..line_start.saturating_sub(1)];
            while let Some(line) = above.rsplit('\n').next() {
                if !line.split_whitespace().any(|w| w.len() >= 16) {
                    break;
                }
                let start = above.len() - line.len();
                found.push(finding(start, above.len(), Category::PrivateKey, "private key"));
                above = &above[..start.saturating_sub(1)];
                if start == 0 {
                    break;
                }
            }
        }
        for begin in self.private_key_begin.find_iter(text) {
            let start = text[..begin.start()].rfind('\n').map_or(0, |i| i + 1);
            let end_marker = self.private_key_end.find_at(text, begin.end()).map(|m| m.end());
            let mut lines: Vec<(usize, &str)> = Vec::new();
            let mut offset = start;
            for (index, line) in text[start..].split_inclusive('\n').enumerate() {
                let line_start = offset;
                offset += line.len();
                let base64_like = line.split_whitespace().any(|w| w.len() >= 16);
                if index > 60 || (end_marker.is_none() && index > 0 && !base64_like) {
                    break;
                }
                lines.push((line_start, line));
                if end_marker.is_some_and(|end| end <= offset) {
                    break;
                }
            }
            // An editor's gutter: each line starts with the number after
            // the one above it.
            let number = |line: &str| -> Option<u32> {
                let first = line.split_whitespace().next()?;
                (first.len() <= 5).then(|| first.parse().ok()).flatten()
            };
            for (i, (line_start, line)) in lines.iter().enumerate() {
                let own = number(line);
                let gutter = own.is_some_and(|n| {
                    let before = i
                        .checked_sub(1)
                        .and_then(|j| lines.get(j))
                        .and_then(|(_, l)| number(l));
                    let after = lines.get(i + 1).and_then(|(_, l)| number(l));
                    before == n.checked_sub(1) && before.is_some() || after == Some(n + 1)
                });
                let mut at = *line_start;
                for (n, piece) in line.split_inclusive(char::is_whitespace).enumerate() {
                    let word = piece.trim_end();
                    // A YAML key (`deploy_key:`) is no part of the key.
                    let name = word.len() > 1
                        && word.ends_with(':')
                        && word[..word.len() - 1]
                            .chars()
                            .all(|c| c.is_ascii_lowercase() || "_-.".contains(c));
                    let skipped = word.is_empty() || name || (n == 0 && gutter);
                    if !skipped {
                        found.push(finding(at, at + word.len(), Category::PrivateKey, "private key"));
                    }
                    at += piece.len();
                }
            }
        }
    }

    /// IBAN-shaped runs, shortened from the end until the checksum holds
    /// (the run may have taken in the next word).
    fn ibans(&self, text: &str, found: &mut Vec<Finding>) {
        for m in self.iban.find_iter(text) {
            let mut candidate = m.as_str();
            while candidate.len() >= 15 {
                let compact: String = candidate.chars().filter(|c| !c.is_whitespace()).collect();
                // As read, or with OCR's letters for digits (`DEO7`) put
                // back after the country code.
                let (country, rest) = compact.split_at(2);
                let digits: String = rest
                    .chars()
                    .map(|c| match c {
                        'O' | 'o' => '0',
                        'I' | 'l' => '1',
                        other => other,
                    })
                    .collect();
                let valid = compact.parse::<iban::Iban>().is_ok()
                    || format!("{country}{digits}").parse::<iban::Iban>().is_ok();
                if valid {
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
    if pattern.trim().is_empty() || pattern.len() > MAX_PATTERN_LEN {
        return Err(ClientError::invalid(
            "redaction pattern",
            format!("a pattern must have 1 to {MAX_PATTERN_LEN} characters"),
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

/// The first of `groups` that took part in each match.
fn push_matches(
    regex: &Regex,
    groups: &[usize],
    text: &str,
    category: Category,
    kind: &'static str,
    found: &mut Vec<Finding>,
) {
    for captures in regex.captures_iter(text) {
        if let Some(m) = groups.iter().find_map(|&g| captures.get(g)) {
            if !m.as_str().trim().is_empty() && !placeholder(m.as_str()) {
                found.push(finding(m.start(), m.end(), category, kind));
            }
        }
    }
}

/// Random-looking words (the value of `key=value` or `key: value` judged
/// alone), with the pieces OCR cut off them; words another rule found are
/// skipped.
fn random_strings(text: &str, already: &[Finding], found: &mut Vec<Finding>) {
    let mut offset = 0;
    for word in text.split_inclusive(char::is_whitespace) {
        let start = offset;
        offset += word.len();
        let word = word.trim_end();
        let value_start = word.rfind(['=', ':']).map_or(0, |i| i + 1);
        let value = &word[value_start..];
        let trimmed = value.trim_matches(|c: char| "\"'`,;()[]{}<>“”".contains(c));
        let lead = value.find(trimmed).unwrap_or(0);
        let begin = start + value_start + lead;
        let mut end = begin + trimmed.len();
        if already.iter().any(|f| f.start <= begin && end <= f.end) || !looks_random(trimmed) {
            continue;
        }
        end = continued(text, end);
        found.push(finding(begin, end, Category::HighEntropy, "random string"));
    }
}

/// Where a value ending at `end` really ends: after the pieces on the same
/// row, one space apart, that continue it (a fragment of up to three
/// characters counts when a piece that continues it follows).
fn continued(text: &str, mut end: usize) -> usize {
    let piece_at = |at: usize| -> Option<&str> {
        let after = text.get(at..)?.strip_prefix(' ')?;
        let piece = after.split(char::is_whitespace).next().unwrap_or("");
        let piece = piece.trim_end_matches(|c: char| "\"'`,;".contains(c));
        (!piece.is_empty()).then_some(piece)
    };
    while let Some(piece) = piece_at(end) {
        let fragment_before_more =
            piece.chars().count() <= 3 && piece_at(end + 1 + piece.len()).is_some_and(continues_token);
        if !continues_token(piece) && !fragment_before_more {
            break;
        }
        end += 1 + piece.len();
    }
    end
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
        // A type annotation is not the value, and a quoted value OCR split
        // is taken to its closing quote.
        let typed = kinds("const DB_PASSWORD: &str = \"Design! 9666';");
        assert!(typed.iter().any(|(_, s)| s == "Design! 9666"), "{typed:?}");
        assert!(!typed.iter().any(|(_, s)| s.contains("&str")), "{typed:?}");
        let url = kinds("DATABASE_URL = \"postgres://reporting: YqHzkZLXGnkYwt9S@db. internal:5432/orders\"");
        assert!(url.iter().any(|(_, s)| s == "YqHzkZLXGnkYwt9S"), "{url:?}");
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
    fn private_key_blocks_cover_the_key_but_not_the_gutter() {
        let text = "14 deploy_key: |\n15 -----BEGIN OPENSSH PRIVATE KEY-\n16 b3BLbnNzaC1rZXktdj EAAAAABGS vbmUAAAAE\n\
                    17 LoknB8xJ1nsodItWCfaW==\n18 -----END OPENSSH PRIVATE KEY-----\n19 ttl: 300";
        let covered: Vec<String> = kinds(text)
            .into_iter()
            .filter(|(k, _)| *k == "private key")
            .map(|(_, s)| s)
            .collect();
        for piece in [
            "-----BEGIN",
            "b3BLbnNzaC1rZXktdj",
            "EAAAAABGS",
            "LoknB8xJ1nsodItWCfaW==",
            "KEY-----",
        ] {
            assert!(covered.iter().any(|s| s == piece), "{piece} in {covered:?}");
        }
        for gutter in ["15", "16", "17", "18", "19", "ttl:", "300", "deploy_key:"] {
            assert!(!covered.iter().any(|s| s == gutter), "{gutter} in {covered:?}");
        }
    }

    #[test]
    fn random_strings_take_their_cut_pieces() {
        let found = kinds("cache_nonce_seed: QJZytExOZHP+YmuBsqp890L98y89Qc LtzJq7NkUkD4VXx (rotated)");
        assert!(
            found
                .iter()
                .any(|(_, s)| s == "QJZytExOZHP+YmuBsqp890L98y89Qc LtzJq7NkUkD4VXx"),
            "{found:?}"
        );
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
