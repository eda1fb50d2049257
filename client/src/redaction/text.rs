//! From OCR's words to text the rules can read, and back from a finding to
//! the words it covers; masking plain text and putting the masks back.

use super::category::Finding;
use super::ocr::Word;
use super::rules::Rules;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// A gap between two words wider than this many line heights reads as a
/// tab: the space between a form's label and its field.
const WIDE_GAP: f64 = 1.6;
/// A gap narrower than this share of a character's width is no space at
/// all: OCR cut one word in two (a space is at least half a character).
const TIGHT_GAP: f64 = 0.4;

/// The mean width of a character of two neighbouring words.
fn char_width(a: &Word, b: &Word) -> f64 {
    let chars = a.text.chars().count() + b.text.chars().count();
    f64::from(a.rect.width + b.rect.width) / chars.max(1) as f64
}

/// Text made of words, and which word each byte came from.
#[derive(Debug)]
pub(super) struct Joined {
    pub text: String,
    /// For each word, its byte range in `text`.
    spans: Vec<(usize, usize)>,
}

impl Joined {
    /// Words in reading order, a space (or a tab for a wide gap) between
    /// words of a line, a newline between lines.
    pub fn spaced(words: &[Word]) -> Self {
        Self::build(words, |previous, word| {
            if previous.line != word.line {
                "\n"
            } else {
                let gap = f64::from(word.rect.x) - previous.rect.right() as f64;
                let height = f64::from(previous.rect.height.max(word.rect.height));
                if gap > WIDE_GAP * height {
                    "\t"
                } else {
                    " "
                }
            }
        })
    }

    /// Like [`Joined::spaced`], but words OCR split without a visible
    /// space between them are run together, and so is a line that fills
    /// its block to the right edge with the next (a terminal's wrap), so
    /// a token cut in pieces reads whole again.
    pub fn glued(words: &[Word]) -> Self {
        let mut right_edge = std::collections::HashMap::new();
        for word in words {
            let edge = right_edge.entry(word.block).or_insert(i64::MIN);
            *edge = (*edge).max(word.rect.right());
        }
        Self::build(words, |previous, word| {
            let height = f64::from(previous.rect.height.max(word.rect.height));
            if previous.line != word.line {
                let edge = right_edge.get(&previous.block).copied().unwrap_or(i64::MIN);
                let full = (edge - previous.rect.right()) as f64 <= 1.5 * height;
                if full {
                    ""
                } else {
                    "\n"
                }
            } else if (f64::from(word.rect.x) - previous.rect.right() as f64)
                < TIGHT_GAP * char_width(previous, word)
            {
                ""
            } else {
                " "
            }
        })
    }

    fn build(words: &[Word], separator: impl Fn(&Word, &Word) -> &'static str) -> Self {
        let mut text = String::new();
        let mut spans = Vec::with_capacity(words.len());
        let mut previous: Option<&Word> = None;
        for word in words {
            if let Some(previous) = previous {
                text.push_str(separator(previous, word));
            }
            let start = text.len();
            text.push_str(&word.text);
            spans.push((start, text.len()));
            previous = Some(word);
        }
        Self { text, spans }
    }

    /// The words a byte range touches.
    pub fn words_in(&self, start: usize, end: usize) -> impl Iterator<Item = usize> + '_ {
        self.spans
            .iter()
            .enumerate()
            .filter(move |(_, (s, e))| *s < end && start < *e)
            .map(|(i, _)| i)
    }
}

/// The words as they sit on the screen: in rows (a word belongs to the row
/// whose middle its middle lies within), left to right, each row its own
/// line. OCR's own blocks split a `KEY =` from a value it read as another
/// column; rows keep them together. Returns the words so ordered.
pub(super) fn visual_rows(words: &[Word]) -> Vec<Word> {
    // Twice the middle, in whole pixels.
    let centre = |w: &Word| i64::from(w.rect.y) * 2 + i64::from(w.rect.height);
    let mut order: Vec<usize> = (0..words.len()).collect();
    order.sort_by_key(|&i| centre(&words[i]));
    let mut rows: Vec<Vec<usize>> = Vec::new();
    // The row's first middle and its height.
    let mut row = (i64::MIN, 0i64);
    for i in order {
        let word = &words[i];
        let middle = centre(word);
        // Within half the smaller height of the row's first middle: a box
        // OCR made too tall cannot swallow the rows around it.
        let reach = row.1.min(i64::from(word.rect.height));
        match rows.last_mut() {
            Some(current) if middle - row.0 <= reach => current.push(i),
            _ => {
                rows.push(vec![i]);
                row = (middle, i64::from(word.rect.height));
            }
        }
    }
    let mut ordered = Vec::with_capacity(words.len());
    for (number, mut row) in rows.into_iter().enumerate() {
        row.sort_by_key(|&i| words[i].rect.x);
        for i in row {
            // The row is the line; OCR's block stays, so a wrap is told by
            // the right edge of the word's own column (a terminal beside an
            // editor), not of the whole screen.
            ordered.push(Word {
                line: u32::try_from(number).unwrap_or(u32::MAX),
                ..words[i].clone()
            });
        }
    }
    ordered
}

