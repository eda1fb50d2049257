//! Outgoing mail. Every message is first stored in the `mail_outbox` table
//! (inside the transaction of the action that caused it), then delivered:
//! over SMTP when `[mail]` is configured, otherwise as an `.eml` file in
//! `<data-dir>/outbox/`. Failed deliveries are retried with doubling delays
//! by the server's worker, so a mail server that is down loses nothing.
//! A delivered message's body is cleared from the database, since it may
//! carry a one-time link.

use crate::config::{MailConfig, MailSecurity};
use crate::db::Db;
use crate::error::{Error, Result};
use crate::fsutil;
use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::path::PathBuf;
use std::time::Duration;

/// A mail to send. Callers must never put a password, key or certificate in it.
#[derive(Debug, Clone)]
pub struct OutgoingMail {
    pub to: String,
    pub subject: String,
    pub body: String,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryReport {
    pub delivered: usize,
    pub failed: usize,
}

pub struct Mailer {
    db: Db,
    outbox_dir: PathBuf,
    from: Mailbox,
    smtp: Option<Smtp>,
}

struct Smtp {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    retry_initial_secs: i64,
    retry_max_secs: i64,
    timeout_secs: i64,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("outbox_dir", &self.outbox_dir)
            .field("from", &self.from.to_string())
            .field("smtp", &self.smtp.is_some())
            .finish()
    }
}

/// Without `[mail]`, files are "retried" this often (a full disk, say).
const FILE_RETRY_SECS: i64 = 30;

impl Mailer {
    /// `public_host` names the default sender when `[mail]` is absent.
    pub fn new(db: Db, outbox_dir: PathBuf, config: Option<&MailConfig>, public_host: &str) -> Result<Self> {
        let from_text = config.map_or_else(
            || format!("Sightline <sightline@{public_host}>"),
            |c| c.from.clone(),
        );
        let from: Mailbox = from_text
            .parse()
            .map_err(|e| Error::Config(format!("mail.from {from_text:?}: {e}")))?;
        let smtp = config.map(build_transport).transpose()?;
        Ok(Self {
            db,
            outbox_dir,
            from,
            smtp,
        })
    }

