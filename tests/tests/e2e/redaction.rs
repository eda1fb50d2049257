//! Local redaction with the real app under Xvfb. A real terminal (xterm)
//! shows an AWS access key and a card number among ordinary lines. An
//! ambient look (the terminal opening changes the screen) and a region
//! selected over the terminal both reach the stub provider; OCR run on what
//! the provider got must not read the key or the card number, and must
//! still read the ordinary lines. The sidebar shows the region as it will
//! be sent (screenshot), and the upload log lists what was blacked out.
//! Apart from that: rewrite text with a token goes masked and the proposal
//! gets the token back; an administrator's policy keeps redaction on and
//! refuses "send unredacted once". Screenshots land in
//! test-output/redaction/.

use anyhow::{ensure, Context, Result};
use serde_json::json;
use sightline_tests::display::{app_binary, ready_profile, Display, Driver, StubbedProfile, TextPad};
use sightline_tests::pictures::calm;
use sightline_tests::procs::wait_for_log;
use sightline_tests::stub::{Behaviour, StubProvider};
use sightline_tests::webdriver::WebDriver;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const PASSWORD: &str = "quartz-heron-meadow";
const LONG: Duration = Duration::from_secs(30);
const AWS_KEY: &str = "AKIAZ7Q2MXLP4RTWX3UV";
/// Luhn-valid, in the groups a terminal shows it in.
const CARD: &str = "4539 1488 0343 6467";
const GITHUB_TOKEN: &str = "ghp_aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3z5A";

fn output_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../test-output/redaction")
}

/// What the terminal shows.
fn terminal_text() -> String {
    [
        "$ cat deploy.env",
        "# deploy settings for the staging cluster",
        &format!("export AWS_ACCESS_KEY_ID={AWS_KEY}"),
        "export REGION=eu-west-1",
        "$ grep card billing.txt",
        &format!("card on file: {CARD}"),
        "$ git status",
        "nothing to commit, working tree clean",
    ]
    .join("\n")
}

