//! The desktop's IPC with the real app under Xvfb: each window's page may
//! call only what its capability lists. A script in the sidebar reaches
//! the sidebar's commands (a question gets to the model provider) but not
//! an overlay's command nor a tray, menu, window or emit API; a script in
//! a selection overlay reaches the overlay's commands but not `ask`,
//! `apply_rewrite` or any other of the sidebar's. Screenshots land in
//! test-output/ipc/.
//!
//! Scripts run in the pages through WebKit's remote inspector
//! (`WEBKIT_INSPECTOR_HTTP_SERVER`, open in debug builds, whose pages have
//! developer extras) rather than WebDriver: an automation session reaches
//! only the sidebar's web context, and the overlays have one of their own.
//! A script run by the inspector is an ordinary script of the page, with
//! the page's `window.__TAURI_INTERNALS__.invoke`.

use anyhow::{anyhow, bail, Context, Result};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use sightline_tests::display::{Display, StubbedProfile};
use sightline_tests::procs::wait_for_log;
use sightline_tests::stub::StubProvider;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

const PASSWORD: &str = "quartz-heron-meadow";
const LONG: Duration = Duration::from_secs(30);

fn output_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../test-output/ipc")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_window_calls_only_the_commands_of_its_capability() -> Result<()> {
    let shots = output_dir();
    std::fs::create_dir_all(&shots)?;
    let StubbedProfile {
        stub,
        server: _server,
        home,
        config_dir,
    } = StubbedProfile::start("iris", PASSWORD, ("Explain", "chat"), |s, mode| {
        s.mode = Some(mode)
    })
    .await?;

    let display = Display::start().await?;
    let inspector = sightline_tests::free_port()?;
    let log = shots.join("app.log");
    let address = format!("127.0.0.1:{inspector}");
    let mut app = display.launch_app(
        &config_dir,
        home.path(),
        &log,
        &[("WEBKIT_INSPECTOR_HTTP_SERVER", &address)],
    )?;
    let result = walk(&display, &stub, &log, inspector).await;
    if result.is_err() {
        let _ = display.screenshot(&shots.join("failure-screen.png")).await;
    }
    app.kill().await?;
    result
}

async fn walk(display: &Display, stub: &StubProvider, log: &Path, inspector: u16) -> Result<()> {
    let shots = output_dir();
    wait_for_log(log, "sidebar interactive", 1).await?;
    wait_for_log(log, "Connected", 1).await?;

    // The sidebar: its own commands work, and the core API it listens with.
    let sidebar = Page::open(inspector, |url| !url.contains("overlay.html")).await?;
    let overview = sidebar.call("overview", json!({})).await?.value()?;
    assert!(overview.is_object(), "{overview}");
    sidebar
        .call("plugin:event|listen", listen_args())
        .await?
        .value()?;
    let modes = sidebar.call("modes", json!({})).await?.value()?;
    let mode = modes
        .as_array()
        .and_then(|all| all.iter().find(|mode| mode["name"] == "Explain"))
        .and_then(|mode| mode["id"].as_str())
        .with_context(|| format!("no mode Explain in {modes}"))?
        .to_owned();
    let before = stub.requests().len();
    let question = ask_args(&mode);
    let request = sidebar.call("ask", question.clone()).await?.value()?;
    assert!(request.is_number(), "{request}");
    stub.wait_for_requests(before + 1, LONG).await?;
    // `apply_rewrite` is the sidebar's: it runs, and fails with the app's
    // own error (an object, not the ACL's message) as no rewrite is open.
    let applied = sidebar.call("apply_rewrite", rewrite_args()).await?;
    assert!(
        matches!(&applied, Outcome::Failed(error) if error.is_object()),
        "apply_rewrite from the sidebar: {applied:?}"
    );

    // Neither an overlay's command nor a core API the page has no use for.
    let confirm = json!({
        "monitor": 0,
        "generation": 1,
        "selection": {"x": 0.0, "y": 0.0, "width": 10.0, "height": 10.0},
        "overlayWidth": 1920.0,
        "overlayHeight": 1080.0,
    });
    for (command, args) in [
        ("overlay_confirm", confirm),
        ("overlay_info", json!({"monitor": 0})),
        ("plugin:tray|new", json!({"options": {}})),
        ("plugin:menu|new", json!({"kind": "Menu", "options": {}})),
        (
            "plugin:window|set_size",
            json!({"label": "sidebar", "value": {"Logical": {"width": 100, "height": 100}}}),
        ),
        (
            "plugin:event|emit",
            json!({"event": "sidebar-changed", "payload": null}),
        ),
    ] {
        sidebar.call(command, args).await?.refused(command)?;
    }
    display
        .screenshot_right(&shots.join("01-sidebar.png"), 640)
        .await?;

    // A selection overlay, opened with the shortcut as a person does.
    display.run("xdotool", &["key", "ctrl+shift+space"]).await?;
    wait_for_log(log, "selection overlay visible", 1).await?;
    let overlay = Page::open(inspector, |url| url.contains("overlay.html")).await?;
    let info = overlay
        .call("overlay_info", json!({"monitor": 0}))
        .await?
        .value()?;
    assert_eq!(info["frame_width"], json!(1920), "{info}");
    overlay
        .call("plugin:event|listen", listen_args())
        .await?
        .value()?;
    display.screenshot(&shots.join("02-overlay.png")).await?;

    let before = stub.requests().len();
    for (command, args) in [
        ("ask", question),
        ("apply_rewrite", rewrite_args()),
        ("overview", json!({})),
        ("select_region", json!({})),
        ("plugin:tray|new", json!({"options": {}})),
        (
            "plugin:window|set_size",
            json!({"label": "overlay-0", "value": {"Logical": {"width": 100, "height": 100}}}),
        ),
    ] {
        overlay.call(command, args).await?.refused(command)?;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        stub.requests().len(),
        before,
        "the overlay's question reached the model"
    );

    display.run("xdotool", &["key", "Escape"]).await?;
    Ok(())
}

