//! Capture benchmark, side by side with the Python baseline
//! (`../shared/bench/mss_baseline.py`: mss + Pillow) on the same fresh
//! Xvfb display showing the same picture of a typical screen
//! (`../shared/bench/make-test-screen.sh`). Medians of N runs, in ms:
//!
//! - a full 1920×1080 frame grabbed (alone, and grabbed + JPEG q80 for
//!   upload);
//! - an 800×600 region grabbed and encoded as PNG;
//! - the ambient change check (grab + thumbnail + comparison).
//!
//! Usage: `capture_bench [--runs N] [--baseline-python PYTHON]`; without a
//! Python that has `mss` and `PIL`, the baseline is skipped. The script
//! `scripts/bench-capture` builds this and prepares that Python.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use anyhow::{bail, Context, Result};
use sightline_client::capture::{self, geometry::PixelRect, Encoding};
use sightline_client::redaction::{RedactionSettings, Redactor};
use sightline_tests::display::{make_test_screen, Display};
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn median(mut samples: Vec<Duration>) -> f64 {
    samples.sort();
    samples[samples.len() / 2].as_secs_f64() * 1000.0
}

fn time<T>(runs: usize, mut work: impl FnMut() -> Result<T>) -> Result<(f64, T)> {
    let mut samples = Vec::with_capacity(runs);
    let mut last = None;
    for _ in 0..runs {
        let started = Instant::now();
        last = Some(work()?);
        samples.push(started.elapsed());
    }
    Ok((median(samples), last.context("no runs")?))
}

#[tokio::main]
async fn main() -> Result<()> {
    let mut runs = 20usize;
    let mut python: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--runs" => runs = args.next().context("--runs N")?.parse()?,
            "--baseline-python" => python = Some(args.next().context("--baseline-python PATH")?.into()),
            other => bail!("unknown argument {other}"),
        }
    }
    let shared = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/bench");
    let dir = tempfile::tempdir()?;
    let picture = make_test_screen(dir.path())?;
    let display = Display::start().await?;
    std::env::set_var("DISPLAY", display.name());
    display.set_background(&picture).await?;

    let monitors = capture::monitors()?;
    let primary = monitors.iter().find(|m| m.primary).context("no monitor")?.clone();
    println!(
        "display {} — {}×{} at ({}, {}), scale {}",
        display.name(),
        primary.bounds.width,
        primary.bounds.height,
        primary.bounds.x,
        primary.bounds.y,
        primary.scale
    );

    let plain = Redactor::new(
        &RedactionSettings {
            enabled: false,
            ..RedactionSettings::default()
        },
        false,
    )?;
    // Each run: grab, then encode that frame; stage times and the total.
    let mut grabs = Vec::new();
    let mut encodes = Vec::new();
    let mut totals = Vec::new();
    let mut jpeg = None;
    let mut frame = None;
    for _ in 0..runs {
        let started = Instant::now();
        let grabbed = capture::capture_monitor(&primary)?;
        let grabbed_at = started.elapsed();
        // Redaction is off here: this measures grabbing and encoding
        // (`redaction_bench` measures what redaction adds).
        let unchecked = plain.redact_frame(grabbed)?;
        jpeg = Some(capture::encode(
            &unchecked,
            capture::DEFAULT_MAX_SIDE,
            Encoding::Jpeg { quality: 80 },
        )?);
        let grabbed = unchecked.into_frame();
        let total = started.elapsed();
        grabs.push(grabbed_at);
        encodes.push(total - grabbed_at);
        totals.push(total);
        // As the ambient loop does: the buffer serves the next grab.
        if let Some(previous) = frame.replace(grabbed) {
            capture::recycle(previous);
        }
    }
    let (grab_ms, encode_ms, full_ms) = (median(grabs), median(encodes), median(totals));
    let (jpeg, frame) = (jpeg.context("no runs")?, frame.context("no runs")?);
    let frame = plain.redact_frame(frame)?;
    let full_png = capture::encode(&frame, capture::DEFAULT_MAX_SIDE, Encoding::Png)?;
    let frame = frame.into_frame();
    let region = PixelRect {
        x: 100,
        y: 100,
        width: 800,
        height: 600,
    };
    let region_bounds = PixelRect {
        x: primary.bounds.x + 100,
        y: primary.bounds.y + 100,
        ..region
    };
    let region_monitor = capture::geometry::MonitorInfo {
        bounds: region_bounds,
        ..primary.clone()
    };
    let (region_ms, png) = time(runs, || {
        let frame = plain.redact_frame(capture::capture_monitor(&region_monitor)?)?;
        let png = capture::encode(&frame, capture::DEFAULT_MAX_SIDE, Encoding::Png)?;
        capture::recycle(frame.into_frame());
        Ok(png)
    })?;
    let region_jpeg = capture::encode(
        &plain.redact_frame(frame.crop(&region).context("crop")?)?,
        capture::DEFAULT_MAX_SIDE,
        Encoding::Jpeg { quality: 80 },
    )?;
    let reference = frame.thumbnail().context("thumbnail")?;
    let (check_ms, difference) = time(runs, || {
        let frame = capture::capture_monitor(&primary)?;
        let difference = frame.thumbnail().context("thumbnail")?.difference(&reference);
        capture::recycle(frame);
        Ok(difference)
    })?;
    let (thumb_ms, _) = time(runs, || Ok(frame.thumbnail()))?;

    println!("\nSightline (medians of {runs}, ms):");
    println!(
        "  grab + JPEG q80 1920×1080           {full_ms:>7.2}   (grab {grab_ms:.2} + encode {encode_ms:.2}; {} KB, as PNG {} KB)",
        jpeg.bytes.len() / 1024,
        full_png.bytes.len() / 1024
    );
    println!(
        "  grab + PNG 800×600 region           {region_ms:>7.2}   ({} KB; as JPEG q80 {} KB)",
        png.bytes.len() / 1024,
        region_jpeg.bytes.len() / 1024
    );
    println!("  change check (grab + thumbnail)     {check_ms:>7.2}   (difference on a static screen {difference:.4})");
    println!("  change check on a held frame        {thumb_ms:>7.3}");
    drop(frame);

    match python {
        Some(python) => {
            let output = tokio::process::Command::new(&python)
                .arg(shared.join("mss_baseline.py"))
                .arg(runs.to_string())
                .env("DISPLAY", display.name())
                .output()
                .await?;
            if !output.status.success() {
                bail!("baseline: {}", String::from_utf8_lossy(&output.stderr));
            }
            let text = String::from_utf8_lossy(&output.stdout);
            println!("\nbaseline (mss + Pillow, same display): {}", text.trim());
            let value = |name: &str| -> Option<f64> {
                text.split_whitespace()
                    .find_map(|pair| pair.strip_prefix(&format!("{name}=")))
                    .and_then(|v| v.parse().ok())
            };
            if let (Some(full), Some(region), Some(grab)) = (
                value("full_capture_jpeg80_ms"),
                value("region800x600_capture_png_ms"),
                value("grab_full_ms"),
            ) {
                println!(
                    "  full frame grab + JPEG: {:.2}× faster than the baseline",
                    full / full_ms
                );
                println!(
                    "  800×600 region + PNG:   {:.2}× faster than the baseline",
                    region / region_ms
                );
                println!(
                    "  grab alone:             {:.2}× the baseline's speed",
                    grab / grab_ms
                );
            }
        }
        None => println!("\n(no --baseline-python: baseline skipped)"),
    }
    Ok(())
}
