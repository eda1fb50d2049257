//! What can go wrong talking to the server, in the words the sidebar uses.

use serde::Serialize;
use sightline_proto::ErrorCode;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
// Adjacently tagged: `{"kind": "io", "detail": "..."}`; the text-carrying
// variants could not be written with an internal tag.
#[serde(tag = "kind", content = "detail", rename_all = "snake_case")]
pub enum ClientError {
    /// No TCP connection (server down, wrong address, no network).
    #[error("the server cannot be reached")]
    ServerUnreachable,
    /// The server did not accept our certificate (expired, foreign CA, ...).
    #[error("the server rejected this computer's certificate")]
    CertificateRejected,
    #[error("this computer's certificate has been revoked")]
    CertificateRevoked,
    #[error("this computer's certificate has expired")]
    CertificateExpired,
    /// The server's certificate is not signed by the CA we trust.
    #[error("the server's certificate is not trusted: {detail}")]
    ServerNotTrusted { detail: String },
    /// The session is over; the user must log in (again).
    #[error("please log in")]
    LoginNeeded,
    /// The server refused the request with a stable code.
    #[error("{message}")]
    Api {
        status: u16,
        code: ErrorCode,
        message: String,
        retry_after: Option<u64>,
    },
    #[error("invalid {what}: {detail}")]
    Invalid { what: String, detail: String },
    /// The server answered something this client does not understand.
    #[error("unexpected answer from the server: {0}")]
    Protocol(String),
    /// The screen could not be captured.
    #[error("the screen could not be captured: {0}")]
    Capture(String),
    /// The desktop has not let the app see the screen (GNOME on Wayland
    /// asks the user once).
    #[error("{0}")]
    ScreenAccess(crate::platform::access::ScreenAccess),
    /// Which window has the focus cannot be told in this session.
    #[error("the focused window cannot be told: {0}")]
    FocusUnknown(String),
    #[error("the clipboard is not available: {0}")]
    Clipboard(String),
    /// Nothing was typed into (or read from) another application.
    #[error("{0}")]
    Injection(String),
    /// The app is not set up yet (no server or certificate).
    #[error("set up the connection to your server first")]
    NotSetUp,
    /// A picture or text could not be checked for secrets, or the
    /// administrator's policy refused to send it unredacted; nothing left.
    #[error("{0}")]
    Redaction(String),
    #[error("{0}")]
    Io(String),
}

impl ClientError {
    pub fn invalid(what: &str, detail: impl Into<String>) -> Self {
        Self::Invalid {
            what: what.into(),
            detail: detail.into(),
        }
    }
}
