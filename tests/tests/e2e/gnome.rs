//! The desktop app on GNOME under Wayland, in a headless GNOME Shell of its
//! own (`sightline_tests::gnome`): a native Wayland window shows a pattern
//! in which every pixel tells where it is, and the user's keys and clicks
//! go through mutter's remote-desktop input.
//!
//! - The sidebar stays docked at the right edge and above the focused
//!   Wayland window.
//! - The region shortcut is GNOME's own keybinding, and works while the
//!   Wayland window has the focus. The first time, the sidebar explains
//!   what GNOME will ask; the user presses Continue and answers GNOME's
//!   Screen Share dialog (clicks, as a person would).
//! - The region dragged on the frozen overlay reaches the model provider
//!   pixel for pixel.
//! - A second start of the app asks nothing: the shortcut opens the
//!   overlay at once.
//!
//! - Ambient awareness asks for the screen at start, sends nothing of a
//!   still screen for a minute, one picture for one change, and nothing
//!   while an excluded Wayland window, or one whose focus cannot be told,
//!   has the focus.
//!
//! Screenshots land in test-output/wayland/.

use anyhow::{Context, Result};
use image::RgbaImage;
use sightline_tests::display::{app_binary, StubbedProfile};
use sightline_tests::gnome::{GnomeSession, HEIGHT, SIDEBAR, WIDTH};
use sightline_tests::pictures::{calm, position_of, position_pattern, tiles};
use sightline_tests::procs::wait_for_log;
use sightline_tests::stub::{Behaviour, StubProvider};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::process::Child;

const PASSWORD: &str = "quartz-heron-meadow";
const LONG: Duration = Duration::from_secs(30);
/// Ctrl+Shift+Space, the region shortcut, as keysyms.
const REGION_SHORTCUT: &str = "key:ffe3+ffe1+20";

fn output_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../test-output/wayland")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_gnome_wayland_a_region_by_shortcut_reaches_the_model_pixel_for_pixel() -> Result<()> {
    let shots = output_dir();
    std::fs::create_dir_all(&shots)?;
    let StubbedProfile {
        stub,
        server: _server,
        home,
        config_dir,
    } = StubbedProfile::start("gale", PASSWORD, ("Explain", "chat"), |s, mode| {
        s.mode = Some(mode)
    })
    .await?;
    let session = GnomeSession::start().await?;
    let picture = home.path().join("pattern.png");
    position_pattern(WIDTH, HEIGHT).save(&picture)?;
    let log = shots.join("app.log");
    let _ = std::fs::remove_file(&log);

    let mut app = session.start_app(&app_binary()?, &config_dir, &log, "info")?;
    let result = async {
        wait_for_log(&log, "sidebar interactive", 1).await?;
        wait_for_log(&log, "Connected", 1).await?;
        // The pattern in a native Wayland window, which takes the focus.
        let _viewer = session.show_picture("Pattern", &picture, true)?;
        walk(&session, &stub, &log, &config_dir, &mut app).await
    }
    .await;
    if result.is_err() {
        let _ = session.save_screenshot(&shots.join("failure-screen.png")).await;
    }
    app.kill().await?;
    result
}

async fn walk(
    session: &GnomeSession,
    stub: &StubProvider,
    log: &Path,
    config_dir: &Path,
    app: &mut Child,
) -> Result<()> {
    let shots = output_dir();
    let sidebar_left = WIDTH - SIDEBAR;
    // Docked and on top: the pattern fills the screen's left part, the
    // sidebar (not the pattern) its right edge.
    let screen = session
        .wait_for_screen("the pattern beside the sidebar", LONG, |screen| {
            // The pattern is on screen near where it was drawn (below
            // GNOME's top bar).
            let (x, y) = position_of(screen.get_pixel(300, 300));
            (200..=300).contains(&x) && (200..=300).contains(&y)
        })
        .await?;
    screen.save(shots.join("01-docked-above-a-wayland-window.png"))?;
    let (px, py) = position_of(screen.get_pixel(300, 300));
    let offset = (300 - px as i64, 300 - py as i64);
    for y in (100..HEIGHT).step_by(97) {
        let pixel = screen.get_pixel(sidebar_left + 100, y);
        let (x, py) = position_of(pixel);
        assert!(
            (x as i64 + offset.0, py as i64 + offset.1) != ((sidebar_left + 100) as i64, y as i64),
            "the pattern shows through where the sidebar should be (y {y})"
        );
    }

    // The first shortcut: the sidebar explains what GNOME will ask.
    session.input(&[REGION_SHORTCUT]).await?;
    wait_for_log(log, "the selection overlay could not open", 1).await?;
    session
        .grant_screen_access(
            config_dir,
            &shots.join("02-what-gnome-will-ask.png"),
            &shots.join("03-gnome-asks.png"),
        )
        .await?;

    region_by_shortcut(session, stub, log, 1, offset).await?;

    // A second start asks nothing: the shortcut opens the overlay at once.
    app.kill().await?;
    let _ = app.wait().await;
    *app = session.start_app(&app_binary()?, config_dir, log, "info")?;
    wait_for_log(log, "sidebar interactive", 2).await?;
    wait_for_log(log, "Connected", 2).await?;
    session.input(&["click:300,300"]).await?;
    let before = std::fs::read_to_string(log)?
        .lines()
        .filter(|line| line.contains("the selection overlay could not open"))
        .count();
    region_by_shortcut(session, stub, log, 2, offset).await?;
    let after = std::fs::read_to_string(log)?
        .lines()
        .filter(|line| line.contains("the selection overlay could not open"))
        .count();
    assert_eq!(before, after, "the second start had to ask again");
    Ok(())
}

