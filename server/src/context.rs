//! [`Context`]: what the domain's operations may use — the database, the
//! clock, the configuration, the mailer, the CA, the password hasher and
//! the session cache —
//! and nothing of the serving process (token keys, providers, throttles,
//! connections). The command line builds one from the data directory; the
//! API and the admin pages hold one inside their state; all three pass it
//! to the same functions, so an approval from either leaves the same trail.

use crate::auth::password::Hasher;
use crate::clock::Clock;
use crate::config::Config;
use crate::db::{Backend, Db};
use crate::error::Result;
use crate::login::SessionCache;
use crate::mail::Mailer;
use sightline_certs::CertificateAuthority;
use std::ops::Deref;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

#[derive(Debug, Clone)]
pub struct Context(Arc<Inner>);

#[derive(Debug)]
pub struct Inner {
    pub db: Db,
    pub clock: Clock,
    pub config: Config,
    pub ca: CertificateAuthority,
    /// The CA certificate as `init` wrote it, published byte for byte.
    pub ca_pem: String,
    outbox_dir: PathBuf,
    /// Made on first use: most subcommands never send mail, and need not
    /// read SMTP credentials.
    mailer: OnceLock<Arc<Mailer>>,
    pub hasher: Hasher,
    /// Sessions found valid, kept briefly (PostgreSQL only); whatever
    /// changes a user's access forgets theirs here and announces it.
    pub sessions: Arc<SessionCache>,
}

impl Deref for Context {
    type Target = Inner;

    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl Context {
    pub fn new(
        db: Db,
        config: Config,
        ca: CertificateAuthority,
        outbox_dir: PathBuf,
        clock: Clock,
    ) -> Result<Self> {
        let crl_url = format!(
            "{}/public/crl.pem",
            config.server.public_url.trim_end_matches('/')
        );
        Ok(Self(Arc::new(Inner {
            clock,
            config,
            ca_pem: ca.cert_pem(),
            ca: ca.with_crl_url(crl_url),
            outbox_dir,
            mailer: OnceLock::new(),
            hasher: Hasher::default(),
            sessions: Arc::new(SessionCache::new(crate::db::backend(&db) == Backend::Postgres)),
            db,
        })))
    }

    /// The outbox, made from `[mail]` on first use; a bad mail
    /// configuration is reported here (and by `serve` at start).
    pub fn mailer(&self) -> Result<&Arc<Mailer>> {
        if let Some(mailer) = self.mailer.get() {
            return Ok(mailer);
        }
        let mailer = Arc::new(Mailer::new(
            self.db.clone(),
            self.outbox_dir.clone(),
            self.config.mail.as_ref(),
            &public_host(&self.config.server.public_url),
        )?);
        // Two first uses at once make two equal mailers; one is kept.
        Ok(self.mailer.get_or_init(|| mailer))
    }

    /// Tries to deliver queued mail right away; failures stay queued for
    /// the server's worker.
    pub async fn deliver_mail_now(&self) {
        let delivered = match self.mailer() {
            Ok(mailer) => mailer.deliver_due(self.clock.now()).await,
            Err(error) => Err(error),
        };
        if let Err(error) = delivered {
            tracing::warn!(%error, "mail stays queued");
        }
    }
}

/// The host part of the public URL (for the default mail sender).
pub fn public_host(public_url: &str) -> String {
    public_url
        .trim_start_matches("https://")
        .split(['/', ':'])
        .next()
        .filter(|host| !host.is_empty())
        .unwrap_or("localhost")
        .to_owned()
}

/// A context over a fresh database and CA in a temporary directory, for
/// the unit tests of the domain modules.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;
    use sightline_certs::{Serial, Validity};

    pub(crate) async fn context(dir: &std::path::Path, clock: Clock) -> Context {
        let db = crate::db::testing::sqlite(dir).await;
        let now = time::OffsetDateTime::now_utc();
        let ca =
            CertificateAuthority::create("t", Validity::days_from(now, 10), Serial::from_random([1; 16]))
                .unwrap();
        Context::new(db, Config::default(), ca, dir.join("outbox"), clock).unwrap()
    }
}
