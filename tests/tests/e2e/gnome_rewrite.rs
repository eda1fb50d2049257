//! Approved text rewrite on GNOME under Wayland, in a headless GNOME Shell
//! of its own: the test editor runs as a native Wayland window and as an
//! XWayland one, the user's keys and clicks go through mutter's
//! remote-desktop input, the app's through the RemoteDesktop portal.
//!
//! - The first rewrite shortcut: GNOME asks whether Sightline may use the
//!   keyboard; the user allows it, as a person would (clicks).
//! - In each editor the selection is read, the replacement (ASCII with a
//!   line break: typed; non-ASCII: pasted) arrives exactly after Apply, and
//!   the user's clipboard ends as it began.
//! - The focus moved to another window before Apply: nothing is typed.
//!
//! Screenshots land in test-output/wayland/.

use anyhow::{Context, Result};
use sightline_tests::display::{app_binary, StubbedProfile, TextPad};
use sightline_tests::gnome::GnomeSession;
use sightline_tests::procs::wait_for_log;
use sightline_tests::stub::{Behaviour, StubProvider};
use std::path::{Path, PathBuf};
use std::time::Duration;

const PASSWORD: &str = "quartz-heron-meadow";
const LONG: Duration = Duration::from_secs(30);
/// Where a click lands in the maximised Wayland editor's text.
const IN_WAYLAND_EDITOR: &str = "click:600,500";

fn output_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../test-output/wayland")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_gnome_wayland_rewrite_types_only_after_approval_into_wayland_and_xwayland_editors() -> Result<()>
{
    let shots = output_dir();
    std::fs::create_dir_all(&shots)?;
    let StubbedProfile {
        stub,
        server: _server,
        home: _home,
        config_dir,
    } = StubbedProfile::start("wren", PASSWORD, ("Polish", "rewrite"), |s, mode| {
        s.rewrite.mode = Some(mode)
    })
    .await?;
    let session = GnomeSession::start().await?;
    let log = shots.join("rewrite-app.log");
    let _ = std::fs::remove_file(&log);
    let mut app = session.start_app(&app_binary()?, &config_dir, &log, "info")?;
    let result = async {
        wait_for_log(&log, "sidebar interactive", 1).await?;
        wait_for_log(&log, "Connected", 1).await?;
        walk(&session, &stub, &log).await
    }
    .await;
    if result.is_err() {
        let _ = session
            .save_screenshot(&shots.join("rewrite-failure-screen.png"))
            .await;
    }
    app.kill().await?;
    result
}