/// The shortcut with the Wayland window focused, a drag from (200, 150) to
/// (500, 400), Enter, a question: the region reaches the model exactly.
async fn region_by_shortcut(
    session: &GnomeSession,
    stub: &StubProvider,
    log: &Path,
    opening: usize,
    offset: (i64, i64),
) -> Result<()> {
    let shots = output_dir();
    session.input(&[REGION_SHORTCUT]).await?;
    wait_for_log(log, "selection overlay visible", opening).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    session
        .save_screenshot(&shots.join(format!("{:02}-overlay.png", 3 + opening)))
        .await?;
    // Mutter drops the first virtual key after the focus moved (see
    // WAYLAND-TESTING.md): a lone Shift goes first.
    session
        .input(&["key:ffe1", "drag:200,150,500,400", "sleep:0.3", "key:ff0d"])
        .await?;
    wait_for_log(log, "region selected", opening).await?;
    tokio::time::sleep(Duration::from_millis(700)).await;
    let before = stub.requests().len();
    stub.set(Behaviour::default());
    session
        .input(&["key:ffe1", "type:What is in this part?", "key:ff0d"])
        .await?;
    let deadline = Instant::now() + LONG;
    while stub.requests().len() == before {
        anyhow::ensure!(Instant::now() < deadline, "no question reached the model");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    session
        .save_screenshot(&shots.join(format!("{:02}-answer.png", 5 + opening)))
        .await?;
    let (mime, png) = stub.last_image()?;
    assert_eq!(mime, "image/png", "regions go lossless");
    let region = image::load_from_memory(&png)?.to_rgba8();
    assert_eq!(region.dimensions(), (300, 250));
    let pattern = position_pattern(WIDTH, HEIGHT);
    for (x, y, pixel) in region.enumerate_pixels() {
        let px = u32::try_from(200 + i64::from(x) - offset.0)?;
        let py = u32::try_from(150 + i64::from(y) - offset.1)?;
        assert_eq!(pixel, pattern.get_pixel(px, py), "pixel {x},{y} of the region");
    }
    Ok(())
}

/// Replaces the picture a `picture.py` window shows (it notices the new
/// file within a fifth of a second).
fn replace(path: &Path, picture: &RgbaImage) -> Result<()> {
    let fresh = path.with_extension("new.png");
    picture.save(&fresh)?;
    std::fs::rename(&fresh, path)?;
    Ok(())
}

const COOLDOWN_SECS: u32 = 5;
/// Alt+Tab, as keysyms: to the other application.
const ALT_TAB: &str = "key:ffe9+ff09";

/// Ambient awareness on GNOME Wayland: the sidebar asks for the screen at
/// start, a still screen sends nothing for a minute, one change sends one
/// picture, and nothing goes while an excluded Wayland window or one whose
/// focus cannot be told (no accessibility) has the focus.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_gnome_wayland_ambient_awareness_sends_changes_and_honours_the_gate() -> Result<()> {
    let shots = output_dir();
    std::fs::create_dir_all(&shots)?;
    let StubbedProfile {
        stub,
        server: _server,
        home,
        config_dir,
    } = StubbedProfile::start("wren", PASSWORD, ("Watch", "chat"), |s, mode| {
        s.mode = Some(mode.clone());
        s.ambient.enabled = true;
        s.ambient.mode = Some(mode);
        s.ambient.cooldown_secs = COOLDOWN_SECS;
        s.ambient.excluded_titles = vec!["Secret".into()];
    })
    .await?;
    stub.set(Behaviour {
        deltas: vec!["You are looking ".into(), "at coloured tiles.".into()],
        ..Behaviour::default()
    });
    let session = GnomeSession::start().await?;
    let screen = home.path().join("screen.png");
    calm(WIDTH, HEIGHT).save(&screen)?;
    let log = shots.join("ambient-app.log");
    let _ = std::fs::remove_file(&log);
    let mut app = session.start_app(&app_binary()?, &config_dir, &log, "info")?;
    let result = async {
        wait_for_log(&log, "sidebar interactive", 1).await?;
        let _notes = session.show_picture("Notes", &screen, true)?;
        session
            .grant_screen_access(
                &config_dir,
                &shots.join("11-ambient-asks-first.png"),
                &shots.join("12-gnome-asks.png"),
            )
            .await?;
        session.input(&["click:300,500"]).await?;
        ambient_walk(&session, &stub, &log, &screen, home.path()).await
    }
    .await;
    if result.is_err() {
        let _ = session
            .save_screenshot(&shots.join("ambient-failure-screen.png"))
            .await;
    }
    app.kill().await?;
    result
}

