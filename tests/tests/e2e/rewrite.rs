//! Approved text rewrite with the real app under Xvfb: a GTK editor holds
//! the user's text, `xdotool` presses the shortcut in it, the sidebar
//! (driven through WebDriver) shows the diff, and after Apply the editor
//! must hold exactly the replacement — typed or pasted — while the
//! clipboard ends as it began. Cancel, a focus change and a second press
//! must type nothing. Screenshots land in test-output/rewrite/.

use anyhow::Result;
use serde_json::json;
use sightline_tests::display::{app_binary, Display, Driver, StubbedProfile, TextPad};
use sightline_tests::stub::{Behaviour, StubProvider};
use sightline_tests::webdriver::WebDriver;
use std::path::PathBuf;
use std::time::Duration;

const PASSWORD: &str = "quartz-heron-meadow";
const LONG: Duration = Duration::from_secs(30);

fn output_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../test-output/rewrite")
}

/// A paragraph of 1,000 characters with line breaks.
fn paragraph() -> String {
    let sentence = "Sightline types only what you approved, into the window you left. ";
    let mut text = String::new();
    let mut line = 0;
    while text.chars().count() < 1000 {
        text.push_str(sentence);
        line += 1;
        if line % 3 == 0 {
            text.push('\n');
        }
    }
    text.chars().take(1000).collect()
}

/// The rewrite panel's phase (`choose`, `streaming`, `ready`, ...), or "".
async fn phase(driver: &WebDriver) -> Result<String> {
    driver.data("[data-testid=rewrite]", "phase").await
}

async fn wait_for_phase(driver: &WebDriver, wanted: &str) -> Result<()> {
    driver
        .wait_until(
            &format!("rewrite phase {wanted}"),
            &format!(
                "const r = document.querySelector('[data-testid=rewrite]'); return r && r.dataset.phase === '{wanted}';"
            ),
            LONG,
        )
        .await?;
    Ok(())
}