/// `ask`'s arguments: a question in `mode`, answers to a fresh channel.
fn ask_args(mode: &str) -> Value {
    json!({
        "question": {"text": "Which window asks?", "mode": mode},
        "attachPicture": false,
        "onEvent": "$channel",
    })
}

/// `apply_rewrite`'s arguments, for a rewrite that is not open.
fn rewrite_args() -> Value {
    json!({"id": 4242, "replacement": "typed by a page"})
}

/// What `listen` from `@tauri-apps/api/event` sends.
fn listen_args() -> Value {
    json!({"event": "ipc-probe", "target": {"kind": "Any"}, "handler": "$callback"})
}

/// How a page's `invoke` ended.
#[derive(Debug)]
enum Outcome {
    Ok(Value),
    /// Rejected with a plain message: how Tauri refuses a command (the
    /// app's own commands fail with a `ClientError` object instead).
    Rejected(String),
    /// The command ran and failed with its own error.
    Failed(Value),
}

impl Outcome {
    fn value(self) -> Result<Value> {
        match self {
            Outcome::Ok(value) => Ok(value),
            other => bail!("expected a result, got {other:?}"),
        }
    }

    /// The call was refused by the ACL: "`command` not allowed on window
    /// ...", "... not allowed. Permissions associated with this command:
    /// ..." or, in release builds, "Command ... not allowed by ACL".
    fn refused(self, command: &str) -> Result<()> {
        match self {
            Outcome::Rejected(message) if message.contains("not allowed") => Ok(()),
            other => bail!("{command} was not refused: {other:?}"),
        }
    }
}

/// One page of the app, reached through WebKit's remote inspector.
struct Page {
    socket: tokio::sync::Mutex<Socket>,
    /// The page's target in the inspector's `Target` domain.
    target: String,
    next_id: std::sync::atomic::AtomicU64,
}

