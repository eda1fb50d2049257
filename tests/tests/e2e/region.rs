//! Focused region selection with the real app under Xvfb: the screen
//! shows a test pattern in which every pixel is different, `xdotool`
//! presses the shortcut, drags a rectangle on the overlay, confirms, and
//! types the question into the sidebar, and the picture that reaches the
//! model provider must be exactly that rectangle's pixels. Esc cancels
//! without sending anything. A click without a drag selects a real X
//! window showing a pattern of its own, which must arrive whole and exact.
//! Screenshots land in test-output/region/.
//!
//! The app runs without WebDriver here: an automation session claims every
//! new web view of the app and the overlays would never draw under it. The
//! keyboard and the pointer are enough, as they are for the user.

use anyhow::{Context, Result};
use image::RgbaImage;
use sightline_tests::display::{Display, StubbedProfile};
use sightline_tests::pictures::position_pattern;
use sightline_tests::procs::wait_for_log;
use sightline_tests::stub::{Behaviour, StubProvider};
use std::path::PathBuf;
use std::time::{Duration, Instant};

const PASSWORD: &str = "quartz-heron-meadow";
const LONG: Duration = Duration::from_secs(30);

fn output_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../test-output/region")
}

/// How many overlay windows are on screen.
async fn overlays(display: &Display) -> usize {
    display
        .run(
            "xdotool",
            &["search", "--onlyvisible", "--name", "^Sightline selection$"],
        )
        .await
        .map(|out| out.lines().count())
        .unwrap_or(0)
}

