//! Running the redaction over the generated screens and scoring it
//! against what was drawn. A planted secret is found when every pixel
//! of every one of its characters lies in a filled box; an ordinary word
//! is wrongly covered when at least half of its pixels do. The report
//! lists each miss and each covered word, so that a failure says which
//! rule to look at.

use super::render::Screen;
use anyhow::{anyhow, Context, Result};
use sightline_client::capture::Frame;
use sightline_client::redaction::{Category, RedactionSettings, Redactor};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Planted secrets found, of those planted, with the default settings.
pub const RECALL_TARGET: f64 = 0.98;
/// Ordinary words covered, of all ordinary words, must stay below this.
pub const COVERAGE_LIMIT: f64 = 0.01;

/// One planted secret after redaction.
#[derive(Debug, Clone)]
pub struct Finding {
    pub category: Category,
    pub text: String,
    /// Whether its characters have no pixel outside the boxes.
    pub found: bool,
    /// Which of its visible characters have (counted from 0).
    pub uncovered: Vec<usize>,
    /// Their ink pixels outside the boxes: a few means a box too tight,
    /// many a secret not recognised.
    pub pixels: usize,
    pub chars: usize,
}

/// What redaction did to one screen.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The screen's place in the set.
    pub screen: usize,
    pub name: String,
    pub clean: bool,
    /// Look, theme, font and size, for the report.
    pub looks: String,
    /// OCR and redaction, for this screen alone.
    pub elapsed: Duration,
    /// The planted secrets of the categories that were on.
    pub secrets: Vec<Finding>,
    /// Ordinary words on the screen, and those wrongly covered.
    pub words: usize,
    pub covered: Vec<String>,
    pub counts: BTreeMap<Category, u32>,
    pub boxes: usize,
    pub redacted: Frame,
}

/// The set's results: every screen with the default settings, and the
/// screens with e-mail addresses or phone numbers again with every
/// category on.
#[derive(Debug)]
pub struct Evaluation {
    pub seed: u64,
    pub defaults: Vec<Category>,
    pub default: Vec<Outcome>,
    pub every: Vec<Outcome>,
    pub threads: usize,
    pub wall: Duration,
}

pub(crate) fn evaluate(seed: u64, screens: &[Screen], threads: usize) -> Result<Evaluation> {
    let started = Instant::now();
    let settings = RedactionSettings::default();
    let defaults = settings.categories.clone();
    let all: Vec<usize> = (0..screens.len()).collect();
    let default = run(screens, &all, &settings, threads)?;
    let every_settings = RedactionSettings {
        categories: Category::ALL.to_vec(),
        ..RedactionSettings::default()
    };
    let off_by_default: Vec<usize> = all
        .into_iter()
        .filter(|&i| screens[i].secrets.iter().any(|s| !defaults.contains(&s.category)))
        .collect();
    let every = run(screens, &off_by_default, &every_settings, threads)?;
    Ok(Evaluation {
        seed,
        defaults,
        default,
        every,
        threads,
        wall: started.elapsed(),
    })
}

/// Redacts the screens at `indices`, `threads` at a time.
fn run(
    screens: &[Screen],
    indices: &[usize],
    settings: &RedactionSettings,
    threads: usize,
) -> Result<Vec<Outcome>> {
    let next = AtomicUsize::new(0);
    let outcomes = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads.max(1))
            .map(|_| {
                scope.spawn(|| -> Result<()> {
                    // One redactor per thread, so that no OCR engine is
                    // shared between threads whatever it allows.
                    let redactor = Redactor::new(settings, false)?;
                    while let Some(&index) = indices.get(next.fetch_add(1, Ordering::Relaxed)) {
                        let outcome = redact(&redactor, &screens[index], index, &settings.categories)?;
                        outcomes
                            .lock()
                            .map_err(|_| anyhow!("a worker failed"))?
                            .push(outcome);
                    }
                    Ok(())
                })
            })
            .collect();
        for worker in workers {
            worker
                .join()
                .map_err(|_| anyhow!("a redaction worker panicked"))??;
        }
        Ok::<_, anyhow::Error>(())
    })?;
    let mut outcomes = outcomes.into_inner().map_err(|_| anyhow!("a worker failed"))?;
    outcomes.sort_by_key(|o| o.screen);
    Ok(outcomes)
}

