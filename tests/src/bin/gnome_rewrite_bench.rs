//! GNOME Wayland rewrite benchmark: the release sidebar (next to this
//! binary, or `SIGHTLINE_APP_BIN`) in a fresh headless GNOME Shell, and the
//! test editor as a native Wayland window. For texts of 10, 100 and 1,000
//! characters (ASCII, and non-ASCII with line breaks in the longer ones),
//! the user selects the editor's text, presses the rewrite shortcut, and
//! presses Apply on the proposal; reported is the time from the Apply
//! click until the editor holds the whole text — through GNOME's Alt+Tab
//! back to the editor and keys from the RemoteDesktop portal, or a paste
//! through XWayland's clipboard — and whether it arrived exactly.
//!
//! Usage: `gnome_rewrite_bench [--runs N]` (default 3 per case).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use anyhow::{bail, Context, Result};
use sightline_tests::display::StubbedProfile;
use sightline_tests::gnome::GnomeSession;
use sightline_tests::measure::sample_text;
use sightline_tests::procs::wait_for_log;
use sightline_tests::stub::Behaviour;
use std::path::PathBuf;
use std::time::{Duration, Instant};

const PASSWORD: &str = "quartz-heron-meadow";
const LONG: Duration = Duration::from_secs(60);

#[tokio::main]
async fn main() -> Result<()> {
    let mut runs = 3usize;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--runs" => runs = args.next().context("--runs N")?.parse()?,
            other => bail!("unknown argument {other}"),
        }
    }
    let app = match std::env::var_os("SIGHTLINE_APP_BIN") {
        Some(path) => PathBuf::from(path),
        None => std::env::current_exe()?.with_file_name("sightline"),
    };
    println!("app: {}", app.display());
    let profile = StubbedProfile::start("bench", PASSWORD, ("Polish", "rewrite"), |settings, mode| {
        settings.rewrite.mode = Some(mode)
    })
    .await?;
    let session = GnomeSession::start().await?;
    let log = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../test-output/wayland/rewrite-bench-app.log");
    std::fs::create_dir_all(log.parent().context("a folder")?)?;
    let _ = std::fs::remove_file(&log);
    println!("the app's log: {}", log.display());
    let mut child = session.start_app(&app, &profile.config_dir, &log, "info")?;
    wait_for_log(&log, "sidebar interactive", 1).await?;
    wait_for_log(&log, "Connected", 1).await?;
    let editor = session.start_editor("Bench Editor", "start", true)?;
    if editor.wait_for_text("start", LONG).await? != "start" {
        bail!("the editor did not start");
    }
    tokio::time::sleep(Duration::from_secs(1)).await;

    println!(
        "\n{:<10} {:>6} {:>10} {:>10} {:>10}  exact",
        "text", "chars", "median ms", "min ms", "max ms"
    );
    let mut current = "start".to_owned();
    let mut requests = 0;
    let mut asked = false;
    for chars in [10usize, 100, 1000] {
        for ascii in [true, false] {
            let text = sample_text(chars, ascii);
            let mut times = Vec::new();
            let mut exact = 0;
            for _ in 0..runs {
                // A proposal that differs from what the editor holds.
                let proposal = if current == text {
                    format!("{text}.")
                } else {
                    text.clone()
                };
                profile.stub.set(Behaviour {
                    deltas: vec![proposal.clone()],
                    ..Behaviour::default()
                });
                session.input(&["click:600,500"]).await?;
                session.rewrite_all().await?;
                if !asked {
                    let picture = log.with_file_name("bench-gnome-asks-for-the-keyboard.png");
                    session.allow_remote_interaction(&picture).await?;
                    asked = true;
                }
                requests += 1;
                profile.stub.wait_for_requests(requests, LONG).await?;
                let picture = log.with_file_name("bench-proposal.png");
                let (x, y) = session
                    .find_sidebar_button("the proposal and its Apply button", &picture, 40)
                    .await?;
                session.input(&[&format!("move:{x},{y}")]).await?;
                // The click on Apply (held for 50 ms, as a quick click is)
                // is the start.
                let started = Instant::now();
                session.input(&["tap"]).await?;
                let arrived = editor.wait_for_text(&proposal, LONG).await?;
                let elapsed = started.elapsed();
                times.push(elapsed);
                if arrived == proposal {
                    exact += 1;
                }
                current = arrived;
                // The user's clipboard is put back after a paste.
                tokio::time::sleep(Duration::from_millis(800)).await;
            }
            times.sort();
            let ms = |d: Duration| d.as_secs_f64() * 1000.0;
            println!(
                "{:<10} {:>6} {:>10.1} {:>10.1} {:>10.1}  {exact}/{runs}",
                if ascii { "ascii" } else { "non-ascii" },
                text.chars().count(),
                ms(times[times.len() / 2]),
                ms(times[0]),
                ms(times[times.len() - 1]),
            );
        }
    }
    let methods = std::fs::read_to_string(&log)?
        .lines()
        .filter(|line| line.contains("rewrite applied"))
        .count();
    println!("\n{methods} rewrites applied (the app's log says how each went)");
    child.kill().await?;
    Ok(())
}
