//! Local redaction: every picture and text checked on this computer before
//! it leaves, and what looks like a secret blacked out (pictures) or masked
//! (text).
//!
//! A picture is read with Tesseract (`ocr.rs`: words and their boxes, in
//! reading order); the words are joined into text with a map from each
//! character back to its word (`text.rs`), so a token that OCR split over
//! several words or lines is matched whole and every box it touches is
//! filled. The matching itself (`rules.rs`) knows the secrets' formats and
//! checksums and nothing of pictures.
//!
//! The only way to an upload is through here: [`crate::capture::encode`]
//! takes a [`Redacted`] frame, and a [`Redacted`] is made only by
//! [`Redactor::redact_frame`] or, for one region the user checked, by
//! [`Redactor::unredacted_once`], which an administrator's policy refuses.

mod ocr;
mod reading;
mod rules;
mod settings;
mod text;

pub use reading::ReadAhead;
pub use rules::Category;
pub use settings::{RedactionSettings, MAX_KEPT_LOOKS};
pub use text::{MaskedText, Restorer};

use crate::capture::geometry::PixelRect;
use crate::capture::Frame;
use crate::error::ClientError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The colour boxes are filled with (BGRA).
pub const FILL: [u8; 4] = [0, 0, 0, 255];

/// What one redaction did: how many secrets of which kind, and where.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct RedactionReport {
    /// Secrets found, by category.
    pub counts: BTreeMap<Category, u32>,
    /// The filled boxes, in the frame's pixels.
    #[serde(skip)]
    pub boxes: Vec<PixelRect>,
    /// The user sent this one picture unredacted after checking it.
    #[serde(default)]
    pub skipped_by_user: bool,
    /// Redaction is turned off in the settings: nothing was looked for.
    #[serde(default)]
    pub off: bool,
}

impl RedactionReport {
    /// Secrets found in all.
    pub fn total(&self) -> u32 {
        self.counts.values().sum()
    }
}

/// A frame that went through redaction; the only thing
/// [`crate::capture::encode`] encodes for upload.
#[derive(Debug, Clone)]
pub struct Redacted {
    frame: Frame,
    report: RedactionReport,
}

impl Redacted {
    pub fn frame(&self) -> &Frame {
        &self.frame
    }

    pub fn report(&self) -> &RedactionReport {
        &self.report
    }

    /// The pixels back, for the next grab to reuse.
    pub fn into_frame(self) -> Frame {
        self.frame
    }
}

/// The rules in force and the OCR that feeds them; cheap to clone.
#[derive(Debug, Clone)]
pub struct Redactor {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    rules: rules::Rules,
    ocr: ocr::Ocr,
    /// Set by the administrator's policy: nothing goes unredacted.
    enforced: bool,
    /// Something is looked for at all.
    active: bool,
    /// The last whole frame read, so the next one reads only what changed.
    last: std::sync::Mutex<Option<reading::LastRead>>,
}

/// How far a filled box reaches past OCR's word box: OCR's boxes hug the
/// ink, and anti-aliased edges reach a pixel or two further.
const PAD: i32 = 3;

impl Redactor {
    /// The rules from `settings`; with `enforced` (the administrator's
    /// policy) redaction is on with every default category whatever the
    /// user chose, and nothing can be sent unredacted.
    pub fn new(settings: &RedactionSettings, enforced: bool) -> Result<Self, ClientError> {
        let settings = if enforced {
            settings.enforced()
        } else {
            settings.clone()
        };
        let categories = if settings.enabled {
            settings.categories.clone()
        } else {
            Vec::new()
        };
        Ok(Self {
            inner: Arc::new(Inner {
                rules: rules::Rules::new(&categories, &settings.custom_patterns)?,
                ocr: ocr::Ocr::default(),
                enforced,
                active: settings.enabled && !categories.is_empty(),
                last: std::sync::Mutex::new(None),
            }),
        })
    }

