//! The `sightline` desktop binary: the sidebar, or — with `--import` — the
//! managed set-up that administrators script on many machines.

// No console window behind the sidebar on Windows release builds.
#![cfg_attr(
    all(not(debug_assertions), target_os = "windows"),
    windows_subsystem = "windows"
)]

use anyhow::Context;
use clap::Parser;
use std::io::Read;
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(name = "sightline", version, about = "The Sightline sidebar")]
struct Cli {
    /// With --import: the server's address, https://host[:port].
    #[arg(long, requires = "import")]
    server: Option<String>,
    /// Sets the app up from a certificate package (zip, .p12/.pfx, or
    /// client.crt beside client.key and ca.crt) without the UI, then exits.
    #[arg(long, requires = "server")]
    import: Option<PathBuf>,
    /// Reads the package password from standard input.
    #[arg(long, requires = "import")]
    password_stdin: bool,
    /// Where settings and the certificate are kept (default: the OS's
    /// config directory).
    #[arg(long, env = "SIGHTLINE_CONFIG_DIR")]
    config_dir: Option<PathBuf>,
    /// Does what a global shortcut does, in the running sidebar (GNOME's
    /// keybindings run this): toggle-sidebar, rewrite, select-region or
    /// pause-ambient.
    #[arg(long, value_parser = parse_action, conflicts_with = "import")]
    action: Option<sightline_client::platform::Action>,
}

fn parse_action(name: &str) -> Result<sightline_client::platform::Action, String> {
    sightline_client::platform::Action::parse(name).ok_or_else(|| {
        let names: Vec<&str> = sightline_client::platform::Action::ALL
            .iter()
            .map(|action| action.as_str())
            .collect();
        format!("one of {}", names.join(", "))
    })
}

fn main() -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    tracing_subscriber::fmt().with_writer(std::io::stderr).init();
    let cli = Cli::parse();
    let config_dir = match cli.config_dir {
        Some(dir) => dir,
        None => sightline_client::desktop::Desktop::default_dir()?,
    };
    if let (Some(server), Some(package)) = (cli.server, cli.import) {
        let password = if cli.password_stdin {
            let mut password = String::new();
            std::io::stdin()
                .read_to_string(&mut password)
                .context("reading the package password")?;
            Some(password.trim_end_matches(['\r', '\n']).to_owned())
        } else {
            None
        };
        let store = sightline_client::store::Store::open(&config_dir, true);
        let outcome = sightline_client::setup::managed_setup(
            &store,
            &config_dir.join("settings.json"),
            &server,
            &package,
            password.as_deref(),
        )?;
        println!("Set up for {}", outcome.server_url);
        println!("Server CA fingerprint (SHA-256): {}", outcome.ca_fingerprint);
        if let sightline_client::store::SecretBackend::File { folder, reason } = &outcome.secrets {
            println!(
                "No keychain ({reason}): the private key is kept in {} (readable only by you).",
                folder.display()
            );
        }
        println!("Start Sightline to log in.");
        return Ok(());
    }
    sightline_desktop::run(config_dir, started, cli.action)
}