/// The text Tesseract reads in `picture` (PNG or JPEG bytes).
fn ocr(picture: &[u8]) -> Result<String> {
    use std::io::Write;
    let mut child = std::process::Command::new("tesseract")
        .args(["stdin", "stdout", "--psm", "3"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    child.stdin.take().context("stdin")?.write_all(picture)?;
    let output = child.wait_with_output()?;
    ensure!(output.status.success(), "tesseract failed");
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Fails if OCR can read any 6 characters of the key in a row, or any
/// group of the card number; and unless it reads the ordinary lines.
fn assert_secrets_unreadable(text: &str, what: &str) {
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    for start in 0..=AWS_KEY.len() - 6 {
        let piece = &AWS_KEY[start..start + 6];
        assert!(
            !compact.contains(piece),
            "{what}: the key's “{piece}” is readable in {text:?}"
        );
    }
    for group in CARD.split(' ') {
        assert!(
            !compact.contains(group),
            "{what}: the card's “{group}” is readable in {text:?}"
        );
    }
    for ordinary in ["deploy", "staging", "commit"] {
        assert!(
            text.contains(ordinary),
            "{what}: “{ordinary}” is no longer readable in {text:?}"
        );
    }
}

/// The upload log's entries.
fn upload_log(config_dir: &Path) -> Result<Vec<serde_json::Value>> {
    let text = std::fs::read_to_string(config_dir.join("uploads.log")).unwrap_or_default();
    text.lines()
        .map(|line| serde_json::from_str(line).map_err(Into::into))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_in_a_terminal_are_blacked_out_before_a_look_or_a_region_is_sent() -> Result<()> {
    let shots = output_dir();
    std::fs::create_dir_all(&shots)?;
    let StubbedProfile {
        stub,
        server: _server,
        home,
        config_dir,
    } = StubbedProfile::start("reda", PASSWORD, ("Explain", "chat"), |s, mode| {
        s.mode = Some(mode.clone());
        s.ambient.enabled = true;
        s.ambient.mode = Some(mode);
        s.ambient.cooldown_secs = 5;
    })
    .await?;
    stub.set(Behaviour {
        deltas: vec!["A terminal.".into()],
        ..Behaviour::default()
    });
    let display = Display::start().await?;
    let background = home.path().join("calm.png");
    calm(1920, 1080).save(&background)?;
    display.set_background(&background).await?;
    let log = shots.join("app.log");
    let mut app = display.launch_app(&config_dir, home.path(), &log, &[])?;
    let result = walk(&display, &stub, &log, home.path(), &config_dir).await;
    if result.is_err() {
        let _ = display.screenshot(&shots.join("failure-screen.png")).await;
    }
    app.kill().await?;
    result
}

async fn walk(
    display: &Display,
    stub: &StubProvider,
    log: &Path,
    home: &Path,
    config_dir: &Path,
) -> Result<()> {
    let shots = output_dir();
    wait_for_log(log, "sidebar interactive", 1).await?;
    wait_for_log(log, "Connected", 1).await?;
    // A click on the desktop: the first look, at the empty desktop, is
    // kept as the reference.
    display
        .run("xdotool", &["mousemove", "600", "800", "click", "1"])
        .await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let file = home.join("screen.txt");
    std::fs::write(&file, terminal_text())?;
    let command = format!("cat '{}'; exec cat", file.display());
    let _terminal = tokio::process::Command::new("xterm")
        .args([
            "-fa",
            "DejaVu Sans Mono",
            "-fs",
            "15",
            "-bg",
            "#1e1e1e",
            "-fg",
            "#e0e0e0",
            "-geometry",
            "80x12+80+120",
            "-T",
            "Terminal",
            "-e",
            "sh",
            "-c",
            &command,
        ])
        .env("DISPLAY", display.name())
        .kill_on_drop(true)
        .spawn()?;
    // Typing in the terminal once it is up: after the pause, a look at the
    // changed screen goes.
    let deadline = Instant::now() + LONG;
    while display
        .run("xdotool", &["search", "--onlyvisible", "--name", "^Terminal$"])
        .await
        .is_err()
    {
        ensure!(Instant::now() < deadline, "the terminal did not open");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    display.run("xdotool", &["type", "--delay", "60", "ok"]).await?;
    wait_for_log(log, "the screen changed; sent", 1).await?;
    stub.wait_for_requests(1, LONG).await?;
    let (mime, jpeg) = stub.last_image()?;
    assert_eq!(mime, "image/jpeg", "an ambient look");
    std::fs::write(shots.join("01-ambient-sent.jpg"), &jpeg)?;
    assert_secrets_unreadable(&ocr(&jpeg)?, "the ambient look");
    display.screenshot(&shots.join("00-terminal.png")).await?;

    // A region over the terminal's text: the sidebar shows it as it will
    // be sent, then the question goes with it.
    let requests = stub.requests().len();
    display.run("xdotool", &["key", "ctrl+shift+space"]).await?;
    wait_for_log(log, "selection overlay visible", 1).await?;
    display
        .run(
            "xdotool",
            &[
                "mousemove",
                "70",
                "110",
                "mousedown",
                "1",
                "mousemove",
                "400",
                "250",
                "mousemove",
                "820",
                "380",
                "mouseup",
                "1",
            ],
        )
        .await?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    display.screenshot(&shots.join("02-selection.png")).await?;
    display.run("xdotool", &["key", "Return"]).await?;
    wait_for_log(log, "region checked for secrets", 1).await?;
    tokio::time::sleep(Duration::from_millis(800)).await;
    display
        .screenshot_right(&shots.join("03-preview.png"), 640)
        .await?;
    display
        .run("xdotool", &["type", "--delay", "20", "What does this show?"])
        .await?;
    display.run("xdotool", &["key", "Return"]).await?;
    stub.wait_for_requests(requests + 1, LONG).await?;
    let (mime, png) = stub.last_image()?;
    assert_eq!(mime, "image/png", "a region");
    std::fs::write(shots.join("04-region-sent.png"), &png)?;
    assert_secrets_unreadable(&ocr(&png)?, "the region");
    tokio::time::sleep(Duration::from_millis(500)).await;
    display
        .screenshot_right(&shots.join("05-answer.png"), 640)
        .await?;

    // The upload log: both pictures, with what was blacked out in each.
    let deadline = Instant::now() + LONG;
    let entries = loop {
        let entries = upload_log(config_dir)?;
        if entries.iter().any(|e| e["trigger"] == "region_selection") || Instant::now() > deadline {
            break entries;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    for trigger in ["window_changed", "region_selection"] {
        let entry = entries
            .iter()
            .find(|e| e["trigger"] == trigger)
            .with_context(|| format!("no {trigger} upload in {entries:?}"))?;
        assert!(entry["redactions"]["token"].as_u64() >= Some(1), "{entry}");
        assert!(entry["redactions"]["card_number"].as_u64() >= Some(1), "{entry}");
        assert!(!entry.to_string().contains(AWS_KEY), "{entry}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rewrite_text_goes_masked_and_the_proposal_gets_the_token_back() -> Result<()> {
    let shots = output_dir();
    std::fs::create_dir_all(&shots)?;
    let StubbedProfile {
        stub,
        server: _server,
        home,
        config_dir,
    } = StubbedProfile::start("remy", PASSWORD, ("Polish", "rewrite"), |s, mode| {
        s.rewrite.mode = Some(mode)
    })
    .await?;
    let display = Display::start().await?;
    let driver_process = Driver::start(
        &display,
        &[("SIGHTLINE_CONFIG_DIR", &config_dir), ("HOME", home.path())],
        shots.join("tauri-driver.log"),
    )
    .await?;
    let driver = WebDriver::start(driver_process.port, &app_binary()?).await?;
    let result = rewrite(&driver, &display, &stub, home.path(), &config_dir).await;
    if result.is_err() {
        let _ = display.screenshot(&shots.join("failure-rewrite.png")).await;
    }
    driver.quit().await?;
    result
}

async fn rewrite(
    driver: &WebDriver,
    display: &Display,
    stub: &StubProvider,
    home: &Path,
    config_dir: &Path,
) -> Result<()> {
    driver.wait_for("[data-testid=thread]", LONG).await?;
    // Settings → Redaction: a pattern that does not compile is refused
    // with its reason; a good one, and e-mail turned on, are kept.
    driver.click_on("[data-testid=open-settings]").await?;
    driver.wait_for("[data-testid=redaction-settings]", LONG).await?;
    driver.fill("[data-testid=redaction-patterns]", "PROJ-(").await?;
    driver.click_on("[data-testid=save-redaction]").await?;
    driver
        .wait_until(
            "the bad pattern refused",
            "const a = document.querySelector('.settings [role=alert]');\
             return a !== null && a.textContent.toLowerCase().includes('pattern');",
            LONG,
        )
        .await?;
    driver
        .fill("[data-testid=redaction-patterns]", "PROJ-\\d{4}")
        .await?;
    driver.click_on("[data-testid=redaction-category-email]").await?;
    driver.click_on("[data-testid=save-redaction]").await?;
    let deadline = Instant::now() + LONG;
    loop {
        let saved: serde_json::Value =
            serde_json::from_slice(&std::fs::read(config_dir.join("settings.json"))?)?;
        let redaction = &saved["redaction"];
        if redaction["custom_patterns"] == json!(["PROJ-\\d{4}"]) {
            assert!(
                redaction["categories"]
                    .as_array()
                    .is_some_and(|c| c.contains(&json!("email"))),
                "{redaction}"
            );
            break;
        }
        ensure!(
            Instant::now() < deadline,
            "the redaction settings were not saved: {redaction}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    driver
        .execute(
            "document.querySelector('[data-testid=redaction-settings]').scrollIntoView({block: 'start'});",
            json!([]),
        )
        .await?;
    display
        .screenshot_right(&output_dir().join("07-redaction-settings.png"), 640)
        .await?;
    driver.click_on("[data-testid=close-settings]").await?;
    driver.wait_for("[data-testid=thread]", LONG).await?;

    let pad = TextPad::start(
        display,
        "Draft",
        &format!("deploy PROJ-1234 with {GITHUB_TOKEN} tomorow"),
        home,
    )
    .await?;
    // The model repeats the mask it was given, split over two pieces.
    stub.set(Behaviour {
        deltas: vec!["Deploy with [redacted: git".into(), "hub token] tomorrow.".into()],
        ..Behaviour::default()
    });
    pad.focus_and_select_all(display).await?;
    display.run("xdotool", &["key", "ctrl+shift+r"]).await?;
    driver
        .wait_until(
            "the proposal",
            "const r = document.querySelector('[data-testid=rewrite]'); return r && r.dataset.phase === 'ready';",
            LONG,
        )
        .await?;
    let asked = stub.requests().last().cloned().unwrap_or_default().to_string();
    assert!(asked.contains("[redacted: github token]"), "{asked}");
    assert!(
        asked.contains("[redacted: own pattern]") && !asked.contains("PROJ-1234"),
        "own pattern: {asked}"
    );
    assert!(
        !asked.contains("aB3dE5fG7h"),
        "the token left the computer: {asked}"
    );
    let inserted = driver
        .execute(
            "return Array.from(document.querySelectorAll('[data-testid=rewrite-diff] ins, [data-testid=rewrite-diff] span'))\
               .map(e => e.textContent).join(' ');",
            json!([]),
        )
        .await?;
    assert!(
        inserted.to_string().contains(GITHUB_TOKEN) && !inserted.to_string().contains("[redacted"),
        "the proposal lacks the token: {inserted}"
    );
    display
        .screenshot_right(&output_dir().join("06-rewrite-restored.png"), 640)
        .await?;
    Ok(())
}

#[tokio::test]
async fn the_administrators_policy_keeps_redaction_on_and_refuses_unredacted_pictures() -> Result<()> {
    let server =
        sightline_tests::TestServer::start_configured("[policy]\nrequire_redaction = true\n", &[]).await?;
    let dir = tempfile::tempdir()?;
    let desktop = ready_profile(&server, "polly", PASSWORD, dir.path()).await?;
    ensure!(
        desktop.redaction_enforced(),
        "the policy did not arrive with the tokens"
    );
    // The user turns redaction off; the policy keeps it on.
    let mut settings = desktop.settings().redaction;
    settings.enabled = false;
    settings.categories.clear();
    desktop.set_redaction(settings)?;
    assert!(desktop.redaction_overview().enforced);
    let masked = desktop.mask_text(&format!("use {GITHUB_TOKEN}"))?;
    assert_eq!(masked.text, "use [redacted: github token]");
    let frame = sightline_client::capture::Frame {
        width: 64,
        height: 32,
        stride: 256,
        bgra: vec![255; 256 * 32],
    };
    let refused = desktop.prepare_unredacted(frame.clone(), sightline_client::capture::Encoding::Png);
    assert!(
        matches!(refused, Err(sightline_client::ClientError::Redaction(_))),
        "{refused:?}"
    );

    // Without the policy the same choices hold: nothing is masked, and a
    // checked region may go as it is.
    let free = sightline_tests::TestServer::start().await?;
    let other = tempfile::tempdir()?;
    let desktop = ready_profile(&free, "fran", PASSWORD, other.path()).await?;
    ensure!(!desktop.redaction_enforced());
    let mut settings = desktop.settings().redaction;
    settings.enabled = false;
    desktop.set_redaction(settings)?;
    assert_eq!(desktop.mask_text(GITHUB_TOKEN)?.total(), 0);
    let sent = desktop.prepare_unredacted(frame, sightline_client::capture::Encoding::Png)?;
    assert!(sent.attachment.redaction.skipped_by_user);
    Ok(())
}