fn redact(redactor: &Redactor, screen: &Screen, index: usize, on: &[Category]) -> Result<Outcome> {
    let started = Instant::now();
    let redacted = redactor
        .redact_frame(screen.frame.clone())
        .with_context(|| format!("redacting {}", screen.name))?;
    let elapsed = started.elapsed();
    let report = redacted.report();
    let (width, height) = (screen.frame.width as i64, screen.frame.height as i64);
    let mut mask = vec![false; (width * height) as usize];
    for rect in &report.boxes {
        let (x0, y0) = (i64::from(rect.x).max(0), i64::from(rect.y).max(0));
        let x1 = (i64::from(rect.x) + i64::from(rect.width)).min(width);
        let y1 = (i64::from(rect.y) + i64::from(rect.height)).min(height);
        for y in y0..y1 {
            for x in x0..x1 {
                mask[(y * width + x) as usize] = true;
            }
        }
    }
    let inside = |pixel: &u32| mask.get(*pixel as usize).copied().unwrap_or(false);
    let secrets = screen
        .secrets
        .iter()
        .filter(|s| on.contains(&s.category))
        .map(|s| {
            let uncovered: Vec<usize> = (0..s.chars.len())
                .filter(|&i| !s.chars[i].iter().all(inside))
                .collect();
            let pixels = s.chars.iter().flatten().filter(|p| !inside(p)).count();
            Finding {
                category: s.category,
                text: s.text.clone(),
                found: uncovered.is_empty(),
                uncovered,
                pixels,
                chars: s.chars.len(),
            }
        })
        .collect();
    // A word too thin to leave ink above the threshold cannot be judged.
    let words: Vec<_> = screen.words.iter().filter(|w| !w.pixels.is_empty()).collect();
    let covered = words
        .iter()
        .filter(|w| w.pixels.iter().filter(|p| inside(p)).count() * 2 >= w.pixels.len())
        .map(|w| w.text.clone())
        .collect();
    Ok(Outcome {
        screen: index,
        name: screen.name.clone(),
        clean: screen.clean,
        looks: format!(
            "{} {}, {} {} px, {}×{}",
            screen.look.name(),
            screen.theme,
            screen.face.name(),
            screen.size,
            screen.frame.width,
            screen.frame.height
        ),
        elapsed,
        secrets,
        words: words.len(),
        covered,
        counts: report.counts.clone(),
        boxes: report.boxes.len(),
        redacted: redacted.frame().clone(),
    })
}

/// `part / whole`, or nothing when there is no whole.
fn share(part: usize, whole: usize) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

fn findings(outcomes: &[Outcome]) -> impl Iterator<Item = (&Outcome, &Finding)> {
    outcomes
        .iter()
        .flat_map(|o| o.secrets.iter().map(move |f| (o, f)))
}

impl Evaluation {
    /// Planted secrets found, of all planted, with the default settings.
    pub fn recall(&self) -> f64 {
        let (found, planted) = self.tally(&self.default, None);
        share(found, planted).unwrap_or(1.0)
    }

    /// Ordinary words wrongly covered, of all, with the default settings.
    pub fn covered_share(&self) -> f64 {
        let (covered, words) = self.words(None);
        share(covered, words).unwrap_or(0.0)
    }

    pub fn meets_targets(&self) -> bool {
        self.recall() >= RECALL_TARGET && self.covered_share() < COVERAGE_LIMIT
    }

    /// Found and planted secrets of `category` (or all).
    fn tally(&self, outcomes: &[Outcome], category: Option<Category>) -> (usize, usize) {
        let chosen: Vec<_> = findings(outcomes)
            .filter(|(_, f)| category.is_none_or(|c| f.category == c))
            .collect();
        (chosen.iter().filter(|(_, f)| f.found).count(), chosen.len())
    }

