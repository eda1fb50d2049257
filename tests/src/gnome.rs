//! A headless GNOME Shell on Wayland (with XWayland, PipeWire and the
//! desktop portals) for the desktop app's GNOME tests, started by the
//! scripts in `../shared/wayland/` in a folder of its own and ended on
//! drop. Keys and the pointer go through mutter's own remote-desktop
//! interface, which asks no consent, in one session for the whole test
//! (`tests/apps/gnome-input.py`); pictures of the screen
//! come through the Screenshot portal, which the permission store allows
//! (where GNOME keeps a user's "yes").

use crate::display::TextPad;
use anyhow::{bail, Context, Result};
use image::RgbaImage;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::sync::Mutex;

/// The session's monitor.
pub const WIDTH: u32 = 1920;
pub const HEIGHT: u32 = 1080;
/// The sidebar's default width.
pub const SIDEBAR: u32 = 360;
/// Ctrl+Shift+R, the rewrite shortcut, as keysyms.
pub const REWRITE_SHORTCUT: &str = "key:ffe3+ffe1+72";
/// The sidebar's accent colour (light theme): its primary buttons.
const ACCENT: [u8; 3] = [0x1f, 0x6f, 0xeb];
const LONG: Duration = Duration::from_secs(30);

/// Where the session scripts are: `../shared/wayland` beside the
/// repository, or `SIGHTLINE_WAYLAND_SCRIPTS`.
fn scripts() -> Result<PathBuf> {
    let dir = match std::env::var_os("SIGHTLINE_WAYLAND_SCRIPTS") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/wayland"),
    };
    if !dir.join("start.sh").exists() {
        bail!(
            "{} has no start.sh: the GNOME session scripts are missing",
            dir.display()
        );
    }
    Ok(dir)
}

/// The input helper: its process, and its standard input and output.
struct Input {
    _process: Child,
    steps: ChildStdin,
    answers: Lines<BufReader<ChildStdout>>,
}

pub struct GnomeSession {
    dir: tempfile::TempDir,
    scripts: PathBuf,
    /// One remote-desktop session for the whole test: a window has the
    /// keyboard focus only while a virtual keyboard exists, and mutter
    /// takes the keyboard from Wayland clients whenever one goes away.
    input: Mutex<Option<Input>>,
}

impl std::fmt::Debug for GnomeSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GnomeSession")
            .field("dir", &self.dir.path())
            .finish_non_exhaustive()
    }
}

