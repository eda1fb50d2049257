//! GNOME Wayland benchmark: the release sidebar (next to this binary, or
//! `SIGHTLINE_APP_BIN`) in a fresh headless GNOME Shell, logged in to a
//! fresh server, after the user allowed it to see the screen. Measures
//!
//! 1. the time from the region shortcut (a key press through mutter's
//!    input) to the overlay having painted its frozen frame — through
//!    GNOME's keybinding, `sightline --action`, the instance hand-off and a
//!    frame of the screen cast — over several openings, with the cast warm
//!    (kept open) and cold (started for the opening);
//! 2. the CPU over N seconds of a still screen, logged in, with ambient
//!    awareness off and on: the app and its WebKit processes, and the extra
//!    CPU of gnome-shell, PipeWire and WirePlumber, as shares of one core.
//!
//! Usage: `gnome_bench [--openings N] [--seconds N]`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use anyhow::{bail, Context, Result};
use sightline_tests::display::StubbedProfile;
use sightline_tests::gnome::GnomeSession;
use sightline_tests::procs::{clock_ticks_per_second, cpu_ticks, wait_for_log, without_colours};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

const PASSWORD: &str = "quartz-heron-meadow";

#[tokio::main]
async fn main() -> Result<()> {
    let mut openings = 10usize;
    let mut seconds = 60u64;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--openings" => openings = args.next().context("--openings N")?.parse()?,
            "--seconds" => seconds = args.next().context("--seconds N")?.parse()?,
            other => bail!("unknown argument {other}"),
        }
    }
    let app = match std::env::var_os("SIGHTLINE_APP_BIN") {
        Some(path) => PathBuf::from(path),
        None => std::env::current_exe()?.with_file_name("sightline"),
    };
    println!("app: {}", app.display());
    let profile = StubbedProfile::start("bench", PASSWORD, ("Watch", "chat"), |settings, mode| {
        settings.mode = Some(mode.clone());
        settings.ambient.mode = Some(mode);
        settings.ambient.enabled = false;
    })
    .await?;
    let session = GnomeSession::start().await?;
    let work = tempfile::tempdir()?;
    let screen = sightline_tests::display::make_test_screen(work.path())?;
    let _viewer = session.show_picture("Still", &screen, true)?;
    // Kept for reading afterwards.
    let log = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../test-output/wayland/bench-app.log");
    std::fs::create_dir_all(log.parent().context("a folder")?)?;
    let _ = std::fs::remove_file(&log);
    println!("the app's log: {}", log.display());
    let filter = "info";

    // Off: the overlay timings, then the idle CPU.
    let mut child = session.start_app(&app, &profile.config_dir, &log, filter)?;
    wait_for_log(&log, "sidebar interactive", 1).await?;
    wait_for_log(&log, "Connected", 1).await?;
    session.input(&["key:ffe3+ffe1+20"]).await?;
    wait_for_log(&log, "the selection overlay could not open", 1).await?;
    session
        .grant_screen_access(
            &profile.config_dir,
            &work.path().join("explained.png"),
            &work.path().join("asked.png"),
        )
        .await?;
    session.input(&["click:300,500"]).await?;
    let mut warm = Vec::new();
    for opening in 1..=openings {
        warm.push(open_overlay(&session, &log, opening).await?);
    }
    report("shortcut to painted overlay, cast kept open", &mut warm);
    // Cold: the cast closes a minute after its last use.
    println!("waiting 65 s for the unused cast to close…");
    tokio::time::sleep(Duration::from_secs(65)).await;
    let mut cold = vec![open_overlay(&session, &log, openings + 1).await?];
    report("shortcut to painted overlay, cast started for it", &mut cold);
    tokio::time::sleep(Duration::from_secs(65)).await;
    let off = cpu(&session, child.id().context("app exited")?, seconds).await?;
    child.kill().await?;
    let _ = child.wait().await;

    // On: the same still screen with ambient awareness looking.
    set_ambient(&profile.config_dir, true)?;
    let mut child = session.start_app(&app, &profile.config_dir, &log, filter)?;
    wait_for_log(&log, "sidebar interactive", 2).await?;
    session.input(&["click:300,500"]).await?;
    tokio::time::sleep(Duration::from_secs(10)).await;
    let on = cpu(&session, child.id().context("app exited")?, seconds).await?;
    child.kill().await?;
    println!("\nCPU over {seconds} s of a still screen, logged in (share of one core):");
    for (name, off, on) in [
        ("app + WebKit processes", off.app, on.app),
        ("gnome-shell", off.shell, on.shell),
        ("PipeWire + WirePlumber", off.pipewire, on.pipewire),
    ] {
        println!(
            "  {name:<24} off {off:.2} %, on {on:.2} %, extra {:.2} %",
            on - off
        );
    }
    let extra = (on.app + on.shell + on.pipewire) - (off.app + off.shell + off.pipewire);
    println!("  together, ambient awareness on costs {extra:.2} % of one core more than off");
    let looks = std::fs::read_to_string(&log)?
        .lines()
        .filter(|line| line.contains("screen cast started"))
        .count();
    println!("(the screen cast was started {looks} times in all)");
    Ok(())
}

