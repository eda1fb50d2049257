//! `init`: a new data directory with its CA, keys, database and first admin.

use clap::Args;
use sightline_server::clock::Clock;
use sightline_server::config::Config;
use sightline_server::datadir::{self, DataDir, InitOptions};
use std::net::SocketAddr;

#[derive(Debug, Args)]
pub struct InitArgs {
    /// A name clients use to reach the server (repeat for more). `localhost` also covers 127.0.0.1 and ::1.
    #[arg(
        long = "hostname",
        env = "SIGHTLINE_HOSTNAME",
        value_delimiter = ',',
        required = true
    )]
    hostnames: Vec<String>,
    /// The first admin's username.
    #[arg(long, env = "SIGHTLINE_ADMIN_USERNAME", default_value = "admin")]
    admin_username: String,
    /// The first admin's e-mail address (default: admin@<first hostname>).
    #[arg(long, env = "SIGHTLINE_ADMIN_EMAIL")]
    admin_email: Option<String>,
    /// Written to config.toml as server.listen.
    #[arg(long, env = "SIGHTLINE_LISTEN")]
    listen: Option<SocketAddr>,
    /// Written to config.toml as server.public_url (default: https://<first hostname>:<port>).
    #[arg(long, env = "SIGHTLINE_PUBLIC_URL")]
    public_url: Option<String>,
}

pub async fn run(dir: &DataDir, args: InitArgs) -> anyhow::Result<()> {
    let first_host = args
        .hostnames
        .first()
        .cloned()
        .unwrap_or_else(|| "localhost".into());
    let mut config = Config::default();
    if let Some(listen) = args.listen {
        config.server.listen = listen;
    }
    if let Some(url) = args.public_url {
        config.server.public_url = url;
    }
    // Recorded in config.toml, so every later command and instance uses it.
    config.database.url = dir.database_url_override().cloned();
    let options = InitOptions {
        admin_email: args.admin_email.unwrap_or_else(|| format!("admin@{first_host}")),
        admin_username: args.admin_username,
        hostnames: args.hostnames,
        config,
    };
    let report = datadir::init(dir.root(), options, &Clock::system()).await?;
    println!("Created the Sightline data directory {}", dir.root().display());
    println!("CA certificate SHA-256 fingerprint: {}", report.ca_fingerprint);
    println!();
    println!("First administrator: {}", report.admin_username);
    println!(
        "One-time password (shown only now; store it safely): {}",
        report.admin_password.expose()
    );
    println!("Client certificate: {}", report.admin_identity.cert.display());
    println!("Client key (0600):  {}", report.admin_identity.key.display());
    println!("CA certificate:     {}", report.admin_identity.ca.display());
    println!();
    println!(
        "Start the server with: sightline-server --data-dir {} serve",
        dir.root().display()
    );
    Ok(())
}
