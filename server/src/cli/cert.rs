//! `cert`: issue, list and revoke client certificates; whether a user's
//! devices may renew theirs.

use clap::Subcommand;
use sightline_server::audit::Actor;
use sightline_server::certificates;
use sightline_server::clock::format_time;
use sightline_server::datadir::DataDir;
use sightline_server::server_cert;
use sightline_server::users;
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
        #[arg(long, env = "SIGHTLINE_CLIENT_VALIDITY_DAYS", conflicts_with = "validity")]
        validity_days: Option<u32>,
        /// Validity with its unit: 90s, 10m, 12h or 30d (at least a minute).
        #[arg(long, value_parser = parse_validity)]
        validity: Option<time::Duration>,
    },
    /// Show or set whether a user's devices renew their certificates.
    RenewPolicy {
        user: String,
        /// `allow` or `deny`; without it, the current policy is shown.
        #[arg(value_parser = ["allow", "deny"])]
        policy: Option<String>,
    },
    /// List certificates.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Renew the server's own TLS certificate now (same names); running
    /// servers serve it to new connections within ten seconds, no restart.
    RotateServer {
        /// Validity in days (config: certs.server_validity_days).
        #[arg(long)]
        validity_days: Option<u32>,
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
            validity,
        } => {
            let lifetime = validity.unwrap_or_else(|| {
                time::Duration::days(i64::from(
                    validity_days.unwrap_or(ctx.config.certs.client_validity_days),
                ))
            });
            let (user, issued) = certificates::issue(&ctx, &user, lifetime, Actor::Cli).await?;
            let paths = certificates::write_pem_bundle(&out, &issued, &ctx.ca_pem)?;
            println!(
                "Issued certificate {} for {} <{}>, valid until {}",
                issued.info.serial_hex,
                user.username,
                user.email,
                format_time(issued.info.not_after.unix_timestamp())
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
        CertCommand::RenewPolicy { user, policy } => {
            if let Some(policy) = policy {
                users::set_renewal(&ctx, &user, policy == "allow", Actor::Cli).await?;
            }
            let user = users::require(&ctx, &user).await?;
            println!(
                "Certificate renewal for {}: {}",
                user.username,
                if user.renewal_disabled { "deny" } else { "allow" }
            );
        }
        CertCommand::RotateServer { validity_days } => {
            if let Some(chain) = &ctx.config.tls.certificate_file {
                anyhow::bail!(
                    "the server presents the operator's chain {} ([tls] in config.toml); renew that with the tool that made it",
                    chain.display()
                );
            }
            let days = validity_days.unwrap_or(ctx.config.certs.server_validity_days);
            if days == 0 {
                anyhow::bail!("--validity-days must be at least 1");
            }
            let info = server_cert::rotate(dir, &ctx.ca, days, ctx.clock.now_datetime())?;
            println!(
                "New server certificate {} valid until {}; running servers serve it within ten seconds.",
                info.serial_hex,
                format_time(info.not_after.unix_timestamp())
            );
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

/// A lifetime such as `90s`, `10m`, `12h` or `30d`.
fn parse_validity(text: &str) -> Result<time::Duration, String> {
    let text = text.trim();
    let split = text.len().saturating_sub(1);
    let (number, unit) = (text.get(..split).unwrap_or(""), text.get(split..).unwrap_or(""));
    let count: i64 = number
        .parse()
        .ok()
        .filter(|count| *count > 0)
        .ok_or_else(|| format!("{text:?}: a positive number then a unit (s, m, h or d), such as 10m"))?;
    let seconds_per = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("{text:?}: the unit must be s, m, h or d")),
    };
    count
        .checked_mul(seconds_per)
        .map(time::Duration::seconds)
        .ok_or_else(|| format!("{text:?} is too long"))
}

#[cfg(test)]
mod tests {
    use super::parse_validity;

    #[test]
    fn validity_takes_each_unit_and_refuses_the_rest() {
        assert_eq!(parse_validity("90s"), Ok(time::Duration::seconds(90)));
        assert_eq!(parse_validity("10m"), Ok(time::Duration::minutes(10)));
        assert_eq!(parse_validity("12h"), Ok(time::Duration::hours(12)));
        assert_eq!(parse_validity("30d"), Ok(time::Duration::days(30)));
        for bad in ["", "m", "10", "10w", "-5m", "0m", "1.5h", "99999999999999999d"] {
            assert!(parse_validity(bad).is_err(), "{bad:?}");
        }
    }
}
