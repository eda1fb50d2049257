//! Local redaction on generated screens: makes the test set of
//! `sightline_tests::redaction_corpus` (code editors, terminals and web
//! forms with planted secrets, and their clean twins), redacts every
//! screen as the app would before an upload, and prints a Markdown report:
//! recall per category and overall, ordinary words wrongly covered,
//! time per screen, and every miss and every covered word.
//!
//! Usage: `redaction_corpus [--out DIR] [--seed N] [--threads N]`. With
//! `--out`, each screen is written as `NAME.png`, its redacted version as
//! `NAME.redacted.png`, and the report as `report.md`. Exits with 1 when
//! the recall or coverage target is missed.

use anyhow::{bail, Context, Result};
use sightline_tests::redaction_corpus;
use std::path::PathBuf;

/// The seed the e2e test uses too, so the two report on the same screens.
const SEED: u64 = 20_240_502;

fn main() -> Result<()> {
    let mut out: Option<PathBuf> = None;
    let mut seed = SEED;
    let mut threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--out" => out = Some(args.next().context("--out DIR")?.into()),
            "--seed" => seed = args.next().context("--seed N")?.parse()?,
            "--threads" => threads = args.next().context("--threads N")?.parse()?,
            other => bail!("unknown argument {other}"),
        }
    }
    let corpus = redaction_corpus::generate(seed)?;
    let evaluation = corpus.evaluate(threads)?;
    let report = evaluation.markdown();
    println!("{report}");
    if let Some(dir) = out {
        evaluation.write_screens(&dir, &corpus.screens, |_| true)?;
        std::fs::write(dir.join("report.md"), &report)?;
        eprintln!("screens and report.md written to {}", dir.display());
    }
    if !evaluation.meets_targets() {
        std::process::exit(1);
    }
    Ok(())
}