async fn ambient_walk(
    session: &GnomeSession,
    stub: &StubProvider,
    log: &Path,
    screen: &Path,
    home: &Path,
) -> Result<()> {
    let shots = output_dir();
    let cooldown = Duration::from_secs(u64::from(COOLDOWN_SECS));

    // A minute of a still screen: looked at, never sent.
    tokio::time::sleep(Duration::from_secs(60)).await;
    anyhow::ensure!(
        stub.requests().is_empty(),
        "a still screen sent {} pictures",
        stub.requests().len()
    );
    session
        .save_screenshot(&shots.join("13-ambient-watching.png"))
        .await?;

    // One change: one picture, of the screen.
    let busy = tiles(WIDTH, HEIGHT, 0);
    replace(screen, &busy)?;
    stub.wait_for_requests(1, cooldown * 3).await?;
    let (mime, jpeg) = stub.last_image()?;
    assert_eq!(mime, "image/jpeg", "screens go as JPEG");
    let upstream = stub
        .requests()
        .pop()
        .context("nothing reached the stub")?
        .to_string();
    assert!(upstream.contains("The focused window is “Notes”"), "{upstream}");
    let sent = image::load_from_memory(&jpeg)?.to_rgba8();
    assert_eq!(sent.dimensions(), (WIDTH, HEIGHT));
    tokio::time::sleep(cooldown * 2 + Duration::from_secs(1)).await;
    assert_eq!(stub.requests().len(), 1, "a still screen was sent again");
    session
        .save_screenshot(&shots.join("14-ambient-insight.png"))
        .await?;

    // An excluded Wayland window has the focus: a change sends nothing.
    // It opens showing what is on screen already (so its opening is no
    // change) behind the focused window (GNOME does not hand the focus to a
    // window started from outside), and the user switches to it.
    let secret_picture = home.join("secret.png");
    busy.save(&secret_picture)?;
    let mut secret = session.show_picture("Secret plans", &secret_picture, true)?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    session.input(&[ALT_TAB, "sleep:1"]).await?;
    replace(&secret_picture, &tiles(WIDTH, HEIGHT, 5))?;
    tokio::time::sleep(cooldown * 3).await;
    assert_eq!(
        stub.requests().len(),
        1,
        "a picture went while an excluded window had the focus"
    );
    wait_for_log(log, "a window matching “Secret” has the focus", 1).await?;
    session
        .save_screenshot(&shots.join("15-ambient-excluded.png"))
        .await?;
    secret.kill().await?;

    // A window that is not on the accessibility bus has the focus: which
    // window it is cannot be told, so nothing goes.
    let mute_picture = home.join("mute.png");
    busy.save(&mute_picture)?;
    let mut mute = session.show_picture("Mute", &mute_picture, false)?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    session.input(&["click:300,500", ALT_TAB, "sleep:1"]).await?;
    replace(&mute_picture, &tiles(WIDTH, HEIGHT, 13))?;
    tokio::time::sleep(cooldown * 3).await;
    assert_eq!(
        stub.requests().len(),
        1,
        "a picture went while the focus could not be told"
    );
    wait_for_log(log, "the focused window cannot be told", 1).await?;
    session
        .save_screenshot(&shots.join("16-ambient-focus-unknown.png"))
        .await?;
    mute.kill().await?;

    // The focus is back on Notes: a change goes.
    session.input(&["click:300,500"]).await?;
    replace(screen, &tiles(WIDTH, HEIGHT, 21))?;
    stub.wait_for_requests(2, cooldown * 3).await?;

    Ok(())
}
