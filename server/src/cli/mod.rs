//! The subcommands, one file per group. Each builds only what it needs:
//! `init` a new data directory, `serve` the whole serving state, and the
//! others the domain's `Context` over the data directory
//! (`DataDir::system_context`).

mod audit;
mod cert;
mod init;
mod migrate;
mod mode;
mod request;
mod serve;
mod user;

use clap::{Parser, Subcommand};
use sightline_server::config::LogFormat;
use sightline_server::datadir::DataDir;
use sightline_server::db::DatabaseUrl;
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "sightline-server",
    version,
    about = "The Sightline server: certificates, accounts and the API the desktop app talks to"
)]
pub struct Cli {
    /// The data directory (database, CA, keys, configuration).
    #[arg(
        long,
        global = true,
        env = "SIGHTLINE_DATA_DIR",
        default_value = "sightline-data"
    )]
    data_dir: PathBuf,
    /// The database (config: database.url): sqlite://… or postgres://…;
    /// `init` records it in config.toml.
    #[arg(long, global = true, env = "SIGHTLINE_DATABASE_URL", value_parser = parse_database_url, hide_env_values = true)]
    database_url: Option<DatabaseUrl>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create a data directory: CA, server certificate, signing key, database and the first admin.
    Init(init::InitArgs),
    /// Run the server.
    Serve(serve::ServeArgs),
    /// Bring the database's schema up to date (for `serve --no-migrate`).
    Migrate,
    /// Manage user accounts.
    #[command(subcommand)]
    User(user::UserCommand),
    /// Issue, list and revoke client certificates.
    #[command(subcommand)]
    Cert(cert::CertCommand),
    /// Decide access requests.
    #[command(subcommand)]
    Request(request::RequestCommand),
    /// Manage the modes the desktop app offers.
    #[command(subcommand)]
    Mode(mode::ModeCommand),
    /// Read the audit trail.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
}

impl Cli {
    /// How to log: `serve` follows `[log]` in the data directory's
    /// configuration (a file that cannot be read is reported by `serve`
    /// itself); the one-shot commands log as text.
    pub fn log_format(&self) -> LogFormat {
        match self.command {
            Command::Serve(_) => DataDir::new(&self.data_dir)
                .load_config()
                .map_or(LogFormat::Text, |config| config.log.format),
            _ => LogFormat::Text,
        }
    }
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let dir = DataDir::new(&cli.data_dir).with_database_url(cli.database_url);
    match cli.command {
        Command::Init(args) => init::run(&dir, args).await,
        Command::Serve(args) => serve::run(&dir, args).await,
        Command::Migrate => migrate::run(&dir).await,
        Command::User(command) => user::run(&dir, command).await,
        Command::Cert(command) => cert::run(&dir, command).await,
        Command::Request(command) => request::run(&dir, command).await,
        Command::Mode(command) => mode::run(&dir, command).await,
        Command::Audit(command) => audit::run(&dir, command).await,
    }
}

fn parse_database_url(url: &str) -> Result<DatabaseUrl, String> {
    DatabaseUrl::parse(url).map_err(|error| error.to_string())
}