    /// Covered and all ordinary words on clean twins or the others (or all).
    fn words(&self, clean: Option<bool>) -> (usize, usize) {
        let chosen = self.default.iter().filter(|o| clean.is_none_or(|c| o.clean == c));
        chosen.fold((0, 0), |(covered, words), o| {
            (covered + o.covered.len(), words + o.words)
        })
    }

    /// The report, in Markdown.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let secret_screens = self.default.iter().filter(|o| !o.clean).count();
        let verdict = |met: bool| if met { "met" } else { "NOT MET" };
        let (recall, covered) = (self.recall(), self.covered_share());
        let _ = writeln!(out, "# Redaction of generated screens (seed {})\n", self.seed);
        let _ = writeln!(
            out,
            "{} screens: {secret_screens} with planted secrets and {} clean twins (each secret replaced by \
             ordinary words). Code editors, terminals and web forms, light and dark.\n",
            self.default.len(),
            self.default.len() - secret_screens,
        );
        let _ = writeln!(
            out,
            "- recall {recall:.3} (target ≥ {RECALL_TARGET}): {}\n- ordinary words covered {:.2} % \
             (target < {} %): {}\n",
            verdict(recall >= RECALL_TARGET),
            covered * 100.0,
            COVERAGE_LIMIT * 100.0,
            verdict(covered < COVERAGE_LIMIT),
        );
        let _ = writeln!(out, "## Recall with the default settings\n");
        self.recall_table(&mut out, &self.default, &self.defaults, true);
        let off: Vec<Category> = Category::ALL
            .into_iter()
            .filter(|c| !self.defaults.contains(c) && self.tally(&self.every, Some(*c)).1 > 0)
            .collect();
        if !off.is_empty() {
            let _ = writeln!(
                out,
                "\n## Recall of the categories off by default, with every category on\n"
            );
            self.recall_table(&mut out, &self.every, &off, false);
        }
        let _ = writeln!(out, "\n## Ordinary words wrongly covered (default settings)\n");
        let _ = writeln!(out, "| Screens | Covered | Words | Share |\n|---|---:|---:|---:|");
        for (name, clean) in [
            ("with secrets", Some(false)),
            ("clean twins", Some(true)),
            ("together", None),
        ] {
            let (covered, words) = self.words(clean);
            let share = share(covered, words).map_or("–".into(), |s| format!("{:.2} %", s * 100.0));
            let _ = writeln!(out, "| {name} | {covered} | {words} | {share} |");
        }
        self.timing(&mut out);
        let _ = writeln!(out, "\n## Missed secrets\n");
        // The second pass repeats the default categories; only the others
        // are news there.
        let missed: Vec<_> = findings(&self.default)
            .chain(findings(&self.every).filter(|(_, f)| !self.defaults.contains(&f.category)))
            .filter(|(_, f)| !f.found)
            .collect();
        for (outcome, finding) in &missed {
            let _ = writeln!(
                out,
                "- `{}` {}: {} of {} characters not covered ({}; {} pixels): `{}`",
                outcome.name,
                finding.category.label(),
                finding.uncovered.len(),
                finding.chars,
                ranges(&finding.uncovered),
                finding.pixels,
                shorten(&finding.text),
            );
        }
        if missed.is_empty() {
            let _ = writeln!(out, "None.");
        }
        let _ = writeln!(out, "\n## Ordinary words wrongly covered\n");
        let mut any = false;
        for outcome in self.default.iter().filter(|o| !o.covered.is_empty()) {
            any = true;
            let words: Vec<String> = outcome.covered.iter().map(|w| format!("`{w}`")).collect();
            let _ = writeln!(out, "- `{}`: {}", outcome.name, words.join(", "));
        }
        if !any {
            let _ = writeln!(out, "None.");
        }
        self.screens(&mut out);
        out
    }

    fn screens(&self, out: &mut String) {
        let _ = writeln!(out, "\n## Screens (default settings)\n");
        let _ = writeln!(
            out,
            "| Screen | Looks | Found | Words covered | Boxes | Seconds |\n|---|---|---:|---:|---:|---:|"
        );
        for o in &self.default {
            let found = o.secrets.iter().filter(|f| f.found).count();
            let _ = writeln!(
                out,
                "| {} | {} | {found}/{} | {}/{} | {} | {:.2} |",
                o.name,
                o.looks,
                o.secrets.len(),
                o.covered.len(),
                o.words,
                o.boxes,
                o.elapsed.as_secs_f64()
            );
        }
    }

    fn recall_table(&self, out: &mut String, outcomes: &[Outcome], categories: &[Category], total: bool) {
        let _ = writeln!(
            out,
            "| Category | Found | Planted | Recall |\n|---|---:|---:|---:|"
        );
        let mut rows: Vec<(String, (usize, usize))> = categories
            .iter()
            .map(|&c| (c.label().to_owned(), self.tally(outcomes, Some(c))))
            .filter(|(_, (_, planted))| *planted > 0)
            .collect();
        if total {
            rows.push(("**all**".into(), self.tally(outcomes, None)));
        }
        for (name, (found, planted)) in rows {
            let recall = share(found, planted).map_or("–".into(), |r| format!("{r:.3}"));
            let _ = writeln!(out, "| {name} | {found} | {planted} | {recall} |");
        }
    }

    fn timing(&self, out: &mut String) {
        let mut times: Vec<&Outcome> = self.default.iter().collect();
        times.sort_by_key(|o| o.elapsed);
        let (Some(median), Some(slowest)) = (times.get(times.len() / 2), times.last()) else {
            return;
        };
        let _ = writeln!(
            out,
            "\n## Time per screen (OCR and redaction)\n\nMedian {:.2} s, slowest {:.2} s (`{}`); \
             {} redactions in {:.1} s on {} threads.",
            median.elapsed.as_secs_f64(),
            slowest.elapsed.as_secs_f64(),
            slowest.name,
            self.default.len() + self.every.len(),
            self.wall.as_secs_f64(),
            self.threads,
        );
    }

    /// Each screen that `keep` accepts as `NAME.png`, and what redaction
    /// made of it (default settings) as `NAME.redacted.png`.
    pub fn write_screens(
        &self,
        dir: &Path,
        screens: &[Screen],
        keep: impl Fn(&Screen) -> bool,
    ) -> Result<()> {
        std::fs::create_dir_all(dir)?;
        for outcome in &self.default {
            let screen = &screens[outcome.screen];
            if keep(screen) {
                save_png(&screen.frame, &dir.join(format!("{}.png", screen.name)))?;
                save_png(
                    &outcome.redacted,
                    &dir.join(format!("{}.redacted.png", screen.name)),
                )?;
            }
        }
        Ok(())
    }
}