impl Page {
    /// Connects to the first page listed by the inspector on `port` whose
    /// URL `wanted` accepts, waiting for it to appear.
    async fn open(port: u16, wanted: impl Fn(&str) -> bool) -> Result<Self> {
        let deadline = Instant::now() + LONG;
        let path = loop {
            let list = reqwest::get(format!("http://127.0.0.1:{port}/"))
                .await
                .and_then(reqwest::Response::error_for_status);
            let listed = match list {
                Ok(answer) => targets(&answer.text().await?),
                Err(_) => Vec::new(),
            };
            if let Some((_, path)) = listed.into_iter().find(|(url, _)| wanted(url)) {
                break path;
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "the inspector on {port} lists no such page (the app must be a debug build)"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        let mut socket = Socket::connect(port, &path).await?;
        // The page's target is announced first.
        let target = loop {
            let message: Value = serde_json::from_str(&socket.receive().await?)?;
            if message["method"] == "Target.targetCreated" {
                break message["params"]["targetInfo"]["targetId"]
                    .as_str()
                    .context("a target without an id")?
                    .to_owned();
            }
        };
        Ok(Self {
            socket: tokio::sync::Mutex::new(socket),
            target,
            next_id: std::sync::atomic::AtomicU64::new(1),
        })
    }

    /// Evaluates `expression` in the page; its value (JSON-like values only).
    async fn evaluate(&self, expression: &str) -> Result<Value> {
        let id = self.next_id.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let inner = json!({
            "id": id,
            "method": "Runtime.evaluate",
            "params": {"expression": expression, "returnByValue": true},
        });
        let outer = json!({
            "id": id,
            "method": "Target.sendMessageToTarget",
            "params": {"targetId": self.target, "message": inner.to_string()},
        });
        let mut socket = self.socket.lock().await;
        socket.send(&outer.to_string()).await?;
        loop {
            let message: Value = serde_json::from_str(&socket.receive().await?)?;
            if message["method"] != "Target.dispatchMessageFromTarget" {
                continue;
            }
            let answer: Value = serde_json::from_str(
                message["params"]["message"]
                    .as_str()
                    .context("a target message that is not a string")?,
            )?;
            if answer["id"] != json!(id) {
                continue;
            }
            if let Some(error) = answer.get("error") {
                bail!("Runtime.evaluate: {error}");
            }
            let result = &answer["result"];
            if result["wasThrown"] == json!(true) {
                bail!("the script threw: {}", result["result"]);
            }
            return Ok(result["result"]["value"].clone());
        }
    }

    /// Calls `command` through the page's own `invoke`, as its scripts do,
    /// and waits for the outcome. In `args`, "$channel" becomes a fresh
    /// channel and "$callback" a fresh callback id.
    async fn call(&self, command: &str, args: Value) -> Result<Outcome> {
        let key = format!(
            "call{}",
            self.next_id.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
        );
        let started = self
            .evaluate(&format!(
                "(() => {{
                    const tauri = window.__TAURI_INTERNALS__;
                    const probe = (window.__ipcProbe = window.__ipcProbe || {{}});
                    const args = {args};
                    for (const name of Object.keys(args)) {{
                        if (args[name] === '$channel') args[name] = '__CHANNEL__:' + tauri.transformCallback(() => {{}});
                        if (args[name] === '$callback') args[name] = tauri.transformCallback(() => {{}});
                    }}
                    tauri.invoke({command}, args).then(
                        (value) => {{ probe[{key}] = {{ kind: 'ok', value: value === undefined ? null : value }}; }},
                        (error) => {{ probe[{key}] = typeof error === 'string'
                            ? {{ kind: 'rejected', message: error }}
                            : {{ kind: 'failed', error }}; }});
                    return true;
                }})()",
                command = json!(command),
                key = json!(key),
            ))
            .await?;
        anyhow::ensure!(started == json!(true), "{command} did not start: {started}");
        let deadline = Instant::now() + LONG;
        loop {
            let found = self
                .evaluate(&format!(
                    "JSON.stringify((window.__ipcProbe || {{}})[{}] || null)",
                    json!(key)
                ))
                .await?;
            let outcome: Value = serde_json::from_str(found.as_str().unwrap_or("null"))?;
            match outcome["kind"].as_str() {
                Some("ok") => return Ok(Outcome::Ok(outcome["value"].clone())),
                Some("rejected") => {
                    return Ok(Outcome::Rejected(
                        outcome["message"].as_str().unwrap_or_default().to_owned(),
                    ))
                }
                Some("failed") => return Ok(Outcome::Failed(outcome["error"].clone())),
                _ => {}
            }
            anyhow::ensure!(Instant::now() < deadline, "{command} never answered");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The (URL, WebSocket path) of each page on the inspector's list page.
fn targets(html: &str) -> Vec<(String, String)> {
    html.split("<tr>")
        .filter_map(|row| {
            let url = row.split("class=\"targeturl\">").nth(1)?.split("</div>").next()?;
            let path = row.split("'/socket/").nth(1)?.split('\'').next()?;
            Some((url.to_owned(), format!("/socket/{path}")))
        })
        .collect()
}

/// A WebSocket to one page of the inspector, text messages only.
struct Socket {
    stream: tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>,
}

impl Socket {
    async fn connect(port: u16, path: &str) -> Result<Self> {
        let (stream, _) = tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}{path}"))
            .await
            .with_context(|| format!("the inspector refused {path}"))?;
        Ok(Self { stream })
    }

    async fn send(&mut self, text: &str) -> Result<()> {
        Ok(self.stream.send(Message::text(text)).await?)
    }

    /// The next text message (pings are answered by the library).
    async fn receive(&mut self) -> Result<String> {
        loop {
            let message = tokio::time::timeout(LONG, self.stream.next())
                .await
                .map_err(|_| anyhow!("the inspector sent nothing for {LONG:?}"))?
                .context("the inspector closed the connection")??;
            match message {
                Message::Text(text) => return Ok(text.as_str().to_owned()),
                Message::Close(_) => bail!("the inspector closed the connection"),
                _ => continue,
            }
        }
    }
}
