//! Wire types of the Sightline HTTP API.
//!
//! Both the server and the desktop client speak these types, so a change here
//! is a change of the protocol. This crate does no I/O and depends on no other
//! workspace crate.

pub mod sse;

use serde::{Deserialize, Serialize};
use std::fmt;

/// A string that must never be shown: its `Debug` output is redacted so that
/// a request logged by accident cannot leak a password, code or token.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself; callers name the exposure explicitly.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

/// `POST /native/login`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoginRequest {
    pub username: String,
    pub password: Secret,
}

/// The answer to a correct password: a short-lived challenge for the second
/// factor, and on first login the TOTP enrolment to show the user.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoginResponse {
    pub challenge: Secret,
    pub expires_in: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enrollment: Option<TotpEnrollment>,
}

#[derive(Clone, Serialize, Deserialize)]
pub struct TotpEnrollment {
    /// `otpauth://totp/...` with the secret; shown as a QR code and as text.
    pub otpauth_uri: String,
    /// The same URI as an SVG QR code.
    pub qr_svg: String,
}

impl fmt::Debug for TotpEnrollment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TotpEnrollment").finish_non_exhaustive()
    }
}

/// `POST /native/verify-2fa`. The code is a 6-digit TOTP code or a recovery code.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VerifyTwoFactorRequest {
    pub challenge: Secret,
    pub code: Secret,
}

/// Tokens handed out after the second factor and on refresh.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenResponse {
    pub access_token: Secret,
    pub token_type: String,
    pub expires_in: u64,
    pub refresh_token: Secret,
    /// Present once: right after TOTP enrolment is confirmed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_codes: Option<Vec<Secret>>,
    /// What the administrator requires of the desktop app.
    #[serde(default)]
    pub policy: ClientPolicy,
}

/// The administrator's rules for the desktop app, sent with every token
/// and with `/native/me`, so a change reaches running apps within a
/// connection check.
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientPolicy {
    /// Every picture and text is redacted before it is sent, with every
    /// default category, and nothing may be sent unredacted.
    #[serde(default)]
    pub require_redaction: bool,
}

/// `POST /native/refresh`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RefreshRequest {
    pub refresh_token: Secret,
}

/// `POST /native/renew-certificate`: a signing request for a key the
/// device made itself (ECDSA P-256, PEM `CERTIFICATE REQUEST`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RenewCertificateRequest {
    pub csr: String,
}

/// The renewed certificate for the device's new key.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RenewCertificateResponse {
    /// PEM certificate, same user and device, fresh validity.
    pub certificate: String,
    /// PEM of the CA that issued it.
    pub ca: String,
    /// Unix seconds.
    pub not_after: i64,
}

/// `GET /native/me`.
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeResponse {
    pub username: String,
    pub email: String,
    /// Lower-case hex of the serial of the certificate on this connection.
    pub certificate_serial: String,
    /// Unix seconds.
    pub token_expires_at: i64,
    #[serde(default)]
    pub policy: ClientPolicy,
}

/// What a mode does with a request.
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModeKind {
    /// A question about an image (and text), answered by a language model.
    Chat,
    /// The text in an image, read locally.
    Ocr,
    /// A replacement for the user's text.
    Rewrite,
}

impl ModeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Chat => "chat",
            Self::Ocr => "ocr",
            Self::Rewrite => "rewrite",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "chat" => Some(Self::Chat),
            "ocr" => Some(Self::Ocr),
            "rewrite" => Some(Self::Rewrite),
            _ => None,
        }
    }
}

/// `GET /native/modes`: one entry. Prompts and providers stay on the server.
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModeSummary {
    /// Stable identifier; send it back as `mode`.
    pub id: String,
    pub name: String,
    pub description: String,
    pub kind: ModeKind,
}

/// Token counts reported by the model provider (zero for local OCR).
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
}

/// The JSON answer of `/native/analyze` and `/native/rewrite`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompletionResponse {
    pub text: String,
    pub usage: Usage,
}

/// `POST /native/rewrite`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RewriteRequest {
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instruction: Option<String>,
    pub mode: String,
}

/// One server-sent event of a streamed answer: `event: delta | done | error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamEvent {
    Delta { text: String },
    Done { usage: Usage },
    Error { code: ErrorCode, message: String },
}

#[derive(Serialize, Deserialize)]
struct DeltaData {
    text: String,
}

#[derive(Serialize, Deserialize)]
struct DoneData {
    usage: Usage,
}

impl StreamEvent {
    /// The SSE event name.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Delta { .. } => "delta",
            Self::Done { .. } => "done",
            Self::Error { .. } => "error",
        }
    }

    /// The SSE `data:` payload (one line of JSON).
    pub fn data(&self) -> String {
        let json = match self {
            Self::Delta { text } => serde_json::to_string(&DeltaData { text: text.clone() }),
            Self::Done { usage } => serde_json::to_string(&DoneData { usage: *usage }),
            Self::Error { code, message } => serde_json::to_string(&ErrorDetail {
                code: *code,
                message: message.clone(),
            }),
        };
        json.unwrap_or_default()
    }

    /// Reads an event back from its name and data; `None` for unknown events.
    pub fn parse(name: &str, data: &str) -> Option<Self> {
        match name {
            "delta" => serde_json::from_str::<DeltaData>(data)
                .ok()
                .map(|d| Self::Delta { text: d.text }),
            "done" => serde_json::from_str::<DoneData>(data)
                .ok()
                .map(|d| Self::Done { usage: d.usage }),
            "error" => serde_json::from_str::<ErrorDetail>(data)
                .ok()
                .map(|e| Self::Error {
                    code: e.code,
                    message: e.message,
                }),
            _ => None,
        }
    }
}

