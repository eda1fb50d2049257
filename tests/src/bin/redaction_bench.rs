//! Redaction benchmark: what checking a picture for secrets adds to a
//! region selection (800×600) and to an ambient look (1920×1080), beside
//! the grab itself, on a fresh Xvfb display showing the typical screen of
//! `../shared/bench/make-test-screen.sh` (a page of text, a panel, a
//! photo-like area). Medians of N runs, in ms, and CPU per look (this
//! process and the OCR processes it ran, from /proc).
//!
//! Usage: `redaction_bench [--runs N]` (default 20).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use anyhow::{bail, Context, Result};
use sightline_client::capture::{self, geometry::PixelRect};
use sightline_client::redaction::{RedactionSettings, Redactor};
use sightline_tests::display::{make_test_screen, Display};
use std::time::{Duration, Instant};

fn median(mut samples: Vec<Duration>) -> f64 {
    samples.sort();
    samples[samples.len() / 2].as_secs_f64() * 1000.0
}

/// CPU seconds used so far by this process and its waited-for children.
fn cpu_seconds() -> Result<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    // Fields after the command name (which may hold spaces) start at ')'.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .context("/proc/self/stat")?
        .1
        .split_whitespace()
        .collect();
    // utime, stime, cutime, cstime are fields 14–17 of the whole line,
    // 11–14 after the name.
    let ticks: f64 = fields[11..15]
        .iter()
        .map(|f| f.parse::<f64>().unwrap_or(0.0))
        .sum();
    Ok(ticks / 100.0)
}

/// Median wall time and mean CPU time per run of `work`, in ms.
fn measure(runs: usize, mut work: impl FnMut() -> Result<()>) -> Result<(f64, f64)> {
    let mut samples = Vec::with_capacity(runs);
    let cpu_before = cpu_seconds()?;
    for _ in 0..runs {
        let started = Instant::now();
        work()?;
        samples.push(started.elapsed());
    }
    let cpu = (cpu_seconds()? - cpu_before) * 1000.0 / runs as f64;
    Ok((median(samples), cpu))
}

#[tokio::main]
async fn main() -> Result<()> {
    let mut runs = 20usize;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--runs" => runs = args.next().context("--runs N")?.parse()?,
            other => bail!("unknown argument {other}"),
        }
    }
    let dir = tempfile::tempdir()?;
    let picture = make_test_screen(dir.path())?;
    let display = Display::start().await?;
    std::env::set_var("DISPLAY", display.name());
    display.set_background(&picture).await?;
    let monitors = capture::monitors()?;
    let primary = monitors.iter().find(|m| m.primary).context("no monitor")?.clone();
    let redactor = Redactor::new(&RedactionSettings::default(), false)?;
    let region = PixelRect {
        x: 100,
        y: 100,
        width: 800,
        height: 600,
    };

    let frame = capture::capture_monitor(&primary)?;
    let (grab_ms, grab_cpu) = measure(runs, || {
        capture::recycle(capture::capture_monitor(&primary)?);
        Ok(())
    })?;
    // Each look reads the whole frame: a fresh redactor has nothing kept.
    let (full_ms, full_cpu) = measure(runs, || {
        Redactor::new(&RedactionSettings::default(), false)?.redact_frame(frame.clone())?;
        Ok(())
    })?;
    // Looks after a change: 120 rows of the page replaced by other text,
    // back and forth, so each look has one changed band to read.
    let mut changed = frame.clone();
    let row_bytes = changed.stride;
    let (from, to, rows) = (600usize, 300usize, 120usize);
    let source = changed.bgra[from * row_bytes..(from + rows) * row_bytes].to_vec();
    changed.bgra[to * row_bytes..(to + rows) * row_bytes].copy_from_slice(&source);
    redactor.redact_frame(frame.clone())?;
    let mut flip = false;
    let (changed_ms, changed_cpu) = measure(runs, || {
        flip = !flip;
        redactor.redact_frame(if flip { changed.clone() } else { frame.clone() })?;
        Ok(())
    })?;
    // A region read cold, as if the overlay had not read ahead.
    let crop = frame.crop(&region).context("crop")?;
    let (region_ms, region_cpu) = measure(runs, || {
        Redactor::new(&RedactionSettings::default(), false)?.redact_frame(crop.clone())?;
        Ok(())
    })?;
    // As the overlay does it: the frozen screen is read from the moment it
    // opens; the region is asked for when the user lets go, here after a
    // 1.5 s drag. Timed: from letting go to the redacted region.
    let mut after_drag = Vec::with_capacity(runs);
    for _ in 0..runs.min(8) {
        let reading = redactor.read_ahead(frame.clone());
        std::thread::sleep(Duration::from_millis(1500));
        let started = Instant::now();
        redactor.redact_region(reading.as_ref(), crop.clone(), &region)?;
        after_drag.push(started.elapsed());
    }
    let drag_ms = median(after_drag);
    let found = redactor.redact_frame(frame.clone())?.report().total();

    println!("\nRedaction (medians of {runs}, ms; CPU ms per run incl. OCR processes):");
    println!("  grab 1920×1080                      {grab_ms:>8.1}   cpu {grab_cpu:>7.1}");
    println!("  800×600 region, read cold           {region_ms:>8.1}   cpu {region_cpu:>7.1}");
    println!(
        "  800×600 region after a 1.5 s drag   {drag_ms:>8.1}   (read ahead while selecting; target < 150)"
    );
    println!("  1920×1080 look, whole frame read    {full_ms:>8.1}   cpu {full_cpu:>7.1}   (target < 1000)");
    println!("  1920×1080 look after a change       {changed_ms:>8.1}   cpu {changed_cpu:>7.1}   (120 rows changed)");
    println!("  secrets found on the test screen    {found:>8}");
    println!(
        "  an ambient look after a change      {:>8.1}   (grab + redaction; a look that sends nothing runs no OCR)",
        grab_ms + changed_ms
    );
    Ok(())
}
