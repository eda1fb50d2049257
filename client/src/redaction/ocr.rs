//! Words and their boxes from a picture, through the `tesseract` command:
//! the frame goes in on stdin as a grey PGM, word-level TSV comes out.
//!
//! A separate process rather than the library: a picture from the screen
//! is untrusted input, and OCR that crashes or hangs on it must not take
//! the app with it (a hung one is killed after [`TIMEOUT`]). Larger frames
//! are read as two overlapping bands on two cores, each line kept by the
//! band that holds its middle.

use crate::capture::frame::Frame;
use crate::capture::geometry::PixelRect;
use crate::error::ClientError;
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Longer than any screen takes; a hung OCR is killed then.
const TIMEOUT: Duration = Duration::from_secs(20);
/// Frames at least this tall are read as two bands.
const SPLIT_HEIGHT: u32 = 360;
/// How far the bands overlap: more than the tallest line of text.
const OVERLAP: u32 = 72;

/// One word OCR read, with its box in the frame's pixels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    pub text: String,
    pub rect: PixelRect,
    /// Which line it is on (unique in the frame), in reading order.
    pub line: u32,
    /// Which block of text (a column, a panel) the line is in.
    pub block: u32,
}

#[derive(Debug, Clone)]
pub struct Ocr {
    command: String,
    language: String,
}

impl Default for Ocr {
    fn default() -> Self {
        Self {
            command: std::env::var("SIGHTLINE_TESSERACT").unwrap_or_else(|_| "tesseract".into()),
            language: "eng".into(),
        }
    }
}

impl Ocr {
    /// The words in `frame`, in reading order.
    pub fn read(&self, frame: &Frame) -> Result<Vec<Word>, ClientError> {
        self.read_rows(frame, 0, frame.height, 0)
    }

    /// The words in rows `from..to` of `frame`; line and block numbers
    /// start at `base` (each read needs its own, below `base + 8192`).
    pub fn read_rows(&self, frame: &Frame, from: u32, to: u32, base: u32) -> Result<Vec<Word>, ClientError> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        if to - from < SPLIT_HEIGHT || cores < 2 {
            return self.read_band(frame, from, to, base);
        }
        let middle = from + (to - from) / 2;
        let top = (from, (middle + OVERLAP).min(to));
        let bottom = (middle.saturating_sub(OVERLAP).max(from), to);
        let (upper, lower) = std::thread::scope(|scope| {
            let upper = scope.spawn(|| self.read_band(frame, top.0, top.1, base));
            let lower = self.read_band(frame, bottom.0, bottom.1, base + 4096);
            (upper.join(), lower)
        });
        let upper = upper.map_err(|_| ClientError::Redaction("text recognition failed".into()))??;
        let lower = lower?;
        let middle = i64::from(middle);
        let mut words = keep_lines(upper, |centre| centre < middle);
        words.extend(keep_lines(lower, |centre| centre >= middle));
        Ok(words)
    }

    /// Rows `from..to` of `frame`; line and block numbers start at `base`.
    fn read_band(&self, frame: &Frame, from: u32, to: u32, base: u32) -> Result<Vec<Word>, ClientError> {
        let pgm = grey_pgm(frame, from, to);
        let mut child = Command::new(&self.command)
            .args(["stdin", "stdout", "-l", &self.language, "--psm", "3", "tsv"])
            // Tesseract's OpenMP threads fight each other on a busy machine;
            // the bands already use the cores.
            .env("OMP_THREAD_LIMIT", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| {
                ClientError::Redaction(if e.kind() == std::io::ErrorKind::NotFound {
                    format!(
                        "nothing was sent: the picture cannot be checked for secrets because \
                         {} (Tesseract OCR) is not installed",
                        self.command
                    )
                } else {
                    format!("nothing was sent: text recognition could not start: {e}")
                })
            })?;
        let (Some(mut stdin), Some(mut stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(ClientError::Redaction("text recognition has no pipes".into()));
        };
        let output = std::thread::scope(|scope| {
            scope.spawn(move || {
                // A failed write shows as a failed exit below.
                let _ = stdin.write_all(&pgm);
            });
            let reader = scope.spawn(move || {
                let mut output = Vec::new();
                stdout.read_to_end(&mut output).map(|_| output)
            });
            let started = Instant::now();
            let status = loop {
                match child.try_wait() {
                    Ok(Some(status)) => break Ok(status),
                    Ok(None) if started.elapsed() > TIMEOUT => {
                        let _ = child.kill();
                        let _ = child.wait();
                        break Err(ClientError::Redaction(
                            "nothing was sent: text recognition took too long".into(),
                        ));
                    }
                    Ok(None) => std::thread::sleep(Duration::from_millis(2)),
                    Err(e) => break Err(ClientError::Redaction(format!("text recognition: {e}"))),
                }
            };
            let output = reader.join();
            match (status, output) {
                (Ok(status), Ok(Ok(output))) if status.success() => Ok(output),
                (Err(e), _) => Err(e),
                _ => Err(ClientError::Redaction(
                    "nothing was sent: text recognition failed on this picture".into(),
                )),
            }
        })?;
        let tsv = String::from_utf8_lossy(&output);
        // Anything but TSV (a missing config makes Tesseract print plain
        // text and still succeed) would read as a picture without words.
        if !tsv.starts_with("level\tpage_num\tblock_num") {
            return Err(ClientError::Redaction(
                "nothing was sent: text recognition did not answer in word boxes".into(),
            ));
        }
        Ok(parse_tsv(&tsv, from, base))
    }
}

