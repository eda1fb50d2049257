//! Reading a picture's words without reading all of it every time.
//!
//! - Ambient looks: a look follows a change, and most of the screen is as
//!   it was, so only the bands of rows that changed since the last frame
//!   of the same size are read again; the other words are kept.
//! - Region selection: the frozen screen is read in the background while
//!   the user drags ([`ReadAhead`]), so the region is ready when the mouse
//!   is let go.

use super::ocr::{Ocr, Word};
use crate::capture::frame::Frame;
use crate::error::ClientError;
use std::sync::{Arc, Condvar, Mutex};

/// Rows read around a changed band: more than a line of text, so every
/// line touching the change is read whole.
const MARGIN: u32 = 48;
/// When more than this share of rows changed, the whole frame is read.
const MOSTLY_CHANGED: f64 = 0.6;

/// The last frame read: its size, a hash per row, and its words.
#[derive(Debug)]
pub(super) struct LastRead {
    width: u32,
    height: u32,
    rows: Vec<u64>,
    words: Vec<Word>,
}

/// The words of `frame`, reading again only what changed since `last`.
pub(super) fn read_changes(
    ocr: &Ocr,
    frame: &Frame,
    last: Option<LastRead>,
) -> Result<(Vec<Word>, LastRead), ClientError> {
    let rows = row_hashes(frame);
    // Kept words are numbered from 0 (see `in_reading_order`); fresh
    // readings number theirs from here on, 8192 apart, so none collide.
    let base = 8192;
    let words = match last {
        Some(last) if last.width == frame.width && last.height == frame.height => {
            let spans = changed_spans(&last.rows, &rows);
            let changed: u32 = spans.iter().map(|(a, b)| b - a).sum();
            if spans.is_empty() {
                last.words
            } else if f64::from(changed) > MOSTLY_CHANGED * f64::from(frame.height) {
                in_reading_order(ocr.read_rows(frame, 0, frame.height, base)?)
            } else {
                let mut words: Vec<Word> = last.words;
                for (i, (start, end)) in spans.into_iter().enumerate() {
                    let from = start.saturating_sub(MARGIN);
                    let to = (end + MARGIN).min(frame.height);
                    // Lines whose middle lies within half a margin of the
                    // change come from the new reading, all others stay.
                    let zone = (
                        i64::from(start.saturating_sub(MARGIN / 2)),
                        i64::from((end + MARGIN / 2).min(frame.height)),
                    );
                    let inside = |centre: i64| zone.0 <= centre && centre < zone.1;
                    let span_base = base + 8192 * (u32::try_from(i).unwrap_or(u32::MAX / 8192 - 2) + 1);
                    let fresh = ocr.read_rows(frame, from, to, span_base)?;
                    words = super::ocr::keep_lines(words, |c| !inside(c));
                    words.extend(super::ocr::keep_lines(fresh, inside));
                }
                in_reading_order(words)
            }
        }
        _ => in_reading_order(ocr.read_rows(frame, 0, frame.height, base)?),
    };
    let last = LastRead {
        width: frame.width,
        height: frame.height,
        rows,
        words: words.clone(),
    };
    Ok((words, last))
}

/// Blocks top to bottom, and in each its lines top to bottom, words left
/// to right; blocks and lines renumbered from 0 in that order.
fn in_reading_order(mut words: Vec<Word>) -> Vec<Word> {
    use std::collections::HashMap;
    let mut block_top: HashMap<u32, i32> = HashMap::new();
    let mut line_top: HashMap<u32, i32> = HashMap::new();
    for word in &words {
        let b = block_top.entry(word.block).or_insert(i32::MAX);
        *b = (*b).min(word.rect.y);
        let l = line_top.entry(word.line).or_insert(i32::MAX);
        *l = (*l).min(word.rect.y);
    }
    words.sort_by_key(|w| {
        (
            block_top.get(&w.block).copied().unwrap_or(0),
            w.block,
            line_top.get(&w.line).copied().unwrap_or(0),
            w.line,
            w.rect.x,
        )
    });
    let mut lines: HashMap<u32, u32> = HashMap::new();
    let mut blocks: HashMap<u32, u32> = HashMap::new();
    for word in &mut words {
        let next = u32::try_from(lines.len()).unwrap_or(u32::MAX);
        word.line = *lines.entry(word.line).or_insert(next);
        let next = u32::try_from(blocks.len()).unwrap_or(u32::MAX);
        word.block = *blocks.entry(word.block).or_insert(next);
    }
    words
}

