//! A generated test set for local redaction (OCR finding secrets on a
//! screenshot and blacking them out), and its evaluation.
//!
//! The screens look like what people have open when a secret is on
//! screen: code editors with a `.env` or config file, terminals, web
//! forms; light and dark themes, six fonts, 13 to 22 px. Secrets of every
//! category are planted with random but valid values (checksums
//! included), and each screen has a clean twin on which every secret is
//! replaced by ordinary words of about its length, so that covering
//! ordinary text is measured where there is nothing to find as well.
//!
//! A label that announces a secret (`DB_PASSWORD=`, "Card number") is
//! swapped on the twin as well, since whatever follows it is a secret.
//!
//! Ground truth is recorded while drawing: the ink of each character of
//! each secret, and of each ordinary word. [`Corpus::evaluate`] runs
//! `Redactor::redact_frame` on every screen and checks the filled boxes
//! against that ink: a secret counts as found only when every pixel of
//! every one of its characters is covered, an ordinary word as covered
//! when half of its pixels are. Everything follows from the seed, so a
//! report can be reproduced and a miss looked at again.
//!
//! - `render.rs`: fonts, drawing, and the ink each character leaves;
//! - `secrets.rs`: the secrets' values, and words to replace them;
//! - `placement.rs`: where each kind of secret goes on each screen;
//! - `ordinary.rs`: themes, and the ordinary text around the secrets;
//! - `layouts.rs`: editors, terminals and forms put together;
//! - `evaluate.rs`: redaction over the set, scores and the report.

mod evaluate;
mod layouts;
mod ordinary;
mod placement;
mod render;
mod secrets;

pub use evaluate::{save_png, Evaluation, Finding, Outcome, COVERAGE_LIMIT, RECALL_TARGET};
pub use render::{Face, Look, Planted, Screen, Word};

use anyhow::Result;
use rand::rngs::StdRng;
use rand::SeedableRng;

/// Screens with secrets of each look; with their clean twins the set has
/// six times as many.
pub const SCREENS_PER_LOOK: usize = 8;

/// The generated screens: each one with secrets followed by its twin.
#[derive(Debug)]
pub struct Corpus {
    pub seed: u64,
    pub screens: Vec<Screen>,
}

/// Makes the set from `seed`; the same seed gives the same pixels.
pub fn generate(seed: u64) -> Result<Corpus> {
    let fonts = render::Fonts::load()?;
    let mut rng = StdRng::seed_from_u64(seed);
    let mut screens = Vec::new();
    for sheet in layouts::sheets(&fonts, &mut rng, SCREENS_PER_LOOK)? {
        screens.push(render::render(&fonts, &sheet, false)?);
        screens.push(render::render(&fonts, &sheet, true)?);
    }
    Ok(Corpus { seed, screens })
}

impl Corpus {
    /// Redacts every screen, `threads` at a time, and scores the result.
    pub fn evaluate(&self, threads: usize) -> Result<Evaluation> {
        evaluate::evaluate(self.seed, &self.screens, threads)
    }
}