/// `GET /healthz`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Health {
    pub status: String,
}

/// The body of every error answer: `{"error": {"code", "message"}}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorDetail {
    pub code: ErrorCode,
    pub message: String,
}

/// Stable, machine-readable error codes. Clients match on these; the
/// human-readable message may change.
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    ClientCertificateRequired,
    CertificateRevoked,
    CertificateExpired,
    CertificateUserMismatch,
    /// A renewal's certificate signing request cannot be used.
    InvalidCsr,
    /// A renewal's request reuses a key that already had a certificate.
    KeyReused,
    /// An admin turned renewal off for this account.
    RenewalDisabled,
    InvalidCredentials,
    AccountDisabled,
    NotAnAdmin,
    InvalidChallenge,
    InvalidCode,
    TotpReused,
    TooManyAttempts,
    MissingToken,
    InvalidToken,
    TokenExpired,
    TokenBindingMismatch,
    InvalidRefreshToken,
    RefreshTokenReused,
    InvalidJson,
    InvalidRequest,
    InvalidEmail,
    RateLimited,
    MissingField,
    EmptyImage,
    UnsupportedImageType,
    InvalidImage,
    ImageTooLarge,
    ImageDimensionsTooLarge,
    ContextTooLarge,
    TextTooLarge,
    UnknownMode,
    WrongModeKind,
    ProviderUnavailable,
    ProviderTimeout,
    ProviderError,
    UnsupportedMediaType,
    PayloadTooLarge,
    NotFound,
    MethodNotAllowed,
    /// Someone else changed the thing first (two admins deciding one request).
    Conflict,
    /// The server holds as many connections as it is allowed (in all, or
    /// from this address); try again shortly.
    TooManyConnections,
    /// `/readyz`: a dependency (the database, the signing keys) is not usable.
    NotReady,
    Internal,
    /// A code this client version does not know yet.
    #[serde(other)]
    Unknown,
}

impl ErrorCode {
    /// The snake_case name as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientCertificateRequired => "client_certificate_required",
            Self::CertificateRevoked => "certificate_revoked",
            Self::CertificateExpired => "certificate_expired",
            Self::InvalidCsr => "invalid_csr",
            Self::KeyReused => "key_reused",
            Self::RenewalDisabled => "renewal_disabled",
            Self::CertificateUserMismatch => "certificate_user_mismatch",
            Self::InvalidCredentials => "invalid_credentials",
            Self::AccountDisabled => "account_disabled",
            Self::NotAnAdmin => "not_an_admin",
            Self::InvalidChallenge => "invalid_challenge",
            Self::InvalidCode => "invalid_code",
            Self::TotpReused => "totp_reused",
            Self::TooManyAttempts => "too_many_attempts",
            Self::MissingToken => "missing_token",
            Self::InvalidToken => "invalid_token",
            Self::TokenExpired => "token_expired",
            Self::TokenBindingMismatch => "token_binding_mismatch",
            Self::InvalidRefreshToken => "invalid_refresh_token",
            Self::RefreshTokenReused => "refresh_token_reused",
            Self::InvalidJson => "invalid_json",
            Self::InvalidRequest => "invalid_request",
            Self::InvalidEmail => "invalid_email",
            Self::RateLimited => "rate_limited",
            Self::MissingField => "missing_field",
            Self::EmptyImage => "empty_image",
            Self::UnsupportedImageType => "unsupported_image_type",
            Self::InvalidImage => "invalid_image",
            Self::ImageTooLarge => "image_too_large",
            Self::ImageDimensionsTooLarge => "image_dimensions_too_large",
            Self::ContextTooLarge => "context_too_large",
            Self::TextTooLarge => "text_too_large",
            Self::UnknownMode => "unknown_mode",
            Self::WrongModeKind => "wrong_mode_kind",
            Self::ProviderUnavailable => "provider_unavailable",
            Self::ProviderTimeout => "provider_timeout",
            Self::ProviderError => "provider_error",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::PayloadTooLarge => "payload_too_large",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::Conflict => "conflict",
            Self::TooManyConnections => "too_many_connections",
            Self::NotReady => "not_ready",
            Self::Internal => "internal",
            Self::Unknown => "unknown",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_serialize_as_their_names() {
        for code in [
            ErrorCode::ClientCertificateRequired,
            ErrorCode::TokenBindingMismatch,
            ErrorCode::TotpReused,
            ErrorCode::InvalidJson,
        ] {
            let json = serde_json::to_string(&code).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
        }
    }

    #[test]
    fn unknown_codes_parse_as_unknown() {
        let code: ErrorCode = serde_json::from_str("\"from_the_future\"").unwrap_or(ErrorCode::Internal);
        assert_eq!(code, ErrorCode::Unknown);
    }

    #[test]
    fn stream_events_round_trip() {
        for event in [
            StreamEvent::Delta {
                text: "Hello \"world\"\n".into(),
            },
            StreamEvent::Done {
                usage: Usage {
                    prompt_tokens: 3,
                    completion_tokens: 4,
                    total_tokens: 7,
                },
            },
            StreamEvent::Error {
                code: ErrorCode::ProviderTimeout,
                message: "slow".into(),
            },
        ] {
            let data = event.data();
            assert!(!data.contains('\n'), "data must stay on one line");
            assert_eq!(StreamEvent::parse(event.name(), &data), Some(event));
        }
        assert_eq!(StreamEvent::parse("ping", "{}"), None);
    }

    #[test]
    fn secrets_are_redacted_in_debug() {
        let request = LoginRequest {
            username: "ada".into(),
            password: Secret::new("hunter2hunter2"),
        };
        let shown = format!("{request:?}");
        assert!(shown.contains("ada"));
        assert!(!shown.contains("hunter2"));
    }
}
