//! What the desktop tests run the real app in: a virtual X display with a
//! window manager (always-on-top and window lists need one), and
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
    /// Starts `Xvfb :N` on the first free N from 90, 1920×1080.
    pub async fn start() -> Result<Self> {
        for tool in ["Xvfb", "openbox", "xrandr", "import"] {
            which(tool).with_context(|| format!("{tool} is missing: run scripts/setup"))?;
        }
        let number = (90..140)
            .find(|n| {
                !Path::new(&format!("/tmp/.X11-unix/X{n}")).exists()
                    && !Path::new(&format!("/tmp/.X{n}-lock")).exists()
            })
            .context("no free display number")?;
        let display = format!(":{number}");
        // -noreset: xcap's short-lived connections would otherwise reset
        // the server each time the last client leaves.
        let xvfb = Command::new("Xvfb")
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

impl Drop for Display {
    fn drop(&mut self) {
        let _ = self.window_manager.start_kill();
        let _ = self.xvfb.start_kill();
    }
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