/// Words whose own middle passes `keep`. By the word, not by OCR's line:
/// two readings of overlapping crops can group a line differently, but a
/// word's box is the same in both, so each word is kept exactly once.
pub(super) fn keep_lines(words: Vec<Word>, keep: impl Fn(i64) -> bool) -> Vec<Word> {
    words
        .into_iter()
        .filter(|word| keep((i64::from(word.rect.y) + word.rect.bottom()) / 2))
        .collect()
}

/// Rows `from..to` as an 8-bit grey PGM (what Tesseract reads fastest).
fn grey_pgm(frame: &Frame, from: u32, to: u32) -> Vec<u8> {
    let header = format!("P5\n{} {}\n255\n", frame.width, to - from);
    let mut pgm = Vec::with_capacity(header.len() + (frame.width * (to - from)) as usize);
    pgm.extend_from_slice(header.as_bytes());
    for row in from..to {
        let start = row as usize * frame.stride;
        let pixels = &frame.bgra[start..start + frame.width as usize * 4];
        pgm.extend(pixels.chunks_exact(4).map(|p| {
            // ITU-R BT.601 luma, in integers.
            ((u32::from(p[2]) * 299 + u32::from(p[1]) * 587 + u32::from(p[0]) * 114) / 1000) as u8
        }));
    }
    pgm
}

/// Tesseract's TSV: level 5 rows are words (block, paragraph, line, word,
/// left, top, width, height, confidence, text).
fn parse_tsv(tsv: &str, y_offset: u32, base: u32) -> Vec<Word> {
    let mut words = Vec::new();
    let mut lines: Vec<(u32, u32, u32)> = Vec::new();
    for row in tsv.lines().skip(1) {
        let fields: Vec<&str> = row.split('\t').collect();
        if fields.len() < 12 || fields[0] != "5" {
            continue;
        }
        let text = fields[11].trim();
        if text.is_empty() {
            continue;
        }
        let number = |i: usize| fields[i].parse::<u32>().ok();
        let (Some(block), Some(paragraph), Some(line), Some(left), Some(top), Some(width), Some(height)) = (
            number(2),
            number(3),
            number(4),
            number(6),
            number(7),
            number(8),
            number(9),
        ) else {
            continue;
        };
        let key = (block, paragraph, line);
        let line_index = match lines.iter().position(|l| *l == key) {
            Some(i) => i,
            None => {
                lines.push(key);
                lines.len() - 1
            }
        };
        words.push(Word {
            text: text.to_owned(),
            rect: PixelRect {
                x: i32::try_from(left).unwrap_or(i32::MAX),
                y: i32::try_from(top + y_offset).unwrap_or(i32::MAX),
                width,
                height,
            },
            line: base + u32::try_from(line_index).unwrap_or(u32::MAX - base),
            block: base + block,
        });
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tsv_words_keep_their_lines_and_offsets() {
        let tsv =
            "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext\n\
                   4\t1\t1\t1\t1\t0\t10\t5\t100\t12\t-1\t\n\
                   5\t1\t1\t1\t1\t1\t10\t5\t40\t12\t96.5\texport\n\
                   5\t1\t1\t1\t1\t2\t60\t5\t50\t12\t91.0\tKEY=1\n\
                   5\t1\t1\t1\t2\t1\t10\t25\t40\t12\t90.0\tnext\n\
                   5\t1\t1\t1\t2\t2\t60\t25\t40\t12\t90.0\t \n";
        let words = parse_tsv(tsv, 100, 0);
        assert_eq!(words.len(), 3);
        assert_eq!(words[1].text, "KEY=1");
        assert_eq!(words[1].rect.y, 105);
        assert_eq!(words[0].line, words[1].line);
        assert_ne!(words[1].line, words[2].line);
    }

    #[test]
    fn a_word_in_the_overlap_is_kept_by_one_band() {
        let word = |line: u32, y: i32| Word {
            text: "w".into(),
            rect: PixelRect {
                x: 0,
                y,
                width: 10,
                height: 10,
            },
            line,
            block: 0,
        };
        let kept = keep_lines(vec![word(0, 0), word(1, 95), word(2, 200)], |centre| centre < 100);
        assert_eq!(kept.iter().map(|w| w.line).collect::<Vec<_>>(), vec![0]);
    }

    #[test]
    fn the_grey_picture_is_a_pgm_of_the_band() {
        let frame = Frame {
            width: 2,
            height: 3,
            stride: 8,
            bgra: vec![255; 24],
        };
        let pgm = grey_pgm(&frame, 1, 3);
        assert!(pgm.starts_with(b"P5\n2 2\n255\n"));
        assert_eq!(pgm.len(), b"P5\n2 2\n255\n".len() + 4);
    }
}
