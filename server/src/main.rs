//! `sightline-server`: the command line. Each subcommand parses its flags
//! (every flag also reads a `SIGHTLINE_*` variable; `config.toml` in the data
//! directory supplies the rest) and calls the library.

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use sightline_proto::Secret;
use sightline_server::clock::Clock;
use sightline_server::config::Config;
use sightline_server::datadir::{self, DataDir, InitOptions};
use sightline_server::db::{self, Actor};
use sightline_server::state::AppState;
use sightline_server::{certificates, http, modes, requests, tls, users};
use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(
    name = "sightline-server",
    version,
    about = "The Sightline server: certificates, accounts and the API the desktop app talks to"
)]
struct Cli {
    /// The data directory (database, CA, keys, configuration).
    #[arg(
        long,
        global = true,
        env = "SIGHTLINE_DATA_DIR",
        default_value = "sightline-data"
    )]
    data_dir: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create a data directory: CA, server certificate, signing key, database and the first admin.
    Init(InitArgs),
    /// Run the server.
    Serve(ServeArgs),
    /// Manage user accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Issue, list and revoke client certificates.
    #[command(subcommand)]
    Cert(CertCommand),
    /// Decide access requests.
    #[command(subcommand)]
    Request(RequestCommand),
    /// Manage the modes the desktop app offers.
    #[command(subcommand)]
    Mode(ModeCommand),
    /// Read the audit trail.
    #[command(subcommand)]
    Audit(AuditCommand),
}

