//! `request`: list, approve and reject access requests.

use clap::Subcommand;
use sightline_server::access_requests;
use sightline_server::audit::Actor;
use sightline_server::clock::format_time;
use sightline_server::datadir::DataDir;

#[derive(Debug, Subcommand)]
pub enum RequestCommand {
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

pub async fn run(dir: &DataDir, command: RequestCommand) -> anyhow::Result<()> {
    let ctx = dir.system_context().await?;
    match command {
        RequestCommand::List { state: filter, json } => {
            let filter = filter.as_deref().and_then(access_requests::RequestState::parse);
            let list = access_requests::list(&ctx, filter, 1000).await?;
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
                        format_time(r.created_at).trim_end_matches(" UTC"),
                        r.email,
                        r.name.chars().take(24).collect::<String>(),
                        r.client_addr.unwrap_or_default()
                    );
                }
            }
        }
        RequestCommand::Approve { id, note } => {
            let approved = access_requests::approve(&ctx, id, note.as_deref(), Actor::Cli).await?;
            println!(
                "Approved request {id} from {}: {} account {}. A one-time link, valid until {}, was sent by mail.",
                approved.request.email,
                if approved.created_account { "created the" } else { "linked the existing" },
                approved.username,
                format_time(approved.link_expires_at)
            );
            if ctx.config.mail.is_none() {
                println!(
                    "(No [mail] configured: the message is in {})",
                    dir.outbox().display()
                );
            }
        }
        RequestCommand::Reject { id, note } => {
            let rejected = access_requests::reject(&ctx, id, note.as_deref(), Actor::Cli).await?;
            println!(
                "Rejected request {id} from {}; they have been told by mail.",
                rejected.email
            );
        }
    }
    ctx.db.close().await;
    Ok(())
}