/// The findings in words in visual rows: (indexes into `words`, finding). Tokens are looked
/// for both in the spaced text and in the glued one; in the latter only
/// findings that join several words count, as the others are found in the
/// spaced text already.
pub(super) fn find_in_rows(words: &[Word], rules: &Rules) -> Vec<(BTreeSet<usize>, Finding)> {
    let spaced = Joined::spaced(words);
    let mut found: Vec<(BTreeSet<usize>, Finding)> = rules
        .find(&spaced.text)
        .into_iter()
        .map(|f| (spaced.words_in(f.start, f.end).collect(), f))
        .collect();
    let glued = Joined::glued(words);
    for finding in rules.find_joined(&glued.text) {
        let covered: BTreeSet<usize> = glued.words_in(finding.start, finding.end).collect();
        let new = covered.len() > 1 && !found.iter().any(|(words, _)| covered.is_subset(words));
        if new {
            found.push((covered, finding));
        }
    }
    found.retain(|(words, _)| !words.is_empty());
    found
}

/// Text with its secrets masked, and what each mask stood for, so an
/// answer that repeats a mask can have the secret put back here.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaskedText {
    pub text: String,
    /// Secrets masked, by category.
    pub counts: std::collections::BTreeMap<super::category::Category, u32>,
    /// (mask, original); never shown, never sent.
    #[serde(skip)]
    replacements: Vec<(String, String)>,
}

impl std::fmt::Debug for MaskedText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MaskedText")
            .field("text", &self.text)
            .field("counts", &self.counts)
            .field("replacements", &self.replacements.len())
            .finish()
    }
}

impl MaskedText {
    /// Nothing was masked.
    pub fn unchanged(text: &str) -> Self {
        Self {
            text: text.to_owned(),
            ..Self::default()
        }
    }

    /// How many secrets were masked.
    pub fn total(&self) -> u32 {
        self.counts.values().sum()
    }

    /// For an answer that streams in.
    pub fn restorer(&self) -> Restorer {
        Restorer {
            masked: self.clone(),
            held: String::new(),
        }
    }

    /// `answer` with every mask it repeats replaced by the secret it
    /// stood for.
    pub fn restore(&self, answer: &str) -> String {
        let mut restored = answer.to_owned();
        // Longest first, so "[redacted: token 12]" is not read as "… 1".
        let mut order: Vec<&(String, String)> = self.replacements.iter().collect();
        order.sort_by_key(|(mask, _)| std::cmp::Reverse(mask.len()));
        for (mask, original) in order {
            restored = restored.replace(mask.as_str(), original);
        }
        restored
    }
}

/// The longest mask: a `[` further back than this without its `]` is
/// ordinary text.
const MAX_MASK_LEN: usize = 48;

/// Puts secrets back into an answer that arrives in pieces: text from an
/// unclosed `[` on is held until the piece that closes it, so a mask split
/// between two pieces is still recognised.
#[derive(Debug)]
pub struct Restorer {
    masked: MaskedText,
    held: String,
}

impl Restorer {
    /// The text that can be shown now.
    pub fn push(&mut self, piece: &str) -> String {
        self.held.push_str(piece);
        let open = self
            .held
            .rfind('[')
            .filter(|&i| !self.held[i..].contains(']') && self.held.len() - i < MAX_MASK_LEN);
        let ready = match open {
            Some(i) => self.held[..i].to_owned(),
            None => std::mem::take(&mut self.held),
        };
        if open.is_some() {
            self.held.replace_range(..ready.len(), "");
        }
        self.masked.restore(&ready)
    }

    /// Whatever is still held, at the end of the answer.
    pub fn finish(&mut self) -> String {
        let rest = std::mem::take(&mut self.held);
        self.masked.restore(&rest)
    }
}