/// `[0, 1, 2, 7]` as "1–3, 8" (characters counted from 1).
fn ranges(indices: &[usize]) -> String {
    let mut spans: Vec<(usize, usize)> = Vec::new();
    for &i in indices {
        match spans.last_mut() {
            Some((_, end)) if *end + 1 == i => *end = i,
            _ => spans.push((i, i)),
        }
    }
    let spans: Vec<String> = spans
        .iter()
        .map(|&(a, b)| {
            if a == b {
                format!("{}", a + 1)
            } else {
                format!("{}–{}", a + 1, b + 1)
            }
        })
        .collect();
    spans.join(", ")
}

/// A secret on one line of the report: a key's lines joined, long ones cut.
fn shorten(text: &str) -> String {
    let line = text.replace('\n', " ⏎ ");
    match line.char_indices().nth(120) {
        Some((at, _)) => format!("{}…", &line[..at]),
        None => line,
    }
}

/// A frame as a PNG file.
pub fn save_png(frame: &Frame, path: &Path) -> Result<()> {
    let mut rgba = Vec::with_capacity(frame.width as usize * frame.height as usize * 4);
    for row in frame.bgra.chunks(frame.stride).take(frame.height as usize) {
        for pixel in row[..frame.width as usize * 4].chunks_exact(4) {
            rgba.extend_from_slice(&[pixel[2], pixel[1], pixel[0], 255]);
        }
    }
    let image = image::RgbaImage::from_raw(frame.width, frame.height, rgba).context("frame size")?;
    image
        .save(path)
        .with_context(|| format!("writing {}", path.display()))
}
