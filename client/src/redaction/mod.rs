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

mod category;
mod checks;
mod formats;
mod ocr;
mod reading;
mod rules;
mod settings;
mod text;

pub use category::Category;
pub use reading::ReadAhead;
pub use settings::{RedactionSettings, MAX_KEPT_LOOKS};
pub use text::{MaskedText, Restorer};

use crate::capture::frame::Frame;
use crate::capture::geometry::PixelRect;
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

/// How far a filled box reaches past OCR's word box at least.
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
        // Taken out while OCR reads, so another picture is not held up
        // behind this one (it reads its own frame whole).
        let last = self.inner.last.lock().unwrap_or_else(|p| p.into_inner()).take();
        let (words, read) = reading::read_changes(&self.inner.ocr, &frame, last)?;
        *self.inner.last.lock().unwrap_or_else(|p| p.into_inner()) = Some(read);
        Ok(self.apply(frame, &words, None))
    }

    /// Starts reading a frozen screen now, for a region of it later
    /// ([`Redactor::redact_region`]); nothing is read while redaction is off.
    pub fn read_ahead(&self, frame: Frame) -> Option<ReadAhead> {
        self.inner
            .active
            .then(|| ReadAhead::start(self.inner.ocr.clone(), frame))
    }

    /// `region`, the pixels under `rect` of a frame being read ahead,
    /// redacted with that frame's words (waits for the reading to end).
    pub fn redact_region(
        &self,
        reading: Option<&ReadAhead>,
        region: Frame,
        rect: &PixelRect,
    ) -> Result<Redacted, ClientError> {
        match reading {
            Some(reading) if self.inner.active => {
                let words = reading.words()?;
                Ok(self.apply(region, &words, Some(rect)))
            }
            _ => self.redact_frame(region),
        }
    }

    /// Fills the boxes of the words secrets touch. `clip`: `frame` is only
    /// this part of the picture `words` were read from (a region), so boxes
    /// are moved into it and secrets wholly outside it are not counted.
    fn apply(&self, mut frame: Frame, words: &[ocr::Word], clip: Option<&PixelRect>) -> Redacted {
        let mut report = RedactionReport::default();
        let rows = text::visual_rows(words);
        // Indexes into `rows`.
        let mut filled = std::collections::BTreeSet::new();
        for (covered, finding) in text::find_in_rows(&rows, &self.inner.rules) {
            let visible = clip.is_none_or(|clip| {
                covered
                    .iter()
                    .any(|&i| rows.get(i).is_some_and(|w| w.rect.intersect(clip).is_some()))
            });
            if visible {
                *report.counts.entry(finding.category).or_insert(0) += 1;
                filled.extend(covered);
            }
        }
        let (dx, dy) = clip.map_or((0, 0), |c| (c.x, c.y));
        // Neighbours on a row that are both covered are covered as one bar,
        // the space between them included: OCR's boxes leave a character
        // there when it cut a token in two.
        // Each row's top and bottom: a bar is as tall as its row, so the
        // ascenders and descenders of a word OCR boxed tightly are covered.
        let mut extents: std::collections::HashMap<u32, (i32, i64)> = std::collections::HashMap::new();
        for word in &rows {
            let extent = extents.entry(word.line).or_insert((i32::MAX, i64::MIN));
            extent.0 = extent.0.min(word.rect.y);
            extent.1 = extent.1.max(word.rect.bottom());
        }
        let row_tall = |word: &ocr::Word| {
            let (top, bottom) = extents
                .get(&word.line)
                .copied()
                .unwrap_or((word.rect.y, word.rect.bottom()));
            // A row of one giant box (OCR's mistake) keeps the word's own.
            let height = u32::try_from(bottom - i64::from(top)).unwrap_or(u32::MAX);
            if height > word.rect.height * 2 {
                word.rect
            } else {
                PixelRect {
                    y: top,
                    height,
                    ..word.rect
                }
            }
        };
        // (bar, the width to add on its right)
        let mut bars: Vec<(PixelRect, u32)> = Vec::new();
        let mut previous: Option<&ocr::Word> = None;
        for (n, word) in rows.iter().enumerate() {
            if !filled.contains(&n) {
                previous = None;
                continue;
            }
            // A word may have lost a character or two at its end to OCR (a
            // key's closing `==`); where nothing follows it closely that
            // could be covered by mistake, its bar reaches two and a half
            // characters further.
            let chars = u32::try_from(word.text.chars().count().max(1)).unwrap_or(1);
            let char_width = word.rect.width / chars;
            let room = rows
                .get(n + 1)
                .filter(|next| next.line == word.line)
                .map_or(i64::MAX, |next| i64::from(next.rect.x) - word.rect.right());
            let reach = if room > i64::from(char_width * 4) {
                char_width * 5 / 2
            } else {
                0
            };
            let joined = previous
                .filter(|p| p.line == word.line)
                .and_then(|_| bars.last_mut());
            match joined {
                Some((bar, extra)) => {
                    *bar = bar.union(&row_tall(word));
                    *extra = reach;
                }
                None => {
                    // A word OCR glued to the one before it, without a gap
                    // (`KEY_ID=A` | `KIA…`), may have left its first
                    // character in that word's box: the bar starts one
                    // character earlier.
                    let glued_before = n
                        .checked_sub(1)
                        .and_then(|m| rows.get(m))
                        .filter(|before| before.line == word.line)
                        .is_some_and(|before| {
                            (i64::from(word.rect.x) - before.rect.right()) * 10 < i64::from(char_width) * 4
                        });
                    let mut bar = row_tall(word);
                    if glued_before {
                        let lead = char_width.min(u32::try_from(bar.x.max(0)).unwrap_or(0));
                        bar.x -= i32::try_from(lead).unwrap_or(0);
                        bar.width += lead;
                    }
                    bars.push((bar, reach));
                }
            }
            previous = Some(word);
        }
        for (bar, extra) in bars {
            // OCR's boxes hug the ink; anti-aliased edges reach a little
            // further.
            let pad_x = PAD.max(i32::try_from(bar.height / 2).unwrap_or(PAD));
            let pad_y = PAD.max(i32::try_from(bar.height / 5).unwrap_or(PAD));
            let padded = PixelRect {
                x: bar.x - pad_x,
                y: bar.y - pad_y,
                width: bar.width + 2 * pad_x.unsigned_abs() + extra,
                height: bar.height + 2 * pad_y.unsigned_abs(),
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