    /// The administrator's policy is in force.
    pub fn is_enforced(&self) -> bool {
        self.inner.enforced
    }

    /// Pictures and text are checked (the user has not turned it off).
    pub fn is_active(&self) -> bool {
        self.inner.active
    }

    /// Reads `frame` and fills the boxes of every word a secret touches.
    /// Blocking (OCR takes tenths of a second): call it off the UI thread.
    pub fn redact_frame(&self, frame: Frame) -> Result<Redacted, ClientError> {
        if !self.inner.active {
            return Ok(Redacted {
                frame,
                report: RedactionReport {
                    off: true,
                    ..RedactionReport::default()
                },
            });
        }
        let words = {
            let mut last = self.inner.last.lock().unwrap_or_else(|p| p.into_inner());
            let (words, read) = reading::read_changes(&self.inner.ocr, &frame, last.take())?;
            *last = Some(read);
            words
        };
        Ok(self.apply(frame, &words, None))
    }

    /// Starts reading a frozen screen now, for a region of it later
    /// ([`ReadAhead::redact_region`]).
    pub fn read_ahead(&self, frame: Frame) -> ReadAhead {
        ReadAhead::start(self.clone(), frame)
    }

    /// Fills the boxes of the words secrets touch. `clip`: `frame` is only
    /// this part of the picture `words` were read from (a region), so boxes
    /// are moved into it and secrets wholly outside it are not counted.
    fn apply(&self, mut frame: Frame, words: &[ocr::Word], clip: Option<&PixelRect>) -> Redacted {
        let mut report = RedactionReport::default();
        let mut filled = std::collections::BTreeSet::new();
        for (covered, finding) in text::find_in_words(words, &self.inner.rules) {
            let visible = clip.is_none_or(|clip| {
                covered
                    .iter()
                    .any(|&i| words.get(i).is_some_and(|w| w.rect.intersect(clip).is_some()))
            });
            if visible {
                *report.counts.entry(finding.category).or_insert(0) += 1;
                filled.extend(covered);
            }
        }
        let (dx, dy) = clip.map_or((0, 0), |c| (c.x, c.y));
        for word in filled.into_iter().filter_map(|i| words.get(i)) {
            let padded = PixelRect {
                x: word.rect.x - PAD,
                y: word.rect.y - PAD,
                width: word.rect.width + 2 * PAD as u32,
                height: word.rect.height + 2 * PAD as u32,
            };
            let inside = match clip {
                Some(clip) => padded.intersect(clip),
                None => Some(padded),
            };
            if let Some(rect) = inside {
                let rect = rect.relative_to(dx, dy);
                frame.fill(&rect, FILL);
                report.boxes.push(rect);
            }
        }
        Redacted { frame, report }
    }

    /// `frame` as it is, for one region the user looked at and chose to send
    /// unredacted; refused under the administrator's policy.
    pub fn unredacted_once(&self, frame: Frame) -> Result<Redacted, ClientError> {
        if self.inner.enforced {
            return Err(ClientError::Redaction(
                "your administrator requires redaction: pictures cannot be sent unredacted".into(),
            ));
        }
        Ok(Redacted {
            frame,
            report: RedactionReport {
                skipped_by_user: true,
                ..RedactionReport::default()
            },
        })
    }

    /// `text` with its secrets masked (`[redacted: aws key]`).
    pub fn mask_text(&self, text: &str) -> MaskedText {
        if !self.inner.active {
            return MaskedText::unchanged(text);
        }
        text::mask(text, &self.inner.rules)
    }
}

/// Checks the user's own patterns before they are kept.
pub fn check_patterns(patterns: &[String]) -> Result<(), ClientError> {
    if patterns.len() > settings::MAX_PATTERNS {
        return Err(ClientError::invalid(
            "redaction patterns",
            format!("at most {} patterns", settings::MAX_PATTERNS),
        ));
    }
    for pattern in patterns {
        rules::check_custom(pattern)?;
    }
    Ok(())
}