    /// Stores a mail for delivery, inside the caller's transaction.
    pub async fn enqueue(
        &self,
        conn: &mut sqlx::AnyConnection,
        now: i64,
        mail: &OutgoingMail,
    ) -> Result<i64> {
        let to: Mailbox = mail
            .to
            .parse()
            .map_err(|e| Error::invalid("e-mail address", format!("{:?}: {e}", mail.to)))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(&mail.subject)
            // Spam filters distrust mail without a Message-ID; this host names it.
            .message_id(None)
            .header(ContentType::TEXT_PLAIN)
            .body(mail.body.clone())
            .map_err(|e| Error::invalid("mail", e.to_string()))?;
        let id = sqlx::query_scalar(
            "INSERT INTO mail_outbox (recipient, subject, message, created_at, next_attempt_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(&mail.to)
        .bind(&mail.subject)
        .bind(message.formatted())
        .bind(now)
        .bind(now)
        .fetch_one(conn)
        .await?;
        Ok(id)
    }

    /// Delivers every mail that is due. Each is claimed first, so the
    /// command line and a running server never send the same one twice.
    pub async fn deliver_due(&self, started_at: i64) -> Result<DeliveryReport> {
        let now = started_at;
        let due: Vec<(i64, String, Vec<u8>, i64)> = sqlx::query_as(
            "SELECT id, recipient, message, attempts FROM mail_outbox
             WHERE sent_at IS NULL AND next_attempt_at <= $1 ORDER BY id LIMIT 50",
        )
        .bind(now)
        .fetch_all(&self.db)
        .await?;
        let mut report = DeliveryReport::default();
        let started = std::time::Instant::now();
        for (id, recipient, message, attempts) in due {
            // Each mail's own time: earlier sends in this pass may have been slow.
            let now = started_at + i64::try_from(started.elapsed().as_secs()).unwrap_or(0);
            let lease = now
                + self
                    .smtp
                    .as_ref()
                    .map_or(FILE_RETRY_SECS, |s| s.timeout_secs + 30);
            let claimed = sqlx::query(
                "UPDATE mail_outbox SET next_attempt_at = $1, attempts = attempts + 1
                 WHERE id = $2 AND sent_at IS NULL AND next_attempt_at <= $3",
            )
            .bind(lease)
            .bind(id)
            .bind(now)
            .execute(&self.db)
            .await?;
            if claimed.rows_affected() != 1 {
                continue;
            }
            match self.deliver(id, &recipient, &message, now).await {
                Ok(()) => {
                    sqlx::query(
                        "UPDATE mail_outbox SET sent_at = $1, message = $2, last_error = NULL WHERE id = $3",
                    )
                    .bind(now)
                    .bind(Vec::<u8>::new())
                    .bind(id)
                    .execute(&self.db)
                    .await?;
                    report.delivered += 1;
                }
                Err(error) => {
                    let (initial, max) = self
                        .smtp
                        .as_ref()
                        .map_or((FILE_RETRY_SECS, FILE_RETRY_SECS), |s| {
                            (s.retry_initial_secs, s.retry_max_secs)
                        });
                    let delay = (initial << attempts.clamp(0, 20)).min(max);
                    tracing::warn!(mail = id, %error, retry_in_secs = delay, "mail delivery failed");
                    sqlx::query("UPDATE mail_outbox SET next_attempt_at = $1, last_error = $2 WHERE id = $3")
                        .bind(now + delay)
                        .bind(error.to_string())
                        .bind(id)
                        .execute(&self.db)
                        .await?;
                    report.failed += 1;
                }
            }
        }
        Ok(report)
    }

    async fn deliver(&self, id: i64, recipient: &str, message: &[u8], now: i64) -> Result<()> {
        match &self.smtp {
            Some(smtp) => {
                let to: Address = recipient
                    .parse()
                    .map_err(|e| Error::invalid("e-mail address", format!("{recipient:?}: {e}")))?;
                let envelope = lettre::address::Envelope::new(Some(self.from.email.clone()), vec![to])
                    .map_err(|e| Error::invalid("mail envelope", e.to_string()))?;
                // One bounded attempt: shorter than the claim's lease, so no
                // other sender picks the mail up while this one still runs.
                let limit = std::time::Duration::from_secs(u64::try_from(smtp.timeout_secs).unwrap_or(20));
                tokio::time::timeout(limit, smtp.transport.send_raw(&envelope, message))
                    .await
                    .map_err(|_| Error::Mail("the mail server did not finish in time".into()))?
                    .map_err(|e| Error::Mail(e.to_string()))?;
                tracing::info!(mail = id, "mail delivered over SMTP");
                Ok(())
            }
            None => {
                let stamp = time::OffsetDateTime::from_unix_timestamp(now)
                    .map_err(|e| Error::invalid("time", e.to_string()))?;
                let name = format!(
                    "{:04}{:02}{:02}T{:02}{:02}{:02}Z-{id:06}.eml",
                    stamp.year(),
                    u8::from(stamp.month()),
                    stamp.day(),
                    stamp.hour(),
                    stamp.minute(),
                    stamp.second()
                );
                fsutil::create_private_dir(&self.outbox_dir)?;
                // The file holds a one-time link: readable by the server's user only.
                fsutil::write_private(&self.outbox_dir.join(&name), message)?;
                tracing::info!(mail = id, file = %name, "mail written to the outbox folder");
                Ok(())
            }
        }
    }

    /// Delivers due mail every second until the process ends.
    pub fn spawn_worker(
        self: std::sync::Arc<Self>,
        clock: crate::clock::Clock,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                if let Err(error) = self.deliver_due(clock.now()).await {
                    tracing::warn!(%error, "mail worker pass failed");
                }
            }
        })
    }
}

/// Mails waiting for delivery, and how many of those failed their last
/// attempt (for the metrics).
pub async fn queue_depth(db: &Db) -> Result<(i64, i64)> {
    let (queued, failing): (i64, i64) =
        sqlx::query_as("SELECT COUNT(*), COUNT(last_error) FROM mail_outbox WHERE sent_at IS NULL")
            .fetch_one(db)
            .await?;
    Ok((queued, failing))
}

fn build_transport(config: &MailConfig) -> Result<Smtp> {
    let builder = match config.security {
        MailSecurity::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&config.host),
        MailSecurity::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&config.host),
        MailSecurity::None => Ok(AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(
            &config.host,
        )),
    }
    .map_err(|e| Error::Config(format!("mail.host {:?}: {e}", config.host)))?;
    let mut builder = builder
        .port(config.port)
        .timeout(Some(Duration::from_secs(config.timeout_secs)));
    let username = secret_setting(config.username_env.as_deref(), config.username_file.as_deref())?;
    let password = secret_setting(config.password_env.as_deref(), config.password_file.as_deref())?;
    if let (Some(username), Some(password)) = (username, password) {
        builder = builder.credentials(Credentials::new(username, password));
    }
    Ok(Smtp {
        transport: builder.build(),
        retry_initial_secs: i64::try_from(config.retry_initial_secs).unwrap_or(30),
        retry_max_secs: i64::try_from(config.retry_max_secs).unwrap_or(3600),
        timeout_secs: i64::try_from(config.timeout_secs).unwrap_or(20),
    })
}

/// Reads a credential from an environment variable or the first line of a
/// file; the value itself never appears in errors.
fn secret_setting(env: Option<&str>, file: Option<&std::path::Path>) -> Result<Option<String>> {
    if let Some(name) = env {
        return match std::env::var(name) {
            Ok(value) => Ok(Some(value)),
            Err(_) => Err(Error::Config(format!(
                "environment variable {name} (named in [mail]) is not set"
            ))),
        };
    }
    if let Some(path) = file {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io("reading", path, e))?;
        return Ok(text.lines().next().map(str::to_owned));
    }
    Ok(None)
}
