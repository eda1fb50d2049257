//! The word-level difference between the user's text and the proposed
//! replacement, as the confirmation dialog shows it.

use serde::Serialize;
use similar::{ChangeTag, TextDiff};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "snake_case")]
pub enum Change {
    Same,
    Removed,
    Added,
}

/// A run of text that is kept, removed or added.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Span {
    pub change: Change,
    pub text: String,
}

/// Below this share of common words, a word-by-word diff is confetti: the
/// text is shown as removed, then the replacement as added.
const MIN_SIMILARITY: f32 = 0.3;

/// Words (and the whitespace between them) compared as units; neighbouring
/// pieces with the same change are merged into one span.
pub fn words(original: &str, replacement: &str) -> Vec<Span> {
    let diff = TextDiff::configure()
        .timeout(std::time::Duration::from_millis(200))
        .diff_words(original, replacement);
    if similarity(&diff) < MIN_SIMILARITY {
        return [(Change::Removed, original), (Change::Added, replacement)]
            .into_iter()
            .filter(|(_, text)| !text.is_empty())
            .map(|(change, text)| Span {
                change,
                text: text.to_owned(),
            })
            .collect();
    }
    let mut spans: Vec<Span> = Vec::new();
    for change in diff.iter_all_changes() {
        let kind = match change.tag() {
            ChangeTag::Equal => Change::Same,
            ChangeTag::Delete => Change::Removed,
            ChangeTag::Insert => Change::Added,
        };
        match spans.last_mut() {
            Some(last) if last.change == kind => last.text.push_str(change.value()),
            _ => spans.push(Span {
                change: kind,
                text: change.value().to_owned(),
            }),
        }
    }
    spans
}

/// The share of the two texts' non-blank characters that is kept. (The
/// library's own ratio counts the shared spaces between words, which makes
/// two unrelated sentences look half alike.)
fn similarity<'a>(diff: &TextDiff<'a, 'a, 'a, str>) -> f32 {
    let mut kept = 0usize;
    let mut total = 0usize;
    for change in diff.iter_all_changes() {
        let visible = change.value().chars().filter(|c| !c.is_whitespace()).count();
        match change.tag() {
            ChangeTag::Equal => {
                kept += 2 * visible;
                total += 2 * visible;
            }
            ChangeTag::Delete | ChangeTag::Insert => total += visible,
        }
    }
    if total == 0 {
        1.0
    } else {
        kept as f32 / total as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(spans: &[Span]) -> String {
        spans
            .iter()
            .map(|span| match span.change {
                Change::Same => span.text.clone(),
                Change::Removed => format!("[-{}-]", span.text),
                Change::Added => format!("{{+{}+}}", span.text),
            })
            .collect()
    }

    #[test]
    fn changed_words_are_marked() {
        let spans = words("the quick brown fox", "the slow brown fox jumps");
        assert_eq!(render(&spans), "the [-quick-]{+slow+} brown fox{+ jumps+}");
    }

    #[test]
    fn both_sides_can_be_rebuilt() {
        let original = "naïve café — 東京\nsecond line";
        let replacement = "naive cafe — 東京 ✓\nsecond line";
        let spans = words(original, replacement);
        let side = |skip: Change| -> String {
            spans
                .iter()
                .filter(|s| s.change != skip)
                .map(|s| s.text.as_str())
                .collect()
        };
        assert_eq!(side(Change::Added), original);
        assert_eq!(side(Change::Removed), replacement);
    }

    #[test]
    fn a_whole_new_text_is_one_removal_and_one_addition() {
        let spans = words(
            "the old paragraph said something else entirely here",
            "Should never appear, a new sentence",
        );
        assert_eq!(
            render(&spans),
            "[-the old paragraph said something else entirely here-]{+Should never appear, a new sentence+}"
        );
    }

    #[test]
    fn identical_and_empty_texts() {
        assert_eq!(render(&words("same text", "same text")), "same text");
        assert_eq!(render(&words("", "new")), "{+new+}");
        assert_eq!(render(&words("old", "")), "[-old-]");
        assert!(words("", "").is_empty());
    }
}
