//! The acceptance test of local redaction: the generated screens of
//! `sightline_tests::redaction_corpus` (editors, terminals and web forms
//! with planted secrets of every category, and clean twins), each
//! redacted as before an upload. At least 98 % of the planted secrets
//! must be covered in full, and under 1 % of the ordinary words covered.
//! The report and a light and a dark example, before and after, land in
//! test-output/redaction/; `redaction_corpus --out DIR` writes them all.

use anyhow::Result;
use sightline_tests::redaction_corpus::{self, Screen, COVERAGE_LIMIT, RECALL_TARGET};
use std::path::PathBuf;

/// The seed of the `redaction_corpus` command's default set.
const SEED: u64 = 20_240_502;

fn output_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../test-output/redaction")
}

#[test]
fn generated_screens_meet_the_recall_and_coverage_targets() -> Result<()> {
    let corpus = redaction_corpus::generate(SEED)?;
    // Two screens at a time: OCR is the cost, and the machines have two cores.
    let evaluation = corpus.evaluate(2)?;
    let report = evaluation.markdown();
    println!("{report}");

    let dir = output_dir();
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("report.md"), &report)?;
    let first = |dark: bool| {
        corpus
            .screens
            .iter()
            .find(|s| s.dark == dark && !s.clean)
            .map(|s| s.name.clone())
    };
    let examples = [first(false), first(true)];
    evaluation.write_screens(&dir, &corpus.screens, |s: &Screen| {
        examples.iter().flatten().any(|name| *name == s.name)
    })?;

    assert!(
        evaluation.recall() >= RECALL_TARGET,
        "recall {:.3} is below {RECALL_TARGET}; see the missed secrets above",
        evaluation.recall()
    );
    assert!(
        evaluation.covered_share() < COVERAGE_LIMIT,
        "{:.2} % of the ordinary words were covered; see the list above",
        evaluation.covered_share() * 100.0
    );
    Ok(())
}
