//! Well-known token formats. Most begin with a fixed prefix and have a
//! known length (`AKIA` and 16 more, `ghp_` and 36); those are found from
//! the prefix on, counting characters across the spaces OCR puts inside
//! a token (`…hNBdbb jW63…`) and across a terminal's wrap, so a token
//! read in pieces is still covered whole. The prefixes allow OCR's usual
//! confusions (`I`, `l`, `1`). The formats follow the providers' published
//! ones, as gitleaks' default rule set describes them.

use super::category::{finding, Category, Finding};
use super::checks::{continues_token, key_char};
use crate::error::ClientError;
use regex::Regex;

/// A prefix, what it names, and how many characters follow it (`None`:
/// as many as continue the token, at least `MIN_UNBOUNDED`).
const PREFIXED: &[(&str, &str, Option<usize>)] = &[
    (
        r"(?:A3T[A-Z0-9]|AK[Il1|]A|AS[Il1|]A|ABIA|ACCA)",
        "aws key",
        Some(16),
    ),
    (r"\bgh[pousr]_", "github token", Some(36)),
    (r"\S?ithub_pat_", "github token", Some(82)),
    (r"\bglpat-", "gitlab token", Some(20)),
    (
        r"\bgl(?:dt|rt|ptt|cbt|oas|soat|ft|imt|agent)-",
        "gitlab token",
        None,
    ),
    (r"\bxox[abposre]-", "slack token", None),
    (r"\bey ?J[A-Za-z0-9_-]{4,}", "jwt", None),
    (r"A[Il1|]za", "google api key", Some(35)),
    (r"\b(?:sk|rk|pk)_(?:live|test)_", "stripe key", None),
    (r"\bsk-(?:proj-|ant-(?:api|admin)\d\d-)", "api key", None),
    (r"\bnpm_", "npm token", Some(36)),
    (r"pypi-AgE", "pypi token", None),
    (r"AGE-SECRET-KEY-1", "age key", Some(58)),
];

/// Tokens whose length is not fixed must still be this long.
const MIN_UNBOUNDED: usize = 16;

/// Formats found by their surroundings: (kind, regex, the secret's group).
const SURROUNDED: &[(&str, &str, usize)] = &[
    (
        "aws key",
        r#"(?i)aws[\w .-]{0,20}?(?:secret|sec)[\w .-]{0,20}?\s*[=:]\s*["'“]?([A-Za-z0-9/+]{30,44})"#,
        1,
    ),
    (
        "slack token",
        r"hooks\.slack\.com/services/([A-Za-z0-9+/]{30,})",
        1,
    ),
    ("azure key", r"(?i)AccountKey=([A-Za-z0-9+/=]{40,})", 1),
];

#[derive(Debug)]
pub(super) struct Formats {
    prefixed: Vec<(Regex, &'static str, Option<usize>)>,
    surrounded: Vec<(Regex, &'static str, usize)>,
}

impl Formats {
    pub fn new(compile: impl Fn(&str) -> Result<Regex, ClientError>) -> Result<Self, ClientError> {
        Ok(Self {
            prefixed: PREFIXED
                .iter()
                .map(|(pattern, kind, len)| Ok((compile(pattern)?, *kind, *len)))
                .collect::<Result<_, ClientError>>()?,
            surrounded: SURROUNDED
                .iter()
                .map(|(kind, pattern, group)| Ok((compile(pattern)?, *kind, *group)))
                .collect::<Result<_, ClientError>>()?,
        })
    }

    /// Every token in `text`.
    pub fn find(&self, text: &str, found: &mut Vec<Finding>) {
        for (prefix, kind, len) in &self.prefixed {
            for m in prefix.find_iter(text) {
                if let Some(end) = token_end(text, m.end(), *len) {
                    found.push(finding(m.start(), end, Category::Token, kind));
                }
            }
        }
        for (regex, kind, group) in &self.surrounded {
            for captures in regex.captures_iter(text) {
                if let Some(m) = captures.get(*group) {
                    found.push(finding(m.start(), m.end(), Category::Token, kind));
                }
            }
        }
    }
}

/// Where a token that starts its body at `body` ends: after `len` of its
/// characters, counted across single spaces to pieces that continue it;
/// `None` when too few follow (a prefix alone is a word, such as "ASIA").
pub(super) fn token_end(text: &str, body: usize, len: Option<usize>) -> Option<usize> {
    let rest = &text[body..];
    // The body starts right after the prefix, without a space.
    let first: usize = rest.chars().take_while(|c| key_char(*c)).count();
    if first < 4 {
        return None;
    }
    let wanted = len.unwrap_or(usize::MAX);
    let mut count = 0;
    let mut end = body;
    let mut at = body;
    for (n, piece) in rest.split(' ').enumerate() {
        let run: String = piece.chars().take_while(|c| !c.is_whitespace()).collect();
        if n > 0 && !continues_token(&run) {
            break;
        }
        let taken: Vec<char> = run.chars().take(wanted - count).collect();
        count += taken.len();
        end = at + taken.iter().map(|c| c.len_utf8()).sum::<usize>();
        if count >= wanted || run.len() < piece.len() {
            // Done, or the piece ended at a line break or a tab.
            break;
        }
        at += piece.len() + 1;
    }
    let end = text[..end].trim_end_matches(' ').len();
    let enough = match len {
        Some(len) => count * 10 >= len * 7,
        None => count >= MIN_UNBOUNDED,
    };
    enough.then_some(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(text: &str) -> Vec<(&'static str, String)> {
        let formats =
            Formats::new(|p| Regex::new(p).map_err(|e| ClientError::invalid("p", e.to_string()))).unwrap();
        let mut found = Vec::new();
        formats.find(text, &mut found);
        found
            .into_iter()
            .map(|f| (f.kind, text[f.start..f.end].to_owned()))
            .collect()
    }

    #[test]
    fn prefixed_tokens_are_counted_across_ocr_spaces() {
        let found = tokens("TOKEN=github_pat_NQmra8SLSRxieMvjlytmaE_rD8Xkx1t9MRgFETfo4hNBdbb jW63FiQStV3NeVUfVVOr9urGMR8rsHIAql7 done");
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].1.ends_with("R8rsHIAql7"), "{found:?}");
        let split = tokens("origin https://ghp_2PLINXWOFk8TXaeXtLct 3ickm&qxp141i 7pAggit now");
        assert!(split.is_empty() || split[0].1.starts_with("ghp_"), "{split:?}");
        assert_eq!(
            tokens("key AlzaZX5g8owTU389G2LryEK0bngnkxCnkPE30j9 end"),
            vec![(
                "google api key",
                "AlzaZX5g8owTU389G2LryEK0bngnkxCnkPE30j9".to_owned()
            )]
        );
    }

    #[test]
    fn a_prefix_alone_is_a_word() {
        assert!(tokens("sales in ASIA Pacific grew 12345678 percent").is_empty());
        assert!(tokens("AKIA is how the keys begin").is_empty());
        let aws = tokens("export AWS_ACCESS_KEY_ID=AKIAZ7Q2MXLP4RTWX3UV\nnext");
        assert_eq!(aws, vec![("aws key", "AKIAZ7Q2MXLP4RTWX3UV".to_owned())]);
    }
}