#[derive(Debug, Args)]
struct InitArgs {
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

#[derive(Debug, Args)]
struct ServeArgs {
    /// Address to listen on (config: server.listen).
    #[arg(long, env = "SIGHTLINE_LISTEN")]
    listen: Option<SocketAddr>,
    /// URL people and mails use to reach this server (config: server.public_url).
    #[arg(long, env = "SIGHTLINE_PUBLIC_URL")]
    public_url: Option<String>,
    /// Seconds a TLS handshake may take (config: server.handshake_timeout_secs).
    #[arg(long, env = "SIGHTLINE_HANDSHAKE_TIMEOUT_SECS")]
    handshake_timeout_secs: Option<u64>,
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Create an account.
    Add {
        username: String,
        #[arg(long)]
        email: String,
        /// Make the user an administrator.
        #[arg(long)]
        admin: bool,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List accounts.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Disable an account: its sessions end at once.
    Disable { username: String },
    /// Enable a disabled account.
    Enable { username: String },
    /// Forget the second factor; the next login enrols a new authenticator.
    #[command(name = "reset-2fa")]
    ResetTwoFactor { username: String },
}

#[derive(Debug, Subcommand)]
enum CertCommand {
    /// Issue a client certificate: writes client.crt, client.key (0600) and ca.crt into --out.
    Issue {
        #[arg(long)]
        user: String,
        #[arg(long)]
        out: PathBuf,
        /// Validity in days (config: certs.client_validity_days).
        #[arg(long, env = "SIGHTLINE_CLIENT_VALIDITY_DAYS")]
        validity_days: Option<u32>,
    },
    /// List certificates.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Revoke a certificate; running servers refuse it within seconds.
    Revoke {
        serial: String,
        #[arg(long, default_value = "unspecified", value_parser = sightline_certs::RevocationReason::NAMES)]
        reason: String,
    },
}

#[derive(Debug, Subcommand)]
enum RequestCommand {
    /// List access requests, newest first.
    List {
        #[arg(long, value_parser = ["pending", "approved", "rejected"])]
        state: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Approve a request: creates or links the account and mails a one-time download link.
    Approve {
        id: i64,
        #[arg(long)]
        note: Option<String>,
    },
    /// Reject a request; the requester is told by mail.
    Reject {
        id: i64,
        #[arg(long)]
        note: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum ModeCommand {
    /// List modes with their provider and model.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Add a mode.
    Add {
        #[arg(long)]
        name: String,
        #[arg(long, value_parser = ["chat", "ocr", "rewrite"])]
        kind: String,
        /// The id of a [[providers]] entry in config.toml.
        #[arg(long)]
        provider: String,
        #[arg(long)]
        model: Option<String>,
        /// The system prompt.
        #[arg(long)]
        prompt: Option<String>,
        #[arg(long)]
        description: Option<String>,
        #[arg(long)]
        temperature: Option<f32>,
        #[arg(long)]
        max_tokens: Option<u32>,
    },
    /// Change a mode; options not given keep their value.
    Update {
        id: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long, value_parser = ["chat", "ocr", "rewrite"])]
        kind: Option<String>,
        #[arg(long)]
        provider: Option<String>,
        #[arg(long)]
        model: Option<String>,
        #[arg(long)]
        prompt: Option<String>,
        #[arg(long)]
        description: Option<String>,
        #[arg(long)]
        temperature: Option<f32>,
        #[arg(long)]
        max_tokens: Option<u32>,
    },
    /// Remove a mode.
    Remove { id: String },
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Show the most recent events.
    List {
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
}

fn main() -> std::process::ExitCode {
    init_logging();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn init_logging() {
    use tracing_subscriber::filter::Targets;
    use tracing_subscriber::prelude::*;
    let filter: Targets = std::env::var("RUST_LOG")
        .ok()
        .and_then(|spec| spec.parse().ok())
        .unwrap_or_else(|| Targets::new().with_default(tracing::Level::INFO));
    tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
        .with(filter)
        .init();
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let dir = DataDir::new(&cli.data_dir);
    match cli.command {
        Command::Init(args) => init(&dir, args).await,
        Command::Serve(args) => serve(&dir, args).await,
        Command::User(command) => user(&dir, command).await,
        Command::Cert(command) => cert(&dir, command).await,
        Command::Request(command) => request(&dir, command).await,
        Command::Mode(command) => mode(&dir, command).await,
        Command::Audit(AuditCommand::List { limit }) => {
            let db = dir.open_db().await?;
            for event in db::audit_list(&db, limit.clamp(1, 10_000)).await? {
                let at = time::OffsetDateTime::from_unix_timestamp(event.at)?;
                println!(
                    "{at}\t{}\t{}\t{}\t{}\t{}",
                    event.actor,
                    event.action,
                    event.subject.unwrap_or_default(),
                    event.client_addr.unwrap_or_default(),
                    event.detail.unwrap_or_default()
                );
            }
            Ok(())
        }
    }
}

async fn init(dir: &DataDir, args: InitArgs) -> anyhow::Result<()> {
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
    let options = InitOptions {
        admin_email: args.admin_email.unwrap_or_else(|| format!("admin@{first_host}")),
        admin_username: args.admin_username,
        hostnames: args.hostnames,
        config,
    };
    let report = datadir::init(dir.root(), options, time::OffsetDateTime::now_utc()).await?;
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

async fn serve(dir: &DataDir, args: ServeArgs) -> anyhow::Result<()> {
    dir.ensure_initialised()?;
    let mut config = dir.load_config()?;
    if let Some(listen) = args.listen {
        config.server.listen = listen;
    }
    if let Some(url) = args.public_url {
        config.server.public_url = url;
    }
    if let Some(seconds) = args.handshake_timeout_secs {
        config.server.handshake_timeout_secs = seconds;
    }
    config.validate()?;
    let state = AppState::load(dir, config.clone(), Clock::system()).await?;
    let tls_config = tls::server_config(dir, state.revocations.clone())?;
    state.mailer.clone().spawn_worker(state.clock.clone());
    state
        .revocations
        .clone()
        .spawn_poller(state.db.clone(), state.clock.clone());
    let revocations = state.revocations.clone();
    let listener = tokio::net::TcpListener::bind(config.server.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.server.listen))?;
    let local = listener.local_addr()?;
    // Scripts and tests read this line to learn the bound port.
    println!("listening on https://{local}");
    std::io::stdout().flush()?;
    tracing::info!(%local, public_url = %config.server.public_url, "serving");
    tls::serve(
        listener,
        tls_config,
        http::router(state),
        Duration::from_secs(config.server.handshake_timeout_secs),
        revocations,
        shutdown_signal(),
    )
    .await;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(_) => {
                let _ = interrupt.await;
                return;
            }
        };
        tokio::select! {
            _ = interrupt => {},
            _ = terminate.recv() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}

async fn user(dir: &DataDir, command: UserCommand) -> anyhow::Result<()> {
    let db = dir.open_db().await?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    match command {
        UserCommand::Add {
            username,
            email,
            admin,
            password_stdin,
        } => {
            let password = if password_stdin {
                let mut line = String::new();
                std::io::stdin()
                    .lock()
                    .read_line(&mut line)
                    .context("reading the password from standard input")?;
                let trimmed = line.trim_end_matches(['\r', '\n']);
                anyhow::ensure!(!trimmed.is_empty(), "no password on standard input");
                Some(Secret::new(trimmed))
            } else {
                None
            };
            let user = users::add(
                &db,
                now,
                users::NewUser {
                    username: &username,
                    email: &email,
                    is_admin: admin,
                    password,
                },
                Actor::Cli,
            )
            .await?;
            println!(
                "Created user {} <{}>{}",
                user.username,
                user.email,
                if user.is_admin { " (admin)" } else { "" }
            );
        }
        UserCommand::List { json } => {
            let list = users::list(&db).await?;
            if json {
                let rows: Vec<_> = list
                    .iter()
                    .map(|u| {
                        serde_json::json!({
                            "username": u.username, "email": u.email, "admin": u.is_admin,
                            "disabled": u.disabled, "totp_enrolled": u.totp_enrolled,
                        })
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                println!(
                    "{:<24} {:<32} {:<6} {:<9} 2FA",
                    "USERNAME", "EMAIL", "ADMIN", "STATUS"
                );
                for u in list {
                    println!(
                        "{:<24} {:<32} {:<6} {:<9} {}",
                        u.username,
                        u.email,
                        if u.is_admin { "yes" } else { "no" },
                        if u.disabled { "disabled" } else { "active" },
                        if u.totp_enrolled { "enrolled" } else { "not yet" }
                    );
                }
            }
        }
        UserCommand::Disable { username } => {
            users::set_disabled(&db, now, &username, true, Actor::Cli).await?;
            println!("Disabled {username}; their sessions have ended.");
        }
        UserCommand::Enable { username } => {
            users::set_disabled(&db, now, &username, false, Actor::Cli).await?;
            println!("Enabled {username}.");
        }
        UserCommand::ResetTwoFactor { username } => {
            users::reset_two_factor(&db, now, &username, Actor::Cli).await?;
            println!("Reset the second factor of {username}; their next login enrols a new authenticator.");
        }
    }
    db.close().await;
    Ok(())
}

async fn cert(dir: &DataDir, command: CertCommand) -> anyhow::Result<()> {
    let (user, out, validity_days) = match command {
        CertCommand::Issue {
            user,
            out,
            validity_days,
        } => (user, out, validity_days),
        CertCommand::List { json } => {
            let db = dir.open_db().await?;
            let now = time::OffsetDateTime::now_utc().unix_timestamp();
            let list = certificates::list(&db).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                println!(
                    "{:<34} {:<20} {:<17} {:<17} STATUS",
                    "SERIAL", "USER", "ISSUED", "EXPIRES"
                );
                for c in list {
                    println!(
                        "{:<34} {:<20} {:<17} {:<17} {}{}",
                        c.serial,
                        c.username,
                        requests::format_time(c.issued_at).trim_end_matches(" UTC"),
                        requests::format_time(c.not_after).trim_end_matches(" UTC"),
                        c.status(now),
                        c.revocation_reason.map(|r| format!(" ({r})")).unwrap_or_default()
                    );
                }
            }
            db.close().await;
            return Ok(());
        }
        CertCommand::Revoke { serial, reason } => {
            let db = dir.open_db().await?;
            let reason = sightline_certs::RevocationReason::parse(&reason)
                .ok_or_else(|| anyhow::anyhow!("unknown reason {reason:?}"))?;
            let now = time::OffsetDateTime::now_utc().unix_timestamp();
            let record = certificates::revoke(&db, now, &serial, reason, Actor::Cli).await?;
            println!(
                "Revoked certificate {} of {} ({}). Running servers refuse it within seconds.",
                record.serial,
                record.username,
                reason.as_str()
            );
            db.close().await;
            return Ok(());
        }
    };
    let db = dir.open_db().await?;

    let config = dir.load_config()?;
    let days = validity_days.unwrap_or(config.certs.client_validity_days);
    anyhow::ensure!(days >= 1, "--validity-days must be at least 1");
    let user = users::require(&db, &user).await?;
    let ca = dir.load_ca()?;
    let mut tx = db.begin().await?;
    let issued = certificates::issue_for_user(
        &mut tx,
        &ca,
        &user,
        days,
        time::OffsetDateTime::now_utc(),
        Actor::Cli,
    )
    .await?;
    tx.commit().await?;
    let paths = certificates::write_pem_bundle(&out, &issued, &ca.cert_pem())?;
    println!(
        "Issued certificate {} for {} <{}>, valid {days} days",
        issued.info.serial_hex, user.username, user.email
    );
    println!("Certificate: {}", paths.cert.display());
    println!("Key (0600):  {}", paths.key.display());
    println!("CA:          {}", paths.ca.display());
    db.close().await;
    Ok(())
}

async fn request(dir: &DataDir, command: RequestCommand) -> anyhow::Result<()> {
    dir.ensure_initialised()?;
    let state = AppState::load(dir, dir.load_config()?, Clock::system()).await?;
    match command {
        RequestCommand::List { state: filter, json } => {
            let filter = filter.as_deref().and_then(requests::RequestState::parse);
            let list = requests::list(&state.db, filter, 1000).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                println!(
                    "{:<5} {:<9} {:<17} {:<32} {:<24} FROM",
                    "ID", "STATE", "RECEIVED", "EMAIL", "NAME"
                );
                for r in list {
                    println!(
                        "{:<5} {:<9} {:<17} {:<32} {:<24} {}",
                        r.id,
                        r.state,
                        requests::format_time(r.created_at).trim_end_matches(" UTC"),
                        r.email,
                        r.name.chars().take(24).collect::<String>(),
                        r.client_addr.unwrap_or_default()
                    );
                }
            }
        }
        RequestCommand::Approve { id, note } => {
            let approved = requests::approve(&state, id, note.as_deref(), Actor::Cli).await?;
            println!(
                "Approved request {id} from {}: {} account {}. A one-time link, valid until {}, was sent by mail.",
                approved.request.email,
                if approved.created_account { "created the" } else { "linked the existing" },
                approved.username,
                requests::format_time(approved.link_expires_at)
            );
            if state.config.mail.is_none() {
                println!(
                    "(No [mail] configured: the message is in {})",
                    dir.root().join("outbox").display()
                );
            }
        }
        RequestCommand::Reject { id, note } => {
            let rejected = requests::reject(&state, id, note.as_deref(), Actor::Cli).await?;
            println!(
                "Rejected request {id} from {}; they have been told by mail.",
                rejected.email
            );
        }
    }
    state.db.close().await;
    Ok(())
}

async fn mode(dir: &DataDir, command: ModeCommand) -> anyhow::Result<()> {
    let db = dir.open_db().await?;
    let config = dir.load_config()?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let kind = |text: &str| {
        sightline_proto::ModeKind::parse(text).ok_or_else(|| anyhow::anyhow!("unknown kind {text:?}"))
    };
    match command {
        ModeCommand::List { json } => {
            let list = modes::list(&db).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                println!(
                    "{:<22} {:<24} {:<8} {:<10} MODEL",
                    "ID", "NAME", "KIND", "PROVIDER"
                );
                for m in list {
                    println!(
                        "{:<22} {:<24} {:<8} {:<10} {}",
                        m.slug,
                        m.name,
                        m.kind.as_str(),
                        m.provider,
                        m.model.unwrap_or_default()
                    );
                }
            }
        }
        ModeCommand::Add {
            name,
            kind: k,
            provider,
            model,
            prompt,
            description,
            temperature,
            max_tokens,
        } => {
            let mode = modes::Mode {
                slug: String::new(),
                name,
                description: description.unwrap_or_default(),
                kind: kind(&k)?,
                system_prompt: prompt.unwrap_or_default(),
                provider,
                model,
                options: modes::ModeOptions {
                    temperature,
                    max_tokens,
                },
            };
            let added = modes::add(&db, &config, now, &mode, Actor::Cli).await?;
            println!("Added mode {} ({})", added.slug, added.name);
        }
        ModeCommand::Update {
            id,
            name,
            kind: k,
            provider,
            model,
            prompt,
            description,
            temperature,
            max_tokens,
        } => {
            let mut mode = modes::get(&db, &id)
                .await?
                .ok_or_else(|| anyhow::anyhow!("there is no mode {id:?}"))?;
            if let Some(name) = name {
                mode.name = name;
            }
            if let Some(k) = k {
                mode.kind = kind(&k)?;
            }
            if let Some(provider) = provider {
                mode.provider = provider;
            }
            if let Some(model) = model {
                mode.model = Some(model).filter(|m| !m.is_empty());
            }
            if let Some(prompt) = prompt {
                mode.system_prompt = prompt;
            }
            if let Some(description) = description {
                mode.description = description;
            }
            if temperature.is_some() {
                mode.options.temperature = temperature;
            }
            if max_tokens.is_some() {
                mode.options.max_tokens = max_tokens;
            }
            let updated = modes::update(&db, &config, now, &id, &mode, Actor::Cli).await?;
            println!("Updated mode {} ({})", updated.slug, updated.name);
        }
        ModeCommand::Remove { id } => {
            modes::remove(&db, now, &id, Actor::Cli).await?;
            println!("Removed mode {id}");
        }
    }
    db.close().await;
    Ok(())
}
