//! What the desktop app's end-to-end tests run it in: a virtual X display
//! with a window manager (always-on-top and window lists need one), and
//! `tauri-driver` in front of WebKit's WebDriver.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};

/// The desktop binary the scripts built (`sightline`).
pub fn app_binary() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("SIGHTLINE_APP_BIN") {
        return Ok(PathBuf::from(path));
    }
    let server = crate::server_binary()?;
    let binary = server.with_file_name("sightline");
    if !binary.exists() {
        bail!(
            "{} is missing: build it with `cargo build -p sightline-desktop` (scripts/test does)",
            binary.display()
        );
    }
    Ok(binary)
}

/// An Xvfb display with openbox, torn down on drop.
#[derive(Debug)]
pub struct Display {
    pub number: u32,
    xvfb: Child,
    window_manager: Child,
}

impl Display {
    /// Starts the desktop app on this display without WebDriver (which
    /// would claim the overlays' web views), with the profile in
    /// `config_dir` and `home`, its output written to `log`, and `env`
    /// besides; killed when the child is dropped.
    pub fn launch_app(
        &self,
        config_dir: &Path,
        home: &Path,
        log: &Path,
        env: &[(&str, &str)],
    ) -> Result<Child> {
        let output = std::fs::File::create(log)?;
        let mut command = Command::new(app_binary()?);
        command
            .env("DISPLAY", self.name())
            .env("SIGHTLINE_CONFIG_DIR", config_dir)
            .env("HOME", home)
            .stdout(output.try_clone()?)
            .stderr(output)
            .kill_on_drop(true);
        for (name, value) in env {
            command.env(name, value);
        }
        Ok(command.spawn()?)
    }