async fn wait_for_overlays(display: &Display, wanted: usize) -> Result<()> {
    let deadline = Instant::now() + LONG;
    while overlays(display).await != wanted {
        anyhow::ensure!(Instant::now() < deadline, "expected {wanted} overlay windows");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dragged_region_reaches_the_model_pixel_for_pixel() -> Result<()> {
    let shots = output_dir();
    std::fs::create_dir_all(&shots)?;
    let StubbedProfile {
        stub,
        server: _server,
        home,
        config_dir,
    } = StubbedProfile::start("rhea", PASSWORD, ("Explain", "chat"), |s, mode| {
        s.mode = Some(mode)
    })
    .await?;

    let display = Display::start().await?;
    let picture = home.path().join("pattern.png");
    let pattern = position_pattern(1920, 1080);
    pattern.save(&picture)?;
    display.set_background(&picture).await?;
    let log = shots.join("app.log");
    let mut app = display.launch_app(&config_dir, home.path(), &log, &[])?;
    let result = walk(&display, &stub, &pattern, &log, home.path()).await;
    if result.is_err() {
        let _ = display.screenshot(&shots.join("failure-screen.png")).await;
    }
    app.kill().await?;
    result
}

/// The overlay of the `opening`th shortcut press has painted its frame
/// (only then does it take a selection).
async fn painted(log: &std::path::Path, opening: usize) -> Result<()> {
    wait_for_log(log, "selection overlay visible", opening).await
}

async fn walk(
    display: &Display,
    stub: &StubProvider,
    pattern: &RgbaImage,
    log: &std::path::Path,
    dir: &std::path::Path,
) -> Result<()> {
    let shots = output_dir();
    wait_for_log(log, "sidebar interactive", 1).await?;
    wait_for_log(log, "Connected", 1).await?;

    // Esc cancels: the overlay closes and nothing is sent.
    display.run("xdotool", &["key", "ctrl+shift+space"]).await?;
    wait_for_overlays(display, 1).await?;
    painted(log, 1).await?;
    display.screenshot(&shots.join("01-overlay.png")).await?;
    display.run("xdotool", &["key", "Escape"]).await?;
    wait_for_overlays(display, 0).await?;
    assert!(stub.requests().is_empty());

    // The shortcut, a drag from (200, 150) to (500, 400), Enter.
    display.run("xdotool", &["key", "ctrl+shift+space"]).await?;
    wait_for_overlays(display, 1).await?;
    painted(log, 2).await?;
    display
        .run(
            "xdotool",
            &[
                "mousemove",
                "200",
                "150",
                "mousedown",
                "1",
                "mousemove",
                "350",
                "260",
                "mousemove",
                "500",
                "400",
                "mouseup",
                "1",
            ],
        )
        .await?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    display.screenshot(&shots.join("02-selection.png")).await?;
    display.run("xdotool", &["key", "Return"]).await?;
    wait_for_overlays(display, 0).await?;
    // The sidebar comes forward with the region and the question field
    // focused: the question is typed and sent with Enter.
    tokio::time::sleep(Duration::from_millis(700)).await;
    display
        .screenshot_right(&shots.join("03-region-in-sidebar.png"), 640)
        .await?;
    stub.set(Behaviour::default());
    display
        .run("xdotool", &["type", "--delay", "20", "What is in this part?"])
        .await?;
    display.run("xdotool", &["key", "Return"]).await?;
    let deadline = Instant::now() + LONG;
    while stub.requests().is_empty() {
        anyhow::ensure!(Instant::now() < deadline, "no question reached the model");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let upstream = stub.requests().pop().context("nothing reached the stub")?;
    assert!(
        upstream.to_string().contains("What is in this part?"),
        "{upstream}"
    );
    let (mime, png) = stub.last_image()?;
    assert_eq!(mime, "image/png", "regions go lossless");
    let region = image::load_from_memory(&png)?.to_rgba8();
    assert_eq!(region.dimensions(), (300, 250));
    for (x, y, pixel) in region.enumerate_pixels() {
        assert_eq!(
            pixel,
            pattern.get_pixel(200 + x, 150 + y),
            "pixel {x},{y} of the region"
        );
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    display
        .screenshot_right(&shots.join("04-answer.png"), 640)
        .await?;
    a_click_selects_a_window(display, stub, log, dir).await
}

/// A pattern of its own for a window: blue from 250 down, where the
/// background's stays below 120, so it cannot be mistaken for the background.
fn window_pattern() -> RgbaImage {
    RgbaImage::from_fn(400, 300, |x, y| {
        image::Rgba([
            (x % 256) as u8,
            (y % 256) as u8,
            (250 - x / 256 - 2 * (y / 256)) as u8,
            255,
        ])
    })
}

/// A real X client (ImageMagick's `display`) shows a known pattern; a click
/// without a drag on the overlay selects its window, and the region that
/// reaches the model holds the window's whole picture, pixel for pixel.
async fn a_click_selects_a_window(
    display: &Display,
    stub: &StubProvider,
    log: &std::path::Path,
    dir: &std::path::Path,
) -> Result<()> {
    let shots = output_dir();
    let picture = dir.join("window-pattern.png");
    let wanted = window_pattern();
    wanted.save(&picture)?;
    let _viewer = tokio::process::Command::new("/usr/bin/display")
        .args(["-title", "Pattern window", "-geometry", "+500+500"])
        .arg(&picture)
        .env("DISPLAY", display.name())
        .kill_on_drop(true)
        .spawn()?;
    let window = display.wait_for_window("Pattern window").await?;
    display
        .run("xdotool", &["windowactivate", "--sync", &window])
        .await?;
    tokio::time::sleep(Duration::from_millis(500)).await;

    let before = stub.requests().len();
    display.run("xdotool", &["key", "ctrl+shift+space"]).await?;
    wait_for_overlays(display, 1).await?;
    painted(log, 3).await?;
    display
        .run("xdotool", &["mousemove", "700", "650", "click", "1"])
        .await?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    display.screenshot(&shots.join("05-window-selected.png")).await?;
    display.run("xdotool", &["key", "Return"]).await?;
    wait_for_overlays(display, 0).await?;
    tokio::time::sleep(Duration::from_millis(700)).await;
    display
        .run(
            "xdotool",
            &["type", "--delay", "20", "What does this window show?"],
        )
        .await?;
    display.run("xdotool", &["key", "Return"]).await?;
    let deadline = Instant::now() + LONG;
    while stub.requests().len() == before {
        anyhow::ensure!(
            Instant::now() < deadline,
            "the window's region never reached the model"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (mime, png) = stub.last_image()?;
    assert_eq!(mime, "image/png");
    let region = image::load_from_memory(&png)?.to_rgba8();
    let (width, height) = region.dimensions();
    assert!(
        width >= 400 && height >= 300,
        "the region is {width}×{height}, smaller than the window"
    );
    // Where the window's picture sits in the region (inside its frame),
    // found by its first pixel, then compared whole.
    let corner = wanted.get_pixel(0, 0);
    let offset = (0..=height - 300)
        .flat_map(|y| (0..=width - 400).map(move |x| (x, y)))
        .find(|&(x, y)| {
            region.get_pixel(x, y) == corner
                && region.get_pixel(x + 399, y + 299) == wanted.get_pixel(399, 299)
        })
        .context("the window's picture is not in the region")?;
    for (x, y, pixel) in wanted.enumerate_pixels() {
        assert_eq!(
            region.get_pixel(offset.0 + x, offset.1 + y),
            pixel,
            "pixel {x},{y} of the window"
        );
    }
    Ok(())
}
