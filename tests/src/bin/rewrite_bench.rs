//! Rewrite injection benchmark: on a fresh Xvfb display with a window
//! manager and the GTK editor from `tests/apps/textpad.py`, puts texts of
//! 10, 100 and 1,000 characters (ASCII and non-ASCII, with line breaks in
//! the long ones) into the editor through the same code the app's Apply
//! runs (`rewrite::inject` over the real seat), once typed and once
//! pasted, and reports the time from Apply until the editor holds the
//! whole text, and whether it arrived exactly.
//!
//! Usage: `rewrite_bench [--runs N]` (default 5 per case).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use anyhow::{bail, Context, Result};
use sightline_client::clipboard::Clipboard;
use sightline_client::rewrite::{self, Method, Timing};
use sightline_client::seat::keyboard::Keyboard;
use sightline_client::seat::{Seat, SystemSeat};
use sightline_tests::display::{Display, TextPad};
use sightline_tests::measure::sample_text;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[tokio::main]
async fn main() -> Result<()> {
    let mut runs = 5usize;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--runs" => runs = args.next().context("--runs N")?.parse()?,
            other => bail!("unknown argument {other}"),
        }
    }
    let display = Display::start().await?;
    std::env::set_var("DISPLAY", display.name());
    let dir = tempfile::tempdir()?;
    let pad = TextPad::start(&display, "Bench Pad", "", dir.path()).await?;
    display
        .run("xdotool", &["windowactivate", "--sync", &pad.window])
        .await?;
    let seat: Arc<dyn Seat> = Arc::new(SystemSeat::open(
        Arc::new(Clipboard::new()),
        Keyboard::on_own_thread()?,
    )?);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let target = seat.active_window()?.context("no focused window")?;
    println!("target: {} (window {})", target.describe(), target.id);
    println!(
        "\n{:<10} {:>6} {:<6} {:>10} {:>10} {:>10}  exact",
        "text", "chars", "method", "median ms", "min ms", "max ms"
    );

    for chars in [10usize, 100, 1000] {
        for ascii in [true, false] {
            let text = sample_text(chars, ascii);
            for (name, method) in [("type", Method::Type), ("paste", Method::Paste)] {
                let mut times = Vec::new();
                let mut exact = 0;
                for _ in 0..runs {
                    // Start from an empty editor with the focus in it.
                    display
                        .run("xdotool", &["key", "--clearmodifiers", "ctrl+a", "Delete"])
                        .await?;
                    if !pad.wait_for_text("", Duration::from_secs(5)).await?.is_empty() {
                        bail!("the editor could not be emptied");
                    }
                    let started = Instant::now();
                    let injected = {
                        let seat = seat.clone();
                        let target = target.clone();
                        let text = text.clone();
                        tokio::task::spawn_blocking(move || {
                            rewrite::inject_with(seat.as_ref(), &target, &text, method, Timing::default())
                        })
                    };
                    let arrived = pad.wait_for_text(&text, Duration::from_secs(120)).await?;
                    let elapsed = started.elapsed();
                    injected.await??;
                    times.push(elapsed);
                    if arrived == text {
                        exact += 1;
                    }
                }
                times.sort();
                let ms = |d: Duration| d.as_secs_f64() * 1000.0;
                println!(
                    "{:<10} {:>6} {:<6} {:>10.1} {:>10.1} {:>10.1}  {exact}/{runs}",
                    if ascii { "ascii" } else { "non-ascii" },
                    chars,
                    name,
                    ms(times[times.len() / 2]),
                    ms(times[0]),
                    ms(times[times.len() - 1]),
                );
            }
        }
    }
    Ok(())
}