    /// Starts `Xvfb :N` on the first free N from 90, 1920×1080.
    pub async fn start() -> Result<Self> {
        for tool in ["Xvfb", "openbox", "xrandr", "import"] {
            which(tool).with_context(|| format!("{tool} is missing: run scripts/setup"))?;
        }
        // Tests start displays in parallel: a number is claimed in this
        // process before its Xvfb writes the lock, or two tests would share
        // one display.
        let number = {
            let mut claimed = CLAIMED_DISPLAYS.lock().unwrap_or_else(|p| p.into_inner());
            let number = (90..140)
                .find(|n| !claimed.contains(n) && free_display(*n))
                .context("no free display number")?;
            claimed.insert(number);
            number
        };
        let display = format!(":{number}");
        // -noreset: xcap's short-lived connections would otherwise reset
        // the server each time the last client leaves.
        let mut xvfb = Command::new("Xvfb")
            .args([
                &display,
                "-screen",
                "0",
                "1920x1080x24",
                "-noreset",
                "-nolisten",
                "tcp",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()?;
        let socket = PathBuf::from(format!("/tmp/.X11-unix/X{number}"));
        let deadline = Instant::now() + Duration::from_secs(10);
        while !socket.exists() {
            if xvfb.try_wait()?.is_some() {
                bail!("Xvfb {display} exited at start");
            }
            if Instant::now() > deadline {
                bail!("Xvfb {display} did not start");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // Without this no monitor reports itself as primary.
        let status = Command::new("xrandr")
            .args(["--output", "screen", "--primary"])
            .env("DISPLAY", &display)
            .status()
            .await?;
        if !status.success() {
            bail!("xrandr failed on {display}");
        }
        let window_manager = Command::new("openbox")
            .env("DISPLAY", &display)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()?;
        tokio::time::sleep(Duration::from_millis(300)).await;
        Ok(Self {
            number,
            xvfb,
            window_manager,
        })
    }

    pub fn name(&self) -> String {
        format!(":{}", self.number)
    }

    /// The whole screen as PNG (what a person would see).
    pub async fn screenshot(&self, path: &Path) -> Result<()> {
        self.screenshot_of(path, None).await
    }

    /// The rightmost `width` pixels of the screen, where the sidebar docks.
    pub async fn screenshot_right(&self, path: &Path, width: u32) -> Result<()> {
        self.screenshot_of(path, Some(format!("{width}x1080+{}+0", 1920 - width.min(1920))))
            .await
    }

    async fn screenshot_of(&self, path: &Path, crop: Option<String>) -> Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut import = Command::new("import");
        import.args(["-window", "root"]);
        if let Some(crop) = crop {
            // +repage drops the offset the crop would leave in the PNG.
            import.args(["-crop", &crop, "+repage"]);
        }
        let status = import.arg(path).env("DISPLAY", self.name()).status().await?;
        if !status.success() {
            bail!("screenshot of {} failed", self.name());
        }
        Ok(())
    }

    /// Runs an X client tool (`xdotool`, `xprop`, ...) on this display.
    pub async fn run(&self, program: &str, args: &[&str]) -> Result<String> {
        let output = Command::new(program)
            .args(args)
            .env("DISPLAY", self.name())
            .output()
            .await?;
        if !output.status.success() {
            bail!("{program} {args:?}: {}", String::from_utf8_lossy(&output.stderr));
        }
        Ok(String::from_utf8(output.stdout)?)
    }
}

/// Display `n` is unused: no lock file, or one left by an X server that is
/// gone (killed test runs leave them), which is then cleared away.
fn free_display(n: u32) -> bool {
    let lock = PathBuf::from(format!("/tmp/.X{n}-lock"));
    let socket = PathBuf::from(format!("/tmp/.X11-unix/X{n}"));
    match std::fs::read_to_string(&lock) {
        Ok(text) => {
            let alive = text
                .trim()
                .parse::<u32>()
                .map(|pid| Path::new(&format!("/proc/{pid}")).exists())
                .unwrap_or(true);
            if alive {
                return false;
            }
            let _ = std::fs::remove_file(&lock);
            let _ = std::fs::remove_file(&socket);
            true
        }
        Err(_) => !socket.exists(),
    }
}

/// Display numbers in use by this process's tests.
static CLAIMED_DISPLAYS: std::sync::Mutex<std::collections::BTreeSet<u32>> =
    std::sync::Mutex::new(std::collections::BTreeSet::new());

impl Drop for Display {
    fn drop(&mut self) {
        let _ = self.window_manager.start_kill();
        let _ = self.xvfb.start_kill();
        CLAIMED_DISPLAYS
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.number);
    }
}

/// The benchmarks' 1920×1080 picture of a typical screen (a menu bar, a
/// page of text, a panel, a photo-like area), made in `dir` by the baseline's own
/// `make-test-screen.sh` beside the repository, so both sides of a
/// comparison show the same content.
pub fn make_test_screen(dir: &Path) -> Result<PathBuf> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/bench/make-test-screen.sh");
    let picture = dir.join("test-screen.png");
    let made = std::process::Command::new("bash")
        .arg(&script)
        .arg(&picture)
        .status()
        .with_context(|| format!("running {}", script.display()))?;
    if !made.success() {
        bail!("{} failed", script.display());
    }
    Ok(picture)
}

/// `tauri-driver` on free ports, starting the app with `env`.
#[derive(Debug)]
pub struct Driver {
    pub port: u16,
    child: Child,
    pub log: PathBuf,
}

impl Driver {
    pub async fn start(display: &Display, env: &[(&str, &Path)], log: PathBuf) -> Result<Self> {
        which("tauri-driver").context("tauri-driver is missing: run scripts/setup")?;
        which("WebKitWebDriver").context("WebKitWebDriver is missing: run scripts/setup")?;
        let port = crate::free_port()?;
        let native_port = crate::free_port()?;
        if let Some(dir) = log.parent() {
            std::fs::create_dir_all(dir)?;
        }
        // Its output goes to a file: an inherited pipe would keep the test
        // runner's output open after the tests end.
        let output = std::fs::File::create(&log)?;
        let mut command = Command::new("tauri-driver");
        command
            .args([
                "--port",
                &port.to_string(),
                "--native-port",
                &native_port.to_string(),
            ])
            .env("DISPLAY", display.name())
            .stdout(output.try_clone()?)
            .stderr(output)
            .kill_on_drop(true);
        for (name, value) in env {
            command.env(name, value);
        }
        let child = command.spawn()?;
        // Both the driver and WebKit's driver behind it must be listening
        // before a session is asked for.
        let deadline = Instant::now() + Duration::from_secs(20);
        for wanted in [port, native_port] {
            while tokio::net::TcpStream::connect(("127.0.0.1", wanted))
                .await
                .is_err()
            {
                if Instant::now() > deadline {
                    bail!("tauri-driver did not listen on {wanted}");
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        Ok(Self { port, child, log })
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

fn which(tool: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(tool))
            .find(|candidate| candidate.is_file())
    })
}

/// A sidebar profile that is set up and logged in, made through the
/// client library the app uses: certificate imported, password and TOTP
/// given. The app started on it opens straight to the chat.
pub async fn ready_profile(
    server: &crate::TestServer,
    username: &str,
    password: &str,
    dir: &Path,
) -> Result<std::sync::Arc<sightline_client::desktop::Desktop>> {
    ready_profile_with(server, username, password, dir, &[]).await
}

/// Like [`ready_profile`], with more flags for the certificate's `cert
/// issue` (`--validity 90s`, ...).
pub async fn ready_profile_with(
    server: &crate::TestServer,
    username: &str,
    password: &str,
    dir: &Path,
    cert_flags: &[&str],
) -> Result<std::sync::Arc<sightline_client::desktop::Desktop>> {
    use sightline_client::desktop::onboarding::ImportRequest;
    use sightline_client::desktop::Desktop;
    server.add_account(username, password).await?;
    let pem = server.issue_cert_files_with(username, cert_flags).await?;
    let desktop = Desktop::open(dir, false).await?;
    desktop
        .import_package(ImportRequest {
            server_url: format!("https://localhost:{}", server.addr.port()),
            path: pem.join("client.crt").to_string_lossy().into_owned(),
            password: None,
            trusted_ca_pem: None,
        })
        .await?;
    let code_needed = desktop.login(username, password).await?;
    let enrollment = code_needed.enrollment.context("no enrolment on first login")?;
    let secret = crate::totp::secret_from_uri(&enrollment.otpauth_uri)?;
    desktop.verify(&crate::totp_now(&secret)).await?;
    Ok(desktop)
}

/// A server whose one mode answers from the stub provider, and a sidebar
/// profile logged in to it with that mode remembered where `remember`
/// puts it: what the desktop app's tests of one capability start from.
pub struct StubbedProfile {
    pub stub: crate::stub::StubProvider,
    pub server: crate::TestServer,
    pub home: tempfile::TempDir,
    pub config_dir: PathBuf,
}

impl std::fmt::Debug for StubbedProfile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StubbedProfile")
            .field("config_dir", &self.config_dir)
            .finish_non_exhaustive()
    }
}

impl StubbedProfile {
    pub async fn start(
        username: &str,
        password: &str,
        (mode_name, mode_kind): (&str, &str),
        remember: impl FnOnce(&mut sightline_client::settings::Settings, String),
    ) -> Result<Self> {
        let stub = crate::stub::StubProvider::start().await?;
        let server = crate::TestServer::start_configured(&stub.provider_toml(), &[]).await?;
        server.add_mode(mode_name, mode_kind, "stub", &[]).await?;
        let home = tempfile::tempdir()?;
        let config_dir = home.path().join("config");
        let profile = ready_profile(&server, username, password, &config_dir).await?;
        let mode = mode_named(&profile, mode_name).await?;
        profile.update_settings(|settings| remember(settings, mode))?;
        Ok(Self {
            stub,
            server,
            home,
            config_dir,
        })
    }
}

/// The id of the server's mode called `name`, as `desktop` lists them.
pub async fn mode_named(desktop: &sightline_client::desktop::Desktop, name: &str) -> Result<String> {
    desktop
        .modes()
        .await?
        .into_iter()
        .find(|mode| mode.name == name)
        .map(|mode| mode.id)
        .with_context(|| format!("the server has no mode {name:?}"))
}

/// A GTK text editor (`tests/apps/textpad.py`) on the display: a real X
/// application to read selections from and type into. What it holds is
/// mirrored to a file after every change.
#[derive(Debug)]
pub struct TextPad {
    pub title: String,
    /// The X window id, as `xdotool` prints it.
    pub window: String,
    output: PathBuf,
    child: Child,
}

impl TextPad {
    pub async fn start(display: &Display, title: &str, initial: &str, dir: &Path) -> Result<Self> {
        let mut command = Command::new("/usr/bin/python3");
        command.env("DISPLAY", display.name()).env("NO_AT_BRIDGE", "1");
        let mut pad = Self::launch(command, title, initial, dir)?;
        pad.window = display.wait_for_window(title).await?;
        Ok(pad)
    }

