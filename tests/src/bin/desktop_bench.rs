//! Desktop benchmark: starts the sidebar (release build next to this
//! binary, or `SIGHTLINE_APP_BIN`) on a fresh Xvfb display with a window
//! manager, and measures
//!
//! 1. the time from process start to the sidebar being interactive (the UI
//!    reports its first drawn view; the app logs it), over several runs;
//! 2. the memory of the app and its WebKit processes after N seconds idle,
//!    as PSS from `/proc/<pid>/smaps_rollup` (shared pages counted once);
//! 3. the time from the region shortcut to the overlay having painted its
//!    frozen frame (the page reports its second animation frame after the
//!    picture loaded; the app logs the time since the shortcut arrived),
//!    over several openings;
//! 4. the CPU time the app and its WebKit processes use over N seconds on
//!    a still screen (`../shared/bench/make-test-screen.sh`), logged in,
//!    with ambient awareness off and then on (default cooldown), as a share
//!    of one core.
//!
//! Usage: `desktop_bench [--runs N] [--idle-seconds N] [--ambient-seconds N]`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use anyhow::{bail, Context, Result};
use sightline_tests::display::{make_test_screen, Display, StubbedProfile};
use sightline_tests::procs::{clock_ticks_per_second, cpu_ticks, process_tree, without_colours};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

#[tokio::main]
async fn main() -> Result<()> {
    let mut runs = 10usize;
    let mut idle = 60u64;
    let mut ambient_seconds = 60u64;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--runs" => runs = args.next().context("--runs N")?.parse()?,
            "--idle-seconds" => idle = args.next().context("--idle-seconds N")?.parse()?,
            "--ambient-seconds" => ambient_seconds = args.next().context("--ambient-seconds N")?.parse()?,
            other => bail!("unknown argument {other}"),
        }
    }
    let app = match std::env::var_os("SIGHTLINE_APP_BIN") {
        Some(path) => PathBuf::from(path),
        None => std::env::current_exe()?.with_file_name("sightline"),
    };
    let display = Display::start().await?;
    println!("app: {}", app.display());

    let mut startups = Vec::new();
    for run in 0..runs {
        let config = tempfile::tempdir()?;
        let (elapsed, mut child, log) =
            start(&app, &display, config.path(), config.path(), run + 1 == runs).await?;
        startups.push(elapsed);
        if run + 1 < runs {
            child.kill().await?;
        } else {
            // The last run stays up for the memory measurement.
            tokio::time::sleep(Duration::from_secs(idle)).await;
            let pid = child.id().context("app exited")?;
            let (total, parts) = pss_tree(pid)?;
            println!(
                "\nmemory after {idle} s idle (PSS, app + WebKit processes): {:.1} MB",
                kb_to_mb(total)
            );
            for (name, kb) in parts {
                println!("  {name:<28} {:>8.1} MB", kb_to_mb(kb));
            }
            if let Some(mut log) = log {
                overlay_times(&display, &mut log, runs).await?;
                let (warm, _) = pss_tree(pid)?;
                println!(
                    "memory with the selection overlays kept warm after use: {:.1} MB",
                    kb_to_mb(warm)
                );
            }
            child.kill().await?;
        }
    }
    startups.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "\nstart to interactive over {runs} runs: min {:.0} ms, median {:.0} ms, max {:.0} ms",
        ms(startups[0]),
        ms(startups[startups.len() / 2]),
        ms(startups[startups.len() - 1])
    );
    if ambient_seconds > 0 {
        ambient_cpu(&app, &display, ambient_seconds).await?;
    }
    Ok(())
}