/// One hash per row of pixels (FNV-1a over 8-byte chunks: the same row
/// hashes alike, and a changed pixel changes its row's hash).
fn row_hashes(frame: &Frame) -> Vec<u64> {
    (0..frame.height as usize)
        .map(|row| {
            let start = row * frame.stride;
            let pixels = &frame.bgra[start..start + frame.width as usize * 4];
            let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
            for chunk in pixels.chunks(8) {
                let mut word = [0u8; 8];
                word[..chunk.len()].copy_from_slice(chunk);
                hash ^= u64::from_le_bytes(word);
                hash = hash.wrapping_mul(0x0100_0000_01b3);
            }
            hash
        })
        .collect()
}

/// The runs of changed rows, joined when closer than two margins.
fn changed_spans(old: &[u64], new: &[u64]) -> Vec<(u32, u32)> {
    let mut spans: Vec<(u32, u32)> = Vec::new();
    for (row, (a, b)) in old.iter().zip(new).enumerate() {
        if a == b {
            continue;
        }
        let row = u32::try_from(row).unwrap_or(u32::MAX);
        match spans.last_mut() {
            Some((_, end)) if row <= *end + 2 * MARGIN => *end = row + 1,
            _ => spans.push((row, row + 1)),
        }
    }
    spans
}

/// The reading of a frozen screen, started when the overlay opens and
/// finished (usually) before the user lets go of the mouse.
#[derive(Debug, Clone)]
pub struct ReadAhead {
    words: Arc<(Mutex<Option<Reading>>, Condvar)>,
}

type Reading = Result<Arc<Vec<Word>>, ClientError>;

/// The reading thread's side of the slot: an answer is always given (an
/// error when the thread ends without one), so a waiting region never
/// hangs.
struct Answer(Arc<(Mutex<Option<Reading>>, Condvar)>);

impl Answer {
    fn give(&self, reading: Reading) {
        let (lock, ready) = &*self.0;
        let mut slot = lock.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_none() {
            *slot = Some(reading);
        }
        ready.notify_all();
    }
}

impl Drop for Answer {
    fn drop(&mut self) {
        self.give(Err(ClientError::Redaction(
            "nothing was sent: text recognition stopped".into(),
        )));
    }
}

impl ReadAhead {
    /// Starts reading `frame` on a thread of its own.
    pub(super) fn start(ocr: Ocr, frame: Frame) -> Self {
        let words: Arc<(Mutex<Option<Reading>>, Condvar)> = Arc::new((Mutex::new(None), Condvar::new()));
        let slot = Answer(words.clone());
        // Without a thread, the slot's answer is the error its drop gives.
        let spawned = std::thread::Builder::new()
            .name("read-ahead".into())
            .spawn(move || {
                let result = ocr.read(&frame).map(|words| Arc::new(in_reading_order(words)));
                slot.give(result);
            });
        if let Err(error) = spawned {
            tracing::warn!(%error, "the frozen screen cannot be read ahead");
        }
        Self { words }
    }

    /// The frame's words, once read (waits for the reading to end).
    pub(super) fn words(&self) -> Reading {
        let (lock, ready) = &*self.words;
        let mut guard = lock.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(reading) = guard.as_ref() {
                return reading.clone();
            }
            guard = ready.wait(guard).unwrap_or_else(|p| p.into_inner());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changed_rows_join_into_spans() {
        let old = vec![0u64; 1000];
        let mut new = old.clone();
        new[10] = 1;
        new[50] = 1;
        new[600] = 1;
        assert_eq!(changed_spans(&old, &new), vec![(10, 51), (600, 601)]);
        assert!(changed_spans(&old, &old).is_empty());
    }

    #[test]
    fn reading_order_is_blocks_then_lines_then_words() {
        use crate::capture::geometry::PixelRect;
        let word = |text: &str, x: i32, y: i32, line: u32, block: u32| Word {
            text: text.into(),
            rect: PixelRect {
                x,
                y,
                width: 10,
                height: 10,
            },
            line,
            block,
        };
        let ordered = in_reading_order(vec![
            word("c", 0, 40, 900, 7),
            word("b", 20, 0, 5, 1),
            word("a", 0, 0, 5, 1),
        ]);
        let texts: Vec<&str> = ordered.iter().map(|w| w.text.as_str()).collect();
        assert_eq!(texts, ["a", "b", "c"]);
        assert_eq!(ordered.iter().map(|w| w.line).collect::<Vec<_>>(), [0, 0, 1]);
    }
}