    /// Starts `tests/apps/textpad.py` through `python` (a `python3`
    /// command with the session's environment), titled `title`, holding
    /// `initial`, its text mirrored into a file in `dir`. The window id is
    /// left empty: the caller knows how to find the window in its session.
    pub fn launch(mut python: Command, title: &str, initial: &str, dir: &Path) -> Result<Self> {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("apps/textpad.py");
        let output = dir.join(format!("{}.txt", title.replace(' ', "-")));
        let child = python
            .arg(&script)
            .args([title, &output.to_string_lossy(), initial])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("starting textpad.py (python3-gi): run scripts/setup")?;
        Ok(Self {
            title: title.to_owned(),
            window: String::new(),
            output,
            child,
        })
    }

    /// Everything the editor holds now ("" before it has started).
    pub fn text(&self) -> Result<String> {
        match std::fs::read_to_string(&self.output) {
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
            read => Ok(read?),
        }
    }

    /// Waits until the editor holds `wanted`; the text it last held if not.
    pub async fn wait_for_text(&self, wanted: &str, timeout: Duration) -> Result<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let text = self.text()?;
            if text == wanted || Instant::now() > deadline {
                return Ok(text);
            }
            // Short, so the typing benchmark measures the editor, not this.
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// Brings the editor to the front and selects all of its text.
    pub async fn focus_and_select_all(&self, display: &Display) -> Result<()> {
        display
            .run("xdotool", &["windowactivate", "--sync", &self.window])
            .await?;
        display
            .run("xdotool", &["key", "--clearmodifiers", "ctrl+a"])
            .await?;
        Ok(())
    }
}

impl Drop for TextPad {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

impl Display {
    /// Waits (up to 20 s) for a visible window titled exactly `title`;
    /// its id as `xdotool` prints it.
    pub async fn wait_for_window(&self, title: &str) -> Result<String> {
        let pattern = format!("^{title}$");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let found = self
                .run("xdotool", &["search", "--onlyvisible", "--name", &pattern])
                .await
                .unwrap_or_default();
            if let Some(id) = found.lines().next() {
                return Ok(id.trim().to_owned());
            }
            if Instant::now() > deadline {
                bail!("no window {title:?} appeared");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Puts `text` on the CLIPBOARD selection through `xclip`, as another
    /// application would (xclip stays behind as its owner).
    pub async fn set_clipboard(&self, text: &str) -> Result<()> {
        use tokio::io::AsyncWriteExt;
        let mut child = Command::new("xclip")
            .args(["-selection", "clipboard", "-i"])
            .env("DISPLAY", self.name())
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

    /// Makes the picture at `path` the root window's background (ImageMagick's
    /// `display -window root`; with `-noreset` it stays after the tool
    /// exits). Its exit status is 1 even when it worked, so only a tool that
    /// does not run or finish counts as a failure; the tests check pixels.
    pub async fn set_background(&self, path: &Path) -> Result<()> {
        let status = Command::new("/usr/bin/display")
            .args(["-window", "root"])
            .arg(path)
            .env("DISPLAY", self.name())
            .kill_on_drop(true)
            .status();
        tokio::time::timeout(Duration::from_secs(10), status)
            .await
            .context("display -window root did not finish")??;
        Ok(())
    }

    /// The CLIPBOARD selection's text, read through `xclip`.
    pub async fn clipboard(&self) -> Result<String> {
        self.run("xclip", &["-selection", "clipboard", "-o"]).await
    }
}
