//! `cert`: issue, list and revoke client certificates.

use clap::Subcommand;
use sightline_server::audit::Actor;
use sightline_server::certificates;
use sightline_server::clock::format_time;
use sightline_server::datadir::DataDir;
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub enum CertCommand {
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

pub async fn run(dir: &DataDir, command: CertCommand) -> anyhow::Result<()> {
    let ctx = dir.system_context().await?;
    match command {
        CertCommand::Issue {
            user,
            out,
            validity_days,
        } => {
            let days = validity_days.unwrap_or(ctx.config.certs.client_validity_days);
            let (user, issued) = certificates::issue(&ctx, &user, days, Actor::Cli).await?;
            let paths = certificates::write_pem_bundle(&out, &issued, &ctx.ca_pem)?;
            println!(
                "Issued certificate {} for {} <{}>, valid {days} days",
                issued.info.serial_hex, user.username, user.email
            );
            println!("Certificate: {}", paths.cert.display());
            println!("Key (0600):  {}", paths.key.display());
            println!("CA:          {}", paths.ca.display());
        }
        CertCommand::List { json } => {
            let now = ctx.clock.now();
            let list = certificates::list(&ctx).await?;
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
                        format_time(c.issued_at).trim_end_matches(" UTC"),
                        format_time(c.not_after).trim_end_matches(" UTC"),
                        c.status(now),
                        c.revocation_reason.map(|r| format!(" ({r})")).unwrap_or_default()
                    );
                }
            }
        }
        CertCommand::Revoke { serial, reason } => {
            let reason = sightline_certs::RevocationReason::parse(&reason)
                .ok_or_else(|| anyhow::anyhow!("unknown reason {reason:?}"))?;
            let record = certificates::revoke(&ctx, &serial, reason, Actor::Cli).await?;
            println!(
                "Revoked certificate {} of {} ({}). Running servers refuse it within seconds.",
                record.serial,
                record.username,
                reason.as_str()
            );
        }
    }
    ctx.db.close().await;
    Ok(())
}