impl GnomeSession {
    pub async fn start() -> Result<Self> {
        let scripts = scripts()?;
        let dir = tempfile::Builder::new().prefix("gnome-").tempdir()?;
        let status = Command::new(scripts.join("start.sh"))
            .env("GW", dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .status()
            .await
            .context("starting the GNOME session (run scripts/setup)")?;
        if !status.success() {
            let log = std::fs::read_to_string(dir.path().join("logs/shell.log")).unwrap_or_default();
            bail!("the GNOME session did not come up:\n{log}");
        }
        let session = Self {
            dir,
            scripts,
            input: Mutex::new(None),
        };
        // Screenshots for the test's pictures: the user's "yes" as GNOME
        // keeps it.
        session
            .run(
                "gdbus",
                &[
                    "call",
                    "--session",
                    "--dest",
                    "org.freedesktop.impl.portal.PermissionStore",
                    "--object-path",
                    "/org/freedesktop/impl/portal/PermissionStore",
                    "--method",
                    "org.freedesktop.impl.portal.PermissionStore.SetPermission",
                    "screenshot",
                    "true",
                    "screenshot",
                    "",
                    "['yes']",
                ],
            )
            .await?;
        session.restart_input().await?;
        // GNOME starts in the overview; Escape leaves it.
        session.input(&["key:ff1b"]).await?;
        Ok(session)
    }

    /// The process id of one of the session's own processes
    /// (`gnome-shell`, `pipewire`, `wireplumber`).
    pub fn process(&self, name: &str) -> Option<u32> {
        std::fs::read_to_string(self.dir.path().join("logs/pids.txt"))
            .ok()?
            .lines()
            .find_map(|line| {
                let (process, pid) = line.split_once(' ')?;
                (process == name).then(|| pid.trim().parse().ok()).flatten()
            })
    }

    /// The session's home folder (also `HOME` for what runs in it).
    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    /// A command that runs inside the session (Wayland, XWayland, its bus).
    pub fn command(&self, program: &Path) -> Command {
        let mut command = Command::new(self.scripts.join("run-in.sh"));
        command.env("GW", self.dir.path()).arg(program);
        command
    }

    /// Runs `program` in the session and returns its output.
    pub async fn run(&self, program: &str, args: &[&str]) -> Result<String> {
        let output = self
            .command(Path::new(program))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .await
            .with_context(|| format!("running {program}"))?;
        if !output.status.success() {
            bail!(
                "{program} {args:?} failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// Starts the input helper (again, where one ended).
    pub async fn restart_input(&self) -> Result<()> {
        let mut process = self
            .command(Path::new("/usr/bin/python3"))
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("apps/gnome-input.py"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        let steps = process.stdin.take().context("the input helper's stdin")?;
        let mut answers = BufReader::new(process.stdout.take().context("its stdout")?).lines();
        let ready = answers.next_line().await?;
        if ready.as_deref() != Some("ready") {
            bail!("the input helper did not start: {ready:?}");
        }
        *self.input.lock().await = Some(Input {
            _process: process,
            steps,
            answers,
        });
        Ok(())
    }

    /// Keys and the pointer, as steps (`key:ffe3+ffe1+20`, `click:x,y`,
    /// `move:x,y`, `tap` (a click where the pointer is),
    /// `drag:x1,y1,x2,y2`, `type:text`, `sleep:seconds`).
    pub async fn input(&self, steps: &[&str]) -> Result<()> {
        let mut guard = self.input.lock().await;
        let input = guard.as_mut().context("the input helper is gone")?;
        let line: Vec<String> = steps.iter().map(|step| shell_quote(step)).collect();
        input
            .steps
            .write_all(format!("{}\n", line.join(" ")).as_bytes())
            .await?;
        input.steps.flush().await?;
        match input.answers.next_line().await? {
            Some(answer) if answer == "ok" => Ok(()),
            other => bail!("the input helper answered {other:?} to {steps:?}"),
        }
    }

    /// A picture of the whole screen through the Screenshot portal.
    pub async fn screenshot(&self) -> Result<RgbaImage> {
        let script = self.scripts.join("portal-screenshot.py");
        let output = self
            .run("/usr/bin/python3", &[script.to_str().context("a path")?])
            .await?;
        let uri = output
            .split("'uri': '")
            .nth(1)
            .and_then(|rest| rest.split('\'').next())
            .with_context(|| format!("no picture: {output}"))?;
        let path = uri.strip_prefix("file://").context("not a file")?;
        let picture = image::open(path)?.to_rgba8();
        std::fs::remove_file(path)?;
        Ok(picture)
    }

    /// Saves a picture of the screen to `path`.
    pub async fn save_screenshot(&self, path: &Path) -> Result<RgbaImage> {
        let picture = self.screenshot().await?;
        picture.save(path)?;
        Ok(picture)
    }

    /// Takes pictures until `ready` holds for one (or `timeout` passes).
    pub async fn wait_for_screen(
        &self,
        what: &str,
        timeout: Duration,
        ready: impl Fn(&RgbaImage) -> bool,
    ) -> Result<RgbaImage> {
        let deadline = Instant::now() + timeout;
        loop {
            let picture = self.screenshot().await?;
            if ready(&picture) {
                return Ok(picture);
            }
            if Instant::now() > deadline {
                bail!("the screen never showed {what}");
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    /// Starts the desktop app `binary` in the session with its state in
    /// `config_dir`, its output (at the `RUST_LOG` level `filter`) appended
    /// to `log`.
    pub fn start_app(&self, binary: &Path, config_dir: &Path, log: &Path, filter: &str) -> Result<Child> {
        let output = std::fs::OpenOptions::new().create(true).append(true).open(log)?;
        Ok(self
            .command(binary)
            .env("SIGHTLINE_CONFIG_DIR", config_dir)
            .env("RUST_LOG", filter)
            .stdout(output.try_clone()?)
            .stderr(output)
            .kill_on_drop(true)
            .spawn()?)
    }

    /// The sidebar asks for the screen: the user reads its explanation
    /// (a picture of it saved to `explained`), presses Continue and answers
    /// GNOME's Screen Share dialog (saved to `asked`) — the monitor, then
    /// Share — as a person would. Returns once the app stored the consent
    /// in `config_dir`.
    pub async fn grant_screen_access(&self, config_dir: &Path, explained: &Path, asked: &Path) -> Result<()> {
        self.press_sidebar_button("the explanation in the sidebar", explained, 120)
            .await?;
        let dialog = self
            .wait_for_screen("GNOME's Screen Share dialog", LONG, |screen| {
                let [r, g, b, _] = screen.get_pixel(960, 660).0;
                r > 240 && g > 240 && b > 240
            })
            .await?;
        dialog.save(asked)?;
        self.input(&["click:960,581", "sleep:0.5", "click:1172,428"])
            .await?;
        let token = config_dir.join("screencast-token");
        let deadline = Instant::now() + LONG;
        while !token.exists() {
            anyhow::ensure!(Instant::now() < deadline, "the consent was never stored");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(())
    }

    /// GNOME's Remote desktop dialog, which the first rewrite shows: the
    /// user turns on "Allow remote interaction" and presses Share, as a
    /// person would. A picture of it is saved to `picture`.
    pub async fn allow_remote_interaction(&self, picture: &Path) -> Result<()> {
        let dialog = self
            .wait_for_screen("GNOME's Remote desktop dialog", LONG, |screen| {
                // Its Share button, blue where the editor is white.
                let [r, _, b, _] = screen.get_pixel(1130, 420).0;
                b > r.saturating_add(40)
            })
            .await?;
        dialog.save(picture)?;
        self.input(&["click:1139,479", "sleep:0.5", "click:1162,429"])
            .await
    }

    /// Selects all of the focused editor's text and presses the rewrite
    /// shortcut. Mutter drops the first virtual key after the focus moved:
    /// a lone Shift goes first.
    pub async fn rewrite_all(&self) -> Result<()> {
        self.input(&[
            "sleep:0.3",
            "key:ffe1",
            "key:ffe3+61",
            "sleep:0.2",
            REWRITE_SHORTCUT,
        ])
        .await
    }

    /// Waits for a primary (accent-coloured) button at least `min_width`
    /// wide in the sidebar (above its status line), as a person looks for it,
    /// saves the picture to `picture` and clicks the button.
    pub async fn press_sidebar_button(&self, what: &str, picture: &Path, min_width: u32) -> Result<()> {
        let (x, y) = self.find_sidebar_button(what, picture, min_width).await?;
        self.input(&[&format!("click:{x},{y}")]).await
    }

    /// Waits for a primary button as [`Self::press_sidebar_button`] does and
    /// returns where it is, without clicking it.
    pub async fn find_sidebar_button(
        &self,
        what: &str,
        picture: &Path,
        min_width: u32,
    ) -> Result<(u32, u32)> {
        let area = (WIDTH - SIDEBAR, 60, SIDEBAR, HEIGHT - 100);
        let screen = self
            .wait_for_screen(what, LONG, |screen| {
                find_block(screen, area, ACCENT, min_width).is_some()
            })
            .await?;
        screen.save(picture)?;
        find_block(&screen, area, ACCENT, min_width).context("no button")
    }

    /// Starts the test editor (`tests/apps/textpad.py`) as a native Wayland
    /// window, maximised, or (`wayland` false) an XWayland one of 700×400
    /// at (40, 40); on the accessibility bus as GTK apps are by default.
    pub fn start_editor(&self, title: &str, initial: &str, wayland: bool) -> Result<TextPad> {
        let mut python = self.command(Path::new("/usr/bin/python3"));
        python.env("GDK_BACKEND", if wayland { "wayland" } else { "x11" });
        if wayland {
            // Mutter places Wayland windows; maximised, a test knows where.
            python.env("TEXTPAD_MAXIMIZED", "1");
        }
        TextPad::launch(python, title, initial, &self.home())
    }

    /// Puts `text` on the clipboard through XWayland (`xclip` stays behind
    /// as its owner), as another application would.
    pub async fn set_clipboard(&self, text: &str) -> Result<()> {
        let mut child = self
            .command(Path::new("/usr/bin/xclip"))
            .args(["-selection", "clipboard", "-i"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("xclip is missing: run scripts/setup")?;
        let mut stdin = child.stdin.take().context("xclip stdin")?;
        stdin.write_all(text.as_bytes()).await?;
        drop(stdin);
        child.wait().await?;
        Ok(())
    }

    /// The clipboard's text, read through XWayland.
    pub async fn clipboard(&self) -> Result<String> {
        self.run("/usr/bin/xclip", &["-selection", "clipboard", "-o"])
            .await
    }

    /// Starts `tests/apps/picture.py` showing `picture` in a maximised
    /// native Wayland window titled `title`; an `accessible` one is on the
    /// accessibility bus, as GTK apps are by default.
    pub fn show_picture(&self, title: &str, picture: &Path, accessible: bool) -> Result<Child> {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("apps/picture.py");
        let mut command = self.command(Path::new("/usr/bin/python3"));
        if !accessible {
            command.env("NO_AT_BRIDGE", "1");
        }
        Ok(command
            .arg(script)
            .arg(title)
            .arg(picture)
            .env("GDK_BACKEND", "wayland")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()?)
    }
}

/// One step quoted for the helper's `shlex.split`.
fn shell_quote(step: &str) -> String {
    format!("'{}'", step.replace('\'', "'\"'\"'"))
}

impl Drop for GnomeSession {
    fn drop(&mut self) {
        if let Some(input) = self.input.get_mut().take() {
            drop(input);
        }
        let _ = std::process::Command::new(self.scripts.join("stop.sh"))
            .env("GW", self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// The centre of the topmost run of at least `min_width` pixels of `colour`
/// inside `area` (x, y, width, height) of `picture`, and of the rows below
/// it that have the run too: where a person sees a button of that colour.
pub fn find_block(
    picture: &RgbaImage,
    area: (u32, u32, u32, u32),
    colour: [u8; 3],
    min_width: u32,
) -> Option<(u32, u32)> {
    let (ax, ay, aw, ah) = area;
    let near = |p: &image::Rgba<u8>| p.0.iter().zip(colour).take(3).all(|(a, b)| a.abs_diff(b) <= 6);
    let run_in_row = |y: u32| -> Option<(u32, u32)> {
        let mut start = None;
        for x in ax..(ax + aw).min(picture.width()) {
            if near(picture.get_pixel(x, y)) {
                let first = *start.get_or_insert(x);
                if x + 1 - first >= min_width {
                    // Extend to the run's end.
                    let mut end = x;
                    while end + 1 < (ax + aw).min(picture.width()) && near(picture.get_pixel(end + 1, y)) {
                        end += 1;
                    }
                    return Some((first, end));
                }
            } else {
                start = None;
            }
        }
        None
    };
    let bottom = (ay + ah).min(picture.height());
    let top = (ay..bottom).find(|&y| run_in_row(y).is_some())?;
    let (first, end) = run_in_row(top)?;
    let mut last = top;
    while last + 1 < bottom && run_in_row(last + 1).is_some() {
        last += 1;
    }
    Some(((first + end) / 2, (top + last) / 2))
}