/// CPU over `seconds` of a still, realistic screen with ambient awareness
/// off and on, for the app process alone and with its WebKit processes.
async fn ambient_cpu(app: &Path, display: &Display, seconds: u64) -> Result<()> {
    let pictures = tempfile::tempdir()?;
    let picture = make_test_screen(pictures.path())?;
    display.set_background(&picture).await?;
    let tick = clock_ticks_per_second()?;
    println!("\nCPU over {seconds} s of a still screen, logged in (share of one core):");
    for enabled in [false, true] {
        let profile = StubbedProfile::start(
            if enabled { "bench-on" } else { "bench-off" },
            "quartz-heron-meadow",
            ("Watch", "chat"),
            |settings, mode| {
                settings.mode = Some(mode.clone());
                settings.ambient.enabled = enabled;
                settings.ambient.mode = Some(mode);
            },
        )
        .await?;
        let (_, mut child, _) = start(app, display, &profile.config_dir, profile.home.path(), false).await?;
        let pid = child.id().context("app exited")?;
        // Start-up work (modes, the connection check) is not idling.
        tokio::time::sleep(Duration::from_secs(5)).await;
        let before = cpu_ticks(pid)?;
        tokio::time::sleep(Duration::from_secs(seconds)).await;
        let after = cpu_ticks(pid)?;
        let share = |ticks: u64| ticks as f64 / tick / seconds as f64 * 100.0;
        println!(
            "  ambient awareness {:<3}: app {:.2} %, app + WebKit processes {:.2} %",
            if enabled { "on" } else { "off" },
            share(after.0.saturating_sub(before.0)),
            share(after.1.saturating_sub(before.1)),
        );
        child.kill().await?;
    }
    Ok(())
}

/// Presses the region shortcut `times` times and reads how long the
/// overlay took to paint (Esc closes it in between).
async fn overlay_times(
    display: &Display,
    log: &mut tokio::sync::mpsc::UnboundedReceiver<String>,
    times: usize,
) -> Result<()> {
    let mut painted = Vec::new();
    let mut wall = Vec::new();
    for _ in 0..times {
        while log.try_recv().is_ok() {}
        let pressed = Instant::now();
        display.run("xdotool", &["key", "ctrl+shift+space"]).await?;
        let line = tokio::time::timeout(Duration::from_secs(10), async {
            while let Some(line) = log.recv().await {
                if line.contains("selection overlay visible") {
                    return Some(line);
                }
            }
            None
        })
        .await
        .context("the overlay did not paint within 10 s")?
        .context("the app exited")?;
        wall.push(pressed.elapsed().as_secs_f64() * 1000.0);
        let plain = without_colours(&line);
        let ms = plain
            .split("elapsed_ms=")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|value| value.parse::<f64>().ok())
            .context("no elapsed_ms in the log line")?;
        painted.push(ms);
        display.run("xdotool", &["key", "Escape"]).await?;
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    // The first opening makes the overlay's web view; the others reuse it.
    let first = painted.remove(0);
    wall.remove(0);
    painted.sort_by(f64::total_cmp);
    wall.sort_by(f64::total_cmp);
    println!(
        "
region shortcut to painted overlay: first opening {first:.0} ms (a new web view); the next {} openings min {:.0} ms, median {:.0} ms, max {:.0} ms (with xdotool's own start: median {:.0} ms)",
        painted.len(),
        painted[0],
        painted[painted.len() / 2],
        painted[painted.len() - 1],
        wall[wall.len() / 2]
    );
    Ok(())
}

type LogLines = Option<tokio::sync::mpsc::UnboundedReceiver<String>>;

/// Starts the app and waits for its "sidebar interactive" log line; with
/// `keep`, the rest of its log comes back as a channel.
async fn start(
    app: &Path,
    display: &Display,
    config: &Path,
    home: &Path,
    keep: bool,
) -> Result<(Duration, tokio::process::Child, LogLines)> {
    let started = Instant::now();
    let mut child = Command::new(app)
        .env("DISPLAY", display.name())
        .env("SIGHTLINE_CONFIG_DIR", config)
        .env("HOME", home)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let stderr = child.stderr.take().context("stderr")?;
    let mut lines = BufReader::new(stderr).lines();
    let elapsed = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await? {
            if line.contains("sidebar interactive") {
                return Ok::<_, anyhow::Error>(started.elapsed());
            }
        }
        bail!("the app exited before it was interactive")
    })
    .await
    .context("the sidebar was not interactive within 30 s")??;
    let mut rest = None;
    if keep {
        let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                let _ = sender.send(line);
            }
        });
        rest = Some(receiver);
    }
    Ok((elapsed, child, rest))
}

fn kb_to_mb(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

/// PSS in kB of `root` and every process below it, with their names.
fn pss_tree(root: u32) -> Result<(u64, Vec<(String, u64)>)> {
    let tree = process_tree(root)?;
    let mut parts = Vec::new();
    let mut total = 0;
    for pid in tree {
        let name = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
        let pss = rollup
            .lines()
            .find_map(|line| line.strip_prefix("Pss:"))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .unwrap_or(0);
        total += pss;
        parts.push((format!("{} ({pid})", name.trim()), pss));
    }
    Ok((total, parts))
}
