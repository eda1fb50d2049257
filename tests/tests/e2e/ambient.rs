//! Ambient awareness with the real app under Xvfb, driven over WebDriver:
//! ambient awareness is on (5 s cooldown) and the screen is a still
//! picture with a real GTK editor focused. A minute of that sends nothing;
//! one change of the picture while the user types sends exactly one image
//! after the typing pause, whose insight lands
//! in the sidebar's feed without taking the focus; with an excluded window
//! focused a change sends nothing, and once the focus is back the change
//! goes with the excluded window blanked out. Screenshots land in
//! test-output/ambient/.

use anyhow::{ensure, Context, Result};
use image::RgbaImage;
use sightline_tests::display::{app_binary, Display, Driver, StubbedProfile, TextPad};
use sightline_tests::pictures::{calm, tiles};
use sightline_tests::stub::{Behaviour, StubProvider};
use sightline_tests::webdriver::WebDriver;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const PASSWORD: &str = "quartz-heron-meadow";
const LONG: Duration = Duration::from_secs(30);
const COOLDOWN_SECS: u32 = 5;

fn output_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../test-output/ambient")
}

async fn show(display: &Display, picture: &RgbaImage, dir: &Path, name: &str) -> Result<()> {
    let path = dir.join(format!("{name}.png"));
    picture.save(&path)?;
    display.set_background(&path).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ambient_awareness_sends_one_change_once_and_nothing_of_excluded_windows() -> Result<()> {
    let shots = output_dir();
    std::fs::create_dir_all(&shots)?;
    let StubbedProfile {
        stub,
        server: _server,
        home,
        config_dir,
    } = StubbedProfile::start("amber", PASSWORD, ("Watch", "chat"), |s, mode| {
        s.mode = Some(mode.clone());
        s.ambient.enabled = true;
        s.ambient.mode = Some(mode);
        s.ambient.cooldown_secs = COOLDOWN_SECS;
    })
    .await?;
    stub.set(Behaviour {
        deltas: vec!["You are looking ".into(), "at coloured tiles.".into()],
        ..Behaviour::default()
    });

    let display = Display::start().await?;
    show(&display, &calm(1920, 1080), home.path(), "calm").await?;
    // On screen before the app starts, so its first look already has it.
    let notes = TextPad::start(&display, "Notes", "meeting notes", home.path()).await?;
    let driver_process = Driver::start(
        &display,
        &[
            ("SIGHTLINE_CONFIG_DIR", &config_dir),
            ("HOME", home.path()),
            ("RUST_LOG", Path::new("info")),
        ],
        shots.join("tauri-driver.log"),
    )
    .await?;
    let driver = WebDriver::start(driver_process.port, &app_binary()?).await?;
    let result = walk(&driver, &display, &stub, &notes, home.path(), &config_dir).await;
    if result.is_err() {
        let _ = display.screenshot(&shots.join("failure-screen.png")).await;
    }
    driver.quit().await?;
    result
}

async fn wait_for_indicator(driver: &WebDriver, wanted: &str) -> Result<()> {
    driver
        .wait_until(
            &format!("the awareness indicator to show {wanted}"),
            &format!(
                "const i = document.querySelector('[data-testid=ambient-indicator]'); return i && i.dataset.state === '{wanted}';"
            ),
            LONG,
        )
        .await?;
    Ok(())
}

async fn focused_title(display: &Display) -> Result<String> {
    Ok(display
        .run("xdotool", &["getactivewindow", "getwindowname"])
        .await?
        .trim()
        .to_owned())
}

/// The mean difference per channel between `sent` and `shown` over `area`
/// (x, y, width, height).
fn mean_difference(sent: &RgbaImage, shown: &RgbaImage, (x0, y0, w, h): (u32, u32, u32, u32)) -> f64 {
    let mut total = 0u64;
    for y in y0..y0 + h {
        for x in x0..x0 + w {
            let (a, b) = (sent.get_pixel(x, y), shown.get_pixel(x, y));
            total += (0..3).map(|c| u64::from(a[c].abs_diff(b[c]))).sum::<u64>();
        }
    }
    total as f64 / f64::from(w * h * 3)
}

/// Whether `area` of `sent` is the blank grey that hides a window.
fn blanked(sent: &RgbaImage, (x0, y0, w, h): (u32, u32, u32, u32)) -> bool {
    (y0..y0 + h).all(|y| {
        (x0..x0 + w).all(|x| {
            let pixel = sent.get_pixel(x, y);
            (0..3).all(|c| pixel[c].abs_diff(32) <= 6)
        })
    })
}

async fn walk(
    driver: &WebDriver,
    display: &Display,
    stub: &StubProvider,
    notes: &TextPad,
    home: &Path,
    config_dir: &Path,
) -> Result<()> {
    let shots = output_dir();
    let cooldown = Duration::from_secs(u64::from(COOLDOWN_SECS));
    driver.wait_for("[data-testid=thread]", LONG).await?;
    display
        .run("xdotool", &["windowactivate", "--sync", &notes.window])
        .await?;
    wait_for_indicator(driver, "watching").await?;

    // A minute of a still screen: looked at, never sent.
    tokio::time::sleep(Duration::from_secs(60)).await;
    ensure!(
        stub.requests().is_empty(),
        "a still screen sent {} pictures",
        stub.requests().len()
    );
    display
        .screenshot_right(&shots.join("01-watching.png"), 640)
        .await?;

    // One change, made while the user types in the editor: the timer
    // waits for the typing pause (keys seen through the input listener),
    // then one picture goes.
    let busy = tiles(1920, 1080, 0);
    let typing = display.run(
        "xdotool",
        &[
            "type",
            "--delay",
            "100",
            "the quick brown fox jumps over the lazy dog",
        ],
    );
    let change = async {
        // Well after the first key, well before the last.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        show(display, &busy, home, "tiles").await
    };
    let (typed, changed) = tokio::join!(typing, change);
    typed?;
    changed?;
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
    assert_eq!(sent.dimensions(), (1920, 1080));
    // Below the editor and left of the sidebar, the picture is the screen.
    let open_area = (100, 600, 1200, 400);
    let difference = mean_difference(&sent, &busy, open_area);
    assert!(
        difference < 12.0,
        "the sent picture differs from the screen by {difference:.1} per channel"
    );
    // The sidebar (the right 360 px) is blanked out.
    assert!(blanked(&sent, (1600, 100, 300, 800)), "the sidebar was sent");

    // The screen is still again: nothing more over two cooldowns.
    tokio::time::sleep(cooldown * 2 + Duration::from_secs(2)).await;
    assert_eq!(stub.requests().len(), 1, "a still screen was sent again");

    // The insight is in the feed with its time and mode, and the editor
    // kept the focus.
    driver
        .wait_until(
            "the insight in the feed",
            "const i = document.querySelector('[data-testid=insight]');\
             return i && i.dataset.state === 'done' && i.textContent.includes('coloured tiles');",
            LONG,
        )
        .await?;
    let meta = driver.text("[data-testid=insight-meta]").await?;
    assert!(meta.contains("Watch"), "{meta}");
    assert_eq!(
        focused_title(display).await?,
        "Notes",
        "the insight took the focus"
    );
    display
        .screenshot_right(&shots.join("02-insight.png"), 640)
        .await?;

    // The upload log has the picture's size and hash, not the picture.
    let log = std::fs::read_to_string(config_dir.join("uploads.log"))?;
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 1, "{log}");
    let entry: serde_json::Value = serde_json::from_str(lines[0])?;
    let digest = ring::digest::digest(&ring::digest::SHA256, &jpeg);
    assert_eq!(entry["sha256"], data_encoding::HEXLOWER.encode(digest.as_ref()));
    assert_eq!(entry["bytes"], jpeg.len());
    assert_eq!(entry["trigger"], "typing_pause", "{entry}");
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(config_dir.join("uploads.log"))?
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // An excluded window focused: the indicator says so, and a change
    // sends nothing.
    let vault = TextPad::start(display, "Password Vault", "hunter2", home).await?;
    display
        .run("xdotool", &["windowactivate", "--sync", &vault.window])
        .await?;
    wait_for_indicator(driver, "excluded").await?;
    let other = tiles(1920, 1080, 5);
    show(display, &other, home, "other").await?;
    tokio::time::sleep(cooldown * 2 + Duration::from_secs(2)).await;
    assert_eq!(
        stub.requests().len(),
        1,
        "a picture was sent with an excluded window focused"
    );
    display
        .screenshot_right(&shots.join("03-excluded.png"), 640)
        .await?;

    // The focus back in the editor: the change goes now, with the excluded
    // window (still on screen, at 40,40 and 700×400 inside its frame)
    // blanked.
    display
        .run("xdotool", &["windowactivate", "--sync", &notes.window])
        .await?;
    wait_for_indicator(driver, "watching").await?;
    stub.wait_for_requests(2, cooldown * 3).await?;
    let (_, jpeg) = stub.last_image()?;
    std::fs::write(shots.join("04-sent-with-excluded-window-blanked.jpg"), &jpeg)?;
    let sent = image::load_from_memory(&jpeg)?.to_rgba8();
    // xwininfo, as xdotool counts the frame twice in a window's place.
    let geometry = display.run("xwininfo", &["-id", &vault.window]).await?;
    let value = |key: &str| -> Result<u32> {
        geometry
            .lines()
            .find_map(|line| line.trim().strip_prefix(key))
            .context("no geometry")?
            .trim()
            .parse()
            .context("geometry")
    };
    let (x, y, width, height) = (
        value("Absolute upper-left X:")?,
        value("Absolute upper-left Y:")?,
        value("Width:")?,
        value("Height:")?,
    );
    // Its whole rectangle is blanked, whatever lies on top of it (16 px
    // in from the edges, where JPEG's blocks blend in the neighbours).
    assert!(
        blanked(&sent, (x + 16, y + 16, width - 32, height - 32)),
        "the excluded window's pixels were sent ({geometry})"
    );
    // The log line is written once the request is under way.
    let deadline = Instant::now() + LONG;
    while std::fs::read_to_string(config_dir.join("uploads.log"))?
        .lines()
        .count()
        < 2
    {
        ensure!(Instant::now() < deadline, "the second upload was not logged");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Dismissed, the insight leaves the feed; the indicator pauses.
    driver
        .wait_until(
            "two insights",
            "return document.querySelectorAll('[data-testid=insight]').length === 2;",
            LONG,
        )
        .await?;
    driver.click_on("[data-testid=dismiss-insight]").await?;
    driver
        .wait_until(
            "one insight left",
            "return document.querySelectorAll('[data-testid=insight]').length === 1;",
            LONG,
        )
        .await?;
    driver.click_on("[data-testid=ambient-indicator]").await?;
    wait_for_indicator(driver, "paused").await?;
    // The page has changed; give WebKit a moment to paint it.
    tokio::time::sleep(Duration::from_millis(500)).await;
    display
        .screenshot_right(&shots.join("05-paused.png"), 640)
        .await?;
    drop(vault);
    settings(driver, display, config_dir).await
}

/// The settings page: the upload log, a refused value, and turning
/// awareness off (saved, and the indicator goes).
async fn settings(driver: &WebDriver, display: &Display, config_dir: &Path) -> Result<()> {
    let shots = output_dir();
    driver.click_on("[data-testid=open-settings]").await?;
    driver.click_on("[data-testid=show-uploads]").await?;
    driver
        .wait_until(
            "the upload log",
            "return document.querySelectorAll('[data-testid=upload-log] li').length === 2;",
            LONG,
        )
        .await?;
    let first = driver.text("[data-testid=upload-log] li").await?;
    assert!(
        first.contains("window changed") && first.contains("KiB"),
        "{first}"
    );

    driver.fill("[data-testid=ambient-cooldown]", "3").await?;
    driver.click_on("[data-testid=save-ambient]").await?;
    let alert = driver.text(".settings [role=alert]").await?;
    assert!(alert.to_lowercase().contains("cooldown: give 5"), "{alert}");
    driver
        .execute(
            "document.querySelector('[data-testid=upload-log]').scrollIntoView({block: 'center'});",
            serde_json::json!([]),
        )
        .await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    display
        .screenshot_right(&shots.join("06-settings-upload-log.png"), 640)
        .await?;

    driver.fill("[data-testid=ambient-cooldown]", "30").await?;
    driver.click_on("[data-testid=ambient-enabled]").await?;
    driver.click_on("[data-testid=save-ambient]").await?;
    let settings_file = config_dir.join("settings.json");
    let deadline = Instant::now() + LONG;
    loop {
        let saved: serde_json::Value = serde_json::from_slice(&std::fs::read(&settings_file)?)?;
        if saved["ambient"]["enabled"] == false {
            assert_eq!(saved["ambient"]["cooldown_secs"], 30);
            break;
        }
        ensure!(Instant::now() < deadline, "turning awareness off was not saved");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    driver.click_on("[data-testid=close-settings]").await?;
    driver
        .wait_until(
            "the indicator to go",
            "return document.querySelector('[data-testid=thread]') && !document.querySelector('[data-testid=ambient-indicator]');",
            LONG,
        )
        .await?;
    // "What was sent" shows the first insight's picture exactly as it
    // left, kept on this computer.
    driver.click_on("[data-testid=what-was-sent]").await?;
    driver.wait_for("[data-testid=sent-picture]", LONG).await?;
    let kept = driver
        .execute(
            "return document.querySelector('[data-testid=sent-picture]').src.startsWith('data:image/jpeg;base64,');",
            serde_json::json!([]),
        )
        .await?;
    assert_eq!(kept, serde_json::json!(true), "the sent picture is shown");
    tokio::time::sleep(Duration::from_millis(300)).await;
    display
        .screenshot_right(&shots.join("07-what-was-sent.png"), 640)
        .await?;
    Ok(())
}
