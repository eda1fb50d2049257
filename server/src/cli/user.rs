//! `user`: add, list, disable, enable and reset the second factor of accounts.

use anyhow::Context as _;
use clap::Subcommand;
use sightline_proto::Secret;
use sightline_server::audit::Actor;
use sightline_server::datadir::DataDir;
use sightline_server::users;
use std::io::BufRead;

#[derive(Debug, Subcommand)]
pub enum UserCommand {
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

pub async fn run(dir: &DataDir, command: UserCommand) -> anyhow::Result<()> {
    let ctx = dir.system_context().await?;
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
                &ctx,
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
            let list = users::list(&ctx).await?;
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
            users::set_disabled(&ctx, &username, true, Actor::Cli).await?;
            println!("Disabled {username}; their sessions have ended.");
        }
        UserCommand::Enable { username } => {
            users::set_disabled(&ctx, &username, false, Actor::Cli).await?;
            println!("Enabled {username}.");
        }
        UserCommand::ResetTwoFactor { username } => {
            users::reset_two_factor(&ctx, &username, Actor::Cli).await?;
            println!("Reset the second factor of {username}; their next login enrols a new authenticator.");
        }
    }
    ctx.db.close().await;
    Ok(())
}