/// The region shortcut, then Esc once the overlay painted: how long from
/// the key press to the painted overlay.
async fn open_overlay(session: &GnomeSession, log: &Path, opening: usize) -> Result<Duration> {
    let pressed = SystemTime::now();
    session.input(&["key:ffe3+ffe1+20"]).await?;
    wait_for_log(log, "selection overlay visible", opening).await?;
    let line = std::fs::read_to_string(log)?
        .lines()
        .filter(|line| line.contains("selection overlay visible"))
        .nth(opening - 1)
        .context("the overlay line")?
        .to_owned();
    let painted = logged_at(&line)?;
    session.input(&["key:ffe1", "key:ff1b", "sleep:0.5"]).await?;
    Ok(painted.duration_since(pressed).unwrap_or_default())
}

/// The time at the start of a log line (RFC 3339, UTC, with colours).
fn logged_at(line: &str) -> Result<SystemTime> {
    let plain = without_colours(line);
    let stamp = plain.split_whitespace().next().context("no time")?;
    let time = time::OffsetDateTime::parse(stamp, &time::format_description::well_known::Rfc3339)?;
    Ok(SystemTime::from(time))
}

fn set_ambient(config_dir: &Path, enabled: bool) -> Result<()> {
    let path = config_dir.join("settings.json");
    let mut settings: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path)?)?;
    settings["ambient"]["enabled"] = serde_json::Value::Bool(enabled);
    std::fs::write(&path, serde_json::to_vec_pretty(&settings)?)?;
    Ok(())
}

struct Shares {
    app: f64,
    shell: f64,
    pipewire: f64,
}

/// CPU shares of one core over `seconds`.
async fn cpu(session: &GnomeSession, app: u32, seconds: u64) -> Result<Shares> {
    let tick = clock_ticks_per_second()?;
    let shell = session.process("gnome-shell").context("no gnome-shell")?;
    let pipewire = [session.process("pipewire"), session.process("wireplumber")];
    let sample = || -> Result<(u64, u64, u64)> {
        let pw: u64 = pipewire
            .iter()
            .flatten()
            .map(|pid| cpu_ticks(*pid).map(|(own, _)| own))
            .sum::<Result<u64>>()?;
        Ok((cpu_ticks(app)?.1, cpu_ticks(shell)?.0, pw))
    };
    let before = sample()?;
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let after = sample()?;
    let share = |ticks: u64| ticks as f64 / tick / seconds as f64 * 100.0;
    Ok(Shares {
        app: share(after.0 - before.0),
        shell: share(after.1 - before.1),
        pipewire: share(after.2 - before.2),
    })
}

fn report(what: &str, times: &mut [Duration]) {
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{what} ({} openings): min {:.0} ms, median {:.0} ms, max {:.0} ms",
        times.len(),
        ms(times[0]),
        ms(times[times.len() / 2]),
        ms(times[times.len() - 1])
    );
}
