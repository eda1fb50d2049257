//! [`Error`]: what went wrong in the server's own words. The domain (login,
//! access requests, download links, analysis, …) returns it whatever asked:
//! the command line prints it, the admin pages turn it into page text, and
//! the API maps it to a status and a stable code in one place,
//! `http/error.rs`. Nothing in the domain knows HTTP.
//!
//! Two kinds of variants live here. Refusals (a wrong code, a revoked
//! certificate, an unknown mode) are the user's to fix; their `Display`
//! text is written to be shown to that user. Failures (the database, a
//! file, signing) are the operator's; they are logged and never shown.

use crate::imagecheck;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    // ------------------------------------------------------------ failures
    #[error("database error: {0}")]
    Database(sqlx::Error),
    #[error("database migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error(transparent)]
    Certificate(#[from] sightline_certs::CertError),
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("data directory {} already exists and is not empty; init changed nothing (choose another --data-dir, or remove this one first)", .0.display())]
    DataDirExists(PathBuf),
    #[error("data directory {} is not initialised (run `sightline-server init --data-dir {}` first)", .0.display(), .0.display())]
    DataDirMissing(PathBuf),
    #[error("configuration: {0}")]
    Config(String),
    #[error("TLS setup: {0}")]
    Tls(#[from] rustls::Error),
    #[error("password hashing failed: {0}")]
    PasswordHash(String),
    #[error("token signing failed: {0}")]
    TokenSigning(#[from] jsonwebtoken::errors::Error),
    #[error("mail delivery failed: {0}")]
    Mail(String),
    #[error("a stored package could not be sealed or opened")]
    Sealing,
    #[error("background task failed: {0}")]
    Join(#[from] tokio::task::JoinError),

    // ------------------------------------------------------------ refusals
    #[error("invalid {what}: {reason}")]
    Invalid { what: &'static str, reason: String },
    /// A field longer than the server accepts (`what` names it).
    #[error("{0} is too long")]
    TooLong(&'static str),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0} already exists")]
    Conflict(String),

    /// Too many failed attempts from this account or address; try again
    /// after `retry_after` seconds.
    #[error("Too many attempts; wait before trying again.")]
    TooManyAttempts { retry_after: u64 },
    /// A per-user allowance (requests per minute, requests at once) is used up.
    #[error("{reason}")]
    RateLimited { retry_after: u64, reason: &'static str },
    /// A connection cap (in all or per address) is reached.
    #[error("The server is serving as many connections as it allows; try again shortly.")]
    TooManyConnections,
    /// A dependency `/readyz` checks is not usable; says which, not why.
    #[error("Not ready: {0}.")]
    NotReady(&'static str),

    #[error("This endpoint needs a valid Sightline client certificate.")]
    ClientCertificateRequired,
    #[error("This client certificate has been revoked.")]
    CertificateRevoked,
    #[error("This client certificate has expired; ask for access again.")]
    CertificateExpired,
    /// A certificate signing request that cannot be used, and why.
    #[error("The certificate signing request is not valid: {0}.")]
    InvalidCsr(String),
    #[error("The certificate signing request reuses a key that already had a certificate; make a new key.")]
    KeyReused,
    #[error("Certificate renewal is turned off for this account; ask an administrator.")]
    RenewalDisabled,
    #[error("This certificate was issued to another user; log in with your own certificate.")]
    CertificateUserMismatch,
    #[error("Username or password is incorrect.")]
    InvalidCredentials,
    #[error("This account is disabled.")]
    AccountDisabled,
    #[error("This account is not an administrator.")]
    NotAnAdmin,
    #[error("The login has expired or was already completed; start again with your password.")]
    InvalidChallenge,
    #[error("The code is not correct.")]
    InvalidCode,
    #[error("This code has already been used; wait for the next one.")]
    TotpReused,
    #[error("The access token is not valid.")]
    InvalidToken,
    #[error("The access token has expired; refresh it.")]
    TokenExpired,
    #[error("This token belongs to another certificate.")]
    TokenBindingMismatch,
    #[error("The session has ended; log in again.")]
    InvalidRefreshToken,
    #[error("This refresh token was already used; the session has been ended for safety. Log in again.")]
    RefreshTokenReused,

    #[error("There is no mode {0:?}.")]
    UnknownMode(String),
    #[error("The mode {mode:?} is a {kind} mode; this request needs {wanted}.")]
    WrongModeKind {
        mode: String,
        kind: &'static str,
        wanted: String,
    },
    #[error("The provider of the mode {0:?} is not configured on this server.")]
    ProviderUnavailable(String),
    /// An uploaded image that cannot be analysed, and why.
    #[error("{}.", capitalised(&.0.to_string()))]
    Image(imagecheck::Rejection),
}

/// A uniqueness violation is two people making the same thing at the same
/// moment (on two instances, or one); the loser hears it as a conflict,
/// not a failure. Checks before each insert give the precise words; this
/// covers the race between check and insert.
impl From<sqlx::Error> for Error {
    fn from(error: sqlx::Error) -> Self {
        match error.as_database_error() {
            Some(database) if database.is_unique_violation() => {
                Self::Conflict("an entry with the same name or address (made at the same moment)".into())
            }
            _ => Self::Database(error),
        }
    }
}

impl Error {
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            action,
            path: path.into(),
            source,
        }
    }

    pub fn invalid(what: &'static str, reason: impl Into<String>) -> Self {
        Self::Invalid {
            what,
            reason: reason.into(),
        }
    }

    /// Whether this is a failure of the server itself rather than a refusal
    /// the user can act on: its text may name paths or SQL, so it is
    /// logged and never shown.
    ///
    /// Every variant is named here, so a new one cannot be added without
    /// deciding which kind it is.
    pub fn is_failure(&self) -> bool {
        match self {
            Self::Database(_)
            | Self::Migration(_)
            | Self::Certificate(_)
            | Self::Io { .. }
            | Self::DataDirExists(_)
            | Self::DataDirMissing(_)
            | Self::Config(_)
            | Self::Tls(_)
            | Self::PasswordHash(_)
            | Self::TokenSigning(_)
            | Self::Mail(_)
            | Self::Sealing
            | Self::Join(_) => true,
            Self::Invalid { .. }
            | Self::TooLong(_)
            | Self::NotFound(_)
            | Self::Conflict(_)
            | Self::TooManyAttempts { .. }
            | Self::RateLimited { .. }
            | Self::TooManyConnections
            | Self::NotReady(_)
            | Self::ClientCertificateRequired
            | Self::CertificateRevoked
            | Self::CertificateExpired
            | Self::InvalidCsr(_)
            | Self::KeyReused
            | Self::RenewalDisabled
            | Self::CertificateUserMismatch
            | Self::InvalidCredentials
            | Self::AccountDisabled
            | Self::NotAnAdmin
            | Self::InvalidChallenge
            | Self::InvalidCode
            | Self::TotpReused
            | Self::InvalidToken
            | Self::TokenExpired
            | Self::TokenBindingMismatch
            | Self::InvalidRefreshToken
            | Self::RefreshTokenReused
            | Self::UnknownMode(_)
            | Self::WrongModeKind { .. }
            | Self::ProviderUnavailable(_)
            | Self::Image(_) => false,
        }
    }
}

/// The first letter in upper case: refusals built from lower-case parts
/// read as sentences.
pub fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_read_as_sentences_and_failures_are_marked() {
        let image = Error::Image(imagecheck::Rejection::Empty);
        assert_eq!(image.to_string(), "The image is empty.");
        assert!(!image.is_failure());
        assert!(!Error::InvalidCode.is_failure());
        assert!(Error::Config("x".into()).is_failure());
        assert_eq!(
            Error::WrongModeKind {
                mode: "Ocr".into(),
                kind: "ocr",
                wanted: "chat".into()
            }
            .to_string(),
            "The mode \"Ocr\" is a ocr mode; this request needs chat."
        );
    }
}