/// `text` with every finding replaced by `[redacted: kind]` (numbered from
/// the second of a kind on, so each mask names one secret).
pub(super) fn mask(text: &str, rules: &Rules) -> MaskedText {
    let mut findings = rules.find(text);
    findings.sort_by_key(|f| (f.start, std::cmp::Reverse(f.end)));
    // Overlapping findings merge into the first, wider one.
    let mut merged: Vec<Finding> = Vec::new();
    for finding in findings {
        match merged.last_mut() {
            Some(last) if finding.start < last.end => last.end = last.end.max(finding.end),
            _ => merged.push(finding),
        }
    }
    let mut masked = MaskedText::default();
    let mut seen: std::collections::HashMap<&'static str, u32> = std::collections::HashMap::new();
    let mut at = 0;
    for finding in merged {
        masked.text.push_str(&text[at..finding.start]);
        let original = &text[finding.start..finding.end];
        let existing = masked
            .replacements
            .iter()
            .find(|(_, o)| o == original)
            .map(|(m, _)| m.clone());
        let mask = existing.unwrap_or_else(|| {
            let n = seen.entry(finding.kind).or_insert(0);
            *n += 1;
            let mask = if *n == 1 {
                format!("[redacted: {}]", finding.kind)
            } else {
                format!("[redacted: {} {}]", finding.kind, n)
            };
            masked.replacements.push((mask.clone(), original.to_owned()));
            mask
        });
        *masked.counts.entry(finding.category).or_insert(0) += 1;
        masked.text.push_str(&mask);
        at = finding.end;
    }
    masked.text.push_str(&text[at..]);
    masked
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::geometry::PixelRect;
    use crate::redaction::category::Category;

    fn word(text: &str, x: i32, line: u32) -> Word {
        Word {
            block: 0,
            text: text.into(),
            rect: PixelRect {
                x,
                y: line as i32 * 20,
                width: text.len() as u32 * 8,
                height: 16,
            },
            line,
        }
    }

    fn rules() -> Rules {
        let default: Vec<Category> = Category::ALL.into_iter().filter(|c| c.on_by_default()).collect();
        Rules::new(&default, &[]).unwrap()
    }

    #[test]
    fn a_token_split_over_words_and_lines_covers_every_piece() {
        // A GitHub token wrapped by the terminal, and OCR splitting its head.
        let words = [
            word("$", 0, 0),
            word("echo", 16, 0),
            word("ghp_aB3dE5fG7h", 60, 0),
            word("J9kL1mN3pQ5r", 174, 0),
            word("S7tU9vW1xY3z5A", 0, 1),
            word("done", 0, 2),
        ];
        let found = find_in_rows(&visual_rows(&words), &rules());
        let covered: BTreeSet<usize> = found.iter().flat_map(|(w, _)| w.iter().copied()).collect();
        assert_eq!(covered, BTreeSet::from([2, 3, 4]), "{found:?}");
    }

    #[test]
    fn a_form_label_and_its_field_read_as_key_and_value() {
        let words = [
            word("Password", 0, 0),
            word("S3cr3t!pass", 300, 0),
            word("Remember", 0, 1),
        ];
        let found = find_in_rows(&visual_rows(&words), &rules());
        let covered: BTreeSet<usize> = found.iter().flat_map(|(w, _)| w.iter().copied()).collect();
        assert_eq!(covered, BTreeSet::from([1]), "{found:?}");
    }

    #[test]
    fn masks_name_the_kind_and_the_answer_gets_the_secrets_back() {
        let text = "Use AKIAZ7Q2MXLP4RTWX3UV and AKIAZ7Q2MXLP4RTWX3UQ, twice AKIAZ7Q2MXLP4RTWX3UV.";
        let masked = mask(text, &rules());
        assert_eq!(
            masked.text,
            "Use [redacted: aws key] and [redacted: aws key 2], twice [redacted: aws key]."
        );
        assert_eq!(masked.total(), 3);
        assert!(!format!("{masked:?}").contains("AKIA"));
        let answer = "Please use [redacted: aws key 2] instead of [redacted: aws key].";
        assert_eq!(
            masked.restore(answer),
            "Please use AKIAZ7Q2MXLP4RTWX3UQ instead of AKIAZ7Q2MXLP4RTWX3UV."
        );
        assert_eq!(
            mask("nothing here", &rules()),
            MaskedText::unchanged("nothing here")
        );
        // Streamed: the mask arrives cut in three.
        let mut restorer = masked.restorer();
        let mut shown = String::new();
        for piece in ["Use [reda", "cted: aws ke", "y 2] now [", "not a mask"] {
            shown.push_str(&restorer.push(piece));
        }
        shown.push_str(&restorer.finish());
        assert_eq!(shown, "Use AKIAZ7Q2MXLP4RTWX3UQ now [not a mask");
    }
}