/// Presses the shortcut in `pad` with all of its text selected, and waits
/// for the proposed replacement.
async fn rewrite_all(driver: &WebDriver, display: &Display, pad: &TextPad) -> Result<()> {
    pad.focus_and_select_all(display).await?;
    display.run("xdotool", &["key", "ctrl+shift+r"]).await?;
    wait_for_phase(driver, "ready").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rewrite_is_typed_only_after_approval_into_the_same_window() -> Result<()> {
    let shots = output_dir();
    std::fs::create_dir_all(&shots)?;
    // The stub's mode is the one remembered for rewrites.
    let StubbedProfile {
        stub,
        server: _server,
        home,
        config_dir,
    } = StubbedProfile::start("rita", PASSWORD, ("Polish", "rewrite"), |s, mode| {
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
    let result = walk(&driver, &display, &stub, home.path(), &config_dir).await;
    if result.is_err() {
        let _ = display.screenshot(&shots.join("failure-screen.png")).await;
    }
    driver.quit().await?;
    result
}

async fn walk(
    driver: &WebDriver,
    display: &Display,
    stub: &StubProvider,
    home: &std::path::Path,
    config_dir: &std::path::Path,
) -> Result<()> {
    driver.wait_for("[data-testid=thread]", LONG).await?;
    let pad = TextPad::start(display, "Draft A", "teh quick brown fox", home).await?;
    let other = TextPad::start(display, "Notes B", "unrelated notes", home).await?;
    let result = steps(driver, display, stub, &pad, &other, config_dir).await;
    if result.is_err() {
        // While the editors are still open.
        let _ = display
            .screenshot(&output_dir().join("failure-editors.png"))
            .await;
    }
    result
}

async fn steps(
    driver: &WebDriver,
    display: &Display,
    stub: &StubProvider,
    pad: &TextPad,
    other: &TextPad,
    config_dir: &std::path::Path,
) -> Result<()> {
    let shots = output_dir();

    // 1. Short ASCII: read, diff, typed after Apply; clipboard untouched.
    display.set_clipboard("what the user had copied").await?;
    stub.set(Behaviour {
        deltas: vec!["The quick".into(), " brown fox.".into()],
        ..Behaviour::default()
    });
    rewrite_all(driver, display, pad).await?;
    assert_eq!(
        driver.text("[data-testid=rewrite-original]").await?,
        "teh quick brown fox"
    );
    assert_eq!(display.clipboard().await?, "what the user had copied");
    let asked = stub.requests().last().cloned().unwrap_or_default().to_string();
    assert!(asked.contains("teh quick brown fox"), "{asked}");
    let diff = driver
        .execute(
            "const d = document.querySelector('[data-testid=rewrite-diff]');\
             return [Array.from(d.querySelectorAll('del')).map(e => e.textContent).join('|'),\
                     Array.from(d.querySelectorAll('ins')).map(e => e.textContent).join('|')];",
            json!([]),
        )
        .await?;
    assert_eq!(diff, json!(["teh|fox", "The|fox."]), "word-level diff");
    display.screenshot_right(&shots.join("01-diff.png"), 640).await?;
    // Not typed before Apply.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(pad.text()?, "teh quick brown fox");
    driver.click_on("[data-testid=rewrite-apply]").await?;
    driver.wait_for("[data-testid=rewrite-applied]", LONG).await?;
    assert_eq!(
        pad.wait_for_text("The quick brown fox.", LONG).await?,
        "The quick brown fox."
    );
    assert!(driver
        .text("[data-testid=rewrite-applied]")
        .await?
        .starts_with("Typed 20"));
    assert_eq!(display.clipboard().await?, "what the user had copied");
    display
        .screenshot_right(&shots.join("02-applied.png"), 640)
        .await?;
    driver.click_on("[data-testid=rewrite-done]").await?;

    // 2. Non-ASCII: pasted, exact, clipboard given back.
    let unicode = "naïve café — 東京 ✓";
    stub.set(Behaviour {
        deltas: vec!["naïve café".into(), " — 東京 ✓".into()],
        ..Behaviour::default()
    });
    rewrite_all(driver, display, pad).await?;
    assert_eq!(
        driver.text("[data-testid=rewrite-original]").await?,
        "The quick brown fox."
    );
    driver.click_on("[data-testid=rewrite-apply]").await?;
    driver.wait_for("[data-testid=rewrite-applied]", LONG).await?;
    assert_eq!(pad.wait_for_text(unicode, LONG).await?, unicode);
    assert!(driver
        .text("[data-testid=rewrite-applied]")
        .await?
        .starts_with("Pasted 17"));
    assert_eq!(display.clipboard().await?, "what the user had copied");
    driver.click_on("[data-testid=rewrite-done]").await?;

    // 3. A 1,000-character paragraph with line breaks, applied with Enter
    // in the dialog after editing one word.
    let long = paragraph();
    stub.set(Behaviour {
        deltas: long
            .chars()
            .collect::<Vec<_>>()
            .chunks(100)
            .map(|chunk| chunk.iter().collect())
            .collect(),
        ..Behaviour::default()
    });
    rewrite_all(driver, display, pad).await?;
    driver.click_on("[data-testid=rewrite-edit-toggle]").await?;
    let edited = long.replacen("Sightline", "Sightline (edited)", 1);
    let edited: String = edited.chars().take(1000).collect();
    driver
        .execute(
            "const t = document.querySelector('[data-testid=rewrite-edit]');\
             t.value = arguments[0]; t.dispatchEvent(new Event('input', {bubbles: true}));",
            json!([edited]),
        )
        .await?;
    driver
        .wait_until(
            "the diff shows the edit",
            "return Array.from(document.querySelectorAll('[data-testid=rewrite-diff] ins')).some(e => e.textContent.includes('(edited)'));",
            LONG,
        )
        .await?;
    display
        .screenshot_right(&shots.join("03-edited-diff.png"), 640)
        .await?;
    driver
        .execute(
            "const d = document.querySelector('[data-testid=rewrite]'); d.focus();\
             d.dispatchEvent(new KeyboardEvent('keydown', {key: 'Enter', bubbles: true}));",
            json!([]),
        )
        .await?;
    driver.wait_for("[data-testid=rewrite-applied]", LONG).await?;
    assert_eq!(pad.wait_for_text(&edited, LONG).await?, edited);
    assert_eq!(display.clipboard().await?, "what the user had copied");
    driver.click_on("[data-testid=rewrite-done]").await?;

    // 4. Cancel types nothing.
    stub.set(Behaviour {
        deltas: vec!["Should never appear.".into()],
        ..Behaviour::default()
    });
    rewrite_all(driver, display, pad).await?;
    driver.click_on("[data-testid=rewrite-cancel]").await?;
    driver
        .wait_until(
            "the panel closes",
            "return !document.querySelector('[data-testid=rewrite]');",
            LONG,
        )
        .await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(pad.text()?, edited);
    assert_eq!(other.text()?, "unrelated notes");

    // 5. Focus moved to another window before Apply: nothing anywhere.
    rewrite_all(driver, display, pad).await?;
    display
        .run("xdotool", &["windowactivate", "--sync", &other.window])
        .await?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    driver.click_on("[data-testid=rewrite-apply]").await?;
    driver.wait_for("[data-testid=rewrite-error]", LONG).await?;
    let message = driver.text("[data-testid=rewrite-error]").await?;
    assert!(
        message.contains("Nothing was typed") && message.contains("Notes B"),
        "{message}"
    );
    display
        .screenshot_right(&shots.join("04-focus-moved.png"), 640)
        .await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(pad.text()?, edited);
    assert_eq!(other.text()?, "unrelated notes");

    // 6. A second press while the rewrite is open starts nothing new (no
    // copy, no request); back in the editor, one Apply puts the text in once.
    let before = stub.requests().len();
    display.set_clipboard("what the user had copied").await?;
    pad.focus_and_select_all(display).await?;
    display.run("xdotool", &["key", "ctrl+shift+r"]).await?;
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(phase(driver).await?, "ready");
    assert_eq!(stub.requests().len(), before, "no second rewrite request");
    // Back to the editor with everything selected, then Apply twice fast.
    pad.focus_and_select_all(display).await?;
    driver
        .execute(
            "const b = document.querySelector('[data-testid=rewrite-apply]'); b.click(); b.click();",
            json!([]),
        )
        .await?;
    driver.wait_for("[data-testid=rewrite-applied]", LONG).await?;
    assert_eq!(
        pad.wait_for_text("Should never appear.", LONG).await?,
        "Should never appear."
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(pad.text()?, "Should never appear.", "typed once");
    assert_eq!(other.text()?, "unrelated notes");
    driver.click_on("[data-testid=rewrite-done]").await?;

    // 7. Nothing selected: the panel says so and offers a text field.
    display
        .run("xdotool", &["windowactivate", "--sync", &other.window])
        .await?;
    display
        .run("xdotool", &["key", "--clearmodifiers", "ctrl+End"])
        .await?;
    display.run("xdotool", &["key", "ctrl+shift+r"]).await?;
    driver
        .wait_for("[data-testid=rewrite-nothing-selected]", LONG)
        .await?;
    assert_eq!(display.clipboard().await?, "what the user had copied");
    display
        .screenshot_right(&shots.join("05-nothing-selected.png"), 640)
        .await?;
    driver.click_on("[data-testid=rewrite-cancel]").await?;

    // The log has four injections and one refusal, and no text.
    let log = std::fs::read_to_string(config_dir.join("injections.log"))?;
    assert_eq!(
        log.lines()
            .filter(|l| l.contains("\"typed\"") || l.contains("\"pasted\""))
            .count(),
        4,
        "{log}"
    );
    assert_eq!(
        log.lines().filter(|l| l.contains("nothing typed")).count(),
        1,
        "{log}"
    );
    assert!(!log.contains("quick") && !log.contains("東京"), "{log}");
    Ok(())
}