async fn walk(session: &GnomeSession, stub: &StubProvider, log: &Path) -> Result<()> {
    let shots = output_dir();
    let copied = "what the user had copied";
    session.set_clipboard(copied).await?;

    // 1. The native Wayland editor, ASCII with a line break: typed.
    let wayland = session.start_editor("Draft Wayland", "teh quick brown fox", true)?;
    wait_for_text(&wayland, "teh quick brown fox").await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    session.input(&[IN_WAYLAND_EDITOR]).await?;
    ask_for_rewrite(session, stub, &["The quick\n", "brown fox."]).await?;
    session
        .allow_remote_interaction(&shots.join("20-gnome-asks-for-the-keyboard.png"))
        .await?;
    approve(
        session,
        stub,
        1,
        "teh quick brown fox",
        &shots.join("21-rewrite-in-a-wayland-editor.png"),
    )
    .await?;
    wait_for_text(&wayland, "The quick\nbrown fox.").await?;
    assert_clipboard_is(session, copied).await?;
    session
        .save_screenshot(&shots.join("22-typed-into-the-wayland-editor.png"))
        .await?;

    // 2. The same editor, non-ASCII: pasted, the clipboard given back.
    let accented = "Café déjà vu — naïve ✓\nZweite Zeile";
    session.input(&[IN_WAYLAND_EDITOR]).await?;
    ask_for_rewrite(session, stub, &["Café déjà vu ", "— naïve ✓\nZweite Zeile"]).await?;
    approve(
        session,
        stub,
        2,
        "The quick\nbrown fox.",
        &shots.join("23-non-ascii-proposed.png"),
    )
    .await?;
    wait_for_text(&wayland, accented).await?;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_clipboard_is(session, copied).await?;

    // 3. An XWayland editor: typed, then pasted.
    let xwayland = session.start_editor("Draft XWayland", "plain olde text", false)?;
    wait_for_text(&xwayland, "plain olde text").await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    focus_xwayland_editor(session).await?;
    ask_for_rewrite(session, stub, &["Plain old text,\n", "second line."]).await?;
    approve(
        session,
        stub,
        3,
        "plain olde text",
        &shots.join("24-rewrite-in-an-xwayland-editor.png"),
    )
    .await?;
    wait_for_text(&xwayland, "Plain old text,\nsecond line.").await?;
    focus_xwayland_editor(session).await?;
    ask_for_rewrite(session, stub, &["Ünïcödé ", "→ pasted"]).await?;
    approve(
        session,
        stub,
        4,
        "Plain old text,\nsecond line.",
        &shots.join("25-xwayland-non-ascii.png"),
    )
    .await?;
    wait_for_text(&xwayland, "Ünïcödé → pasted").await?;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_clipboard_is(session, copied).await?;
    session
        .save_screenshot(&shots.join("26-pasted-into-the-xwayland-editor.png"))
        .await?;

    // 4. The focus moved to another window before Apply: nothing typed.
    focus_xwayland_editor(session).await?;
    ask_for_rewrite(session, stub, &["must never ", "be typed"]).await?;
    stub.wait_for_requests(5, LONG).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    // The user clicks into the Wayland editor (beside the smaller XWayland
    // one), stays a moment, then presses Apply in the sidebar.
    session.input(&["click:1200,800", "sleep:1.5"]).await?;
    approve(
        session,
        stub,
        5,
        "Ünïcödé → pasted",
        &shots.join("27-focus-moved-before-apply.png"),
    )
    .await?;
    wait_for_log(log, "nothing typed", 1).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    session
        .save_screenshot(&shots.join("28-focus-moved-nothing-typed.png"))
        .await?;
    assert_eq!(
        xwayland.text()?,
        "Ünïcödé → pasted",
        "typed into the target after the focus moved"
    );
    assert_eq!(
        wayland.text()?,
        accented,
        "typed into the window the focus moved to"
    );
    Ok(())
}

/// Waits for the proposal (the `requests`-th request reached the model,
/// Apply shows), checks the editor still holds `unchanged`, saves a
/// picture of the screen to `picture` and presses Apply.
async fn approve(
    session: &GnomeSession,
    stub: &StubProvider,
    requests: usize,
    unchanged: &str,
    picture: &Path,
) -> Result<()> {
    stub.wait_for_requests(requests, LONG).await?;
    let asked = stub.requests().last().cloned().unwrap_or_default().to_string();
    let read = serde_json::to_string(unchanged)?;
    anyhow::ensure!(
        asked.contains(read.trim_matches('"')),
        "the selection read was not {unchanged:?}: {asked}"
    );
    session
        .press_sidebar_button("the proposal and its Apply button", picture, 40)
        .await
}

/// Brings the XWayland editor forward, as a pager would.
/// The stub will propose `deltas`; the user selects all in the focused
/// editor and presses the rewrite shortcut.
async fn ask_for_rewrite(session: &GnomeSession, stub: &StubProvider, deltas: &[&str]) -> Result<()> {
    stub.set(Behaviour {
        deltas: deltas.iter().map(|delta| (*delta).to_owned()).collect(),
        ..Behaviour::default()
    });
    session.rewrite_all().await
}

async fn assert_clipboard_is(session: &GnomeSession, expected: &str) -> Result<()> {
    assert_eq!(
        session.clipboard().await?,
        expected,
        "the clipboard was not given back"
    );
    Ok(())
}

async fn focus_xwayland_editor(session: &GnomeSession) -> Result<()> {
    session
        .run(
            "/usr/bin/xdotool",
            &["search", "--name", "^Draft XWayland$", "windowactivate", "--sync"],
        )
        .await
        .context("activating the XWayland editor")?;
    session.input(&["click:300,250"]).await
}

async fn wait_for_text(pad: &TextPad, wanted: &str) -> Result<()> {
    let text = pad.wait_for_text(wanted, LONG).await?;
    anyhow::ensure!(text == wanted, "the editor holds {text:?}, not {wanted:?}");
    Ok(())
}
