//! `audit`: the most recent events of the audit trail.

use clap::Subcommand;
use sightline_server::audit;
use sightline_server::datadir::DataDir;

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Show the most recent events.
    List {
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
}

pub async fn run(dir: &DataDir, command: AuditCommand) -> anyhow::Result<()> {
    let AuditCommand::List { limit } = command;
    let ctx = dir.system_context().await?;
    for event in audit::list(&ctx, limit.clamp(1, 10_000)).await? {
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
    ctx.db.close().await;
    Ok(())
}
