//! [`ApiError`]: what an HTTP client sees, `{"error": {"code", "message"}}`
//! with a status. The one place where the domain's [`Error`] becomes a
//! status and a stable code; the internal cause of a 500 is logged, never
//! sent.

use crate::error::Error;
use crate::imagecheck::Rejection;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use sightline_proto::{ErrorBody, ErrorCode, ErrorDetail};

/// An error answer of the HTTP API.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: ErrorCode,
    pub message: String,
    /// Seconds for a `Retry-After` header (429 answers).
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// A request whose body or parts have the wrong shape (checked at the
    /// edge, before any domain function runs).
    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::InvalidRequest,
            message,
        )
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Internal,
            "Internal server error.",
        )
    }
}

/// The status and stable code of each refusal. Failures of the server
/// itself (and, should one be added without a line here, an unmapped
/// refusal) are `None`: a logged, generic 500 that shows nothing.
fn status_and_code(error: &Error) -> Option<(StatusCode, ErrorCode)> {
    use StatusCode as S;
    if error.is_failure() {
        return None;
    }
    Some(match error {
        Error::Invalid { .. } | Error::TooLong(_) => (S::UNPROCESSABLE_ENTITY, ErrorCode::InvalidRequest),
        Error::NotFound(_) => (S::NOT_FOUND, ErrorCode::NotFound),
        Error::Conflict(_) => (S::CONFLICT, ErrorCode::Conflict),
        Error::TooManyAttempts { .. } => (S::TOO_MANY_REQUESTS, ErrorCode::TooManyAttempts),
        Error::RateLimited { .. } => (S::TOO_MANY_REQUESTS, ErrorCode::RateLimited),
        Error::TooManyConnections => (S::SERVICE_UNAVAILABLE, ErrorCode::TooManyConnections),
        Error::NotReady(_) => (S::SERVICE_UNAVAILABLE, ErrorCode::NotReady),
        Error::ClientCertificateRequired => (S::UNAUTHORIZED, ErrorCode::ClientCertificateRequired),
        Error::CertificateRevoked => (S::FORBIDDEN, ErrorCode::CertificateRevoked),
        Error::CertificateExpired => (S::FORBIDDEN, ErrorCode::CertificateExpired),
        Error::InvalidCsr(_) => (S::UNPROCESSABLE_ENTITY, ErrorCode::InvalidCsr),
        Error::KeyReused => (S::UNPROCESSABLE_ENTITY, ErrorCode::KeyReused),
        Error::RenewalDisabled => (S::FORBIDDEN, ErrorCode::RenewalDisabled),
        Error::CertificateUserMismatch => (S::FORBIDDEN, ErrorCode::CertificateUserMismatch),
        Error::InvalidCredentials => (S::UNAUTHORIZED, ErrorCode::InvalidCredentials),
        Error::AccountDisabled => (S::FORBIDDEN, ErrorCode::AccountDisabled),
        Error::NotAnAdmin => (S::FORBIDDEN, ErrorCode::NotAnAdmin),
        Error::InvalidChallenge => (S::UNAUTHORIZED, ErrorCode::InvalidChallenge),
        Error::InvalidCode => (S::UNAUTHORIZED, ErrorCode::InvalidCode),
        Error::TotpReused => (S::UNAUTHORIZED, ErrorCode::TotpReused),
        Error::InvalidToken => (S::UNAUTHORIZED, ErrorCode::InvalidToken),
        Error::TokenExpired => (S::UNAUTHORIZED, ErrorCode::TokenExpired),
        Error::TokenBindingMismatch => (S::UNAUTHORIZED, ErrorCode::TokenBindingMismatch),
        Error::InvalidRefreshToken => (S::UNAUTHORIZED, ErrorCode::InvalidRefreshToken),
        Error::RefreshTokenReused => (S::UNAUTHORIZED, ErrorCode::RefreshTokenReused),
        Error::UnknownMode(_) => (S::UNPROCESSABLE_ENTITY, ErrorCode::UnknownMode),
        Error::WrongModeKind { .. } => (S::UNPROCESSABLE_ENTITY, ErrorCode::WrongModeKind),
        Error::ProviderUnavailable(_) => (S::SERVICE_UNAVAILABLE, ErrorCode::ProviderUnavailable),
        Error::Image(rejection) => match rejection {
            Rejection::Empty => (S::UNPROCESSABLE_ENTITY, ErrorCode::EmptyImage),
            Rejection::Unsupported => (S::UNSUPPORTED_MEDIA_TYPE, ErrorCode::UnsupportedImageType),
            Rejection::Invalid => (S::UNPROCESSABLE_ENTITY, ErrorCode::InvalidImage),
            Rejection::TooLarge { .. } => (S::UNPROCESSABLE_ENTITY, ErrorCode::ImageDimensionsTooLarge),
        },
        _ => return None,
    })
}

impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        let Some((status, code)) = status_and_code(&error) else {
            // The cause may name paths or SQL; log it, answer generically.
            tracing::error!(error = %error, "request failed");
            return Self::internal();
        };
        let retry_after = match error {
            Error::TooManyAttempts { retry_after } | Error::RateLimited { retry_after, .. } => {
                Some(retry_after.max(1))
            }
            // Places free up as connections close; a few seconds is usual.
            Error::TooManyConnections => Some(5),
            _ => None,
        };
        Self {
            status,
            code,
            message: error.to_string(),
            retry_after,
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        ApiError::from(self).into_response()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        tracing::debug!(status = self.status.as_u16(), code = %self.code, "request refused");
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message,
            },
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_keep_their_words_and_failures_say_nothing() {
        let locked = ApiError::from(Error::TooManyAttempts { retry_after: 0 });
        assert_eq!(locked.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(locked.code, ErrorCode::TooManyAttempts);
        assert_eq!(locked.retry_after, Some(1));
        let unsupported = ApiError::from(Error::Image(Rejection::Unsupported));
        assert_eq!(unsupported.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert_eq!(unsupported.message, "The image is not PNG, JPEG or WebP.");
        let failure = ApiError::from(Error::Config("/secret/path".into()));
        assert_eq!(failure.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!failure.message.contains("secret"));
        // Every failure is a 500 and every refusal is not.
        for error in [
            Error::Mail("x".into()),
            Error::PasswordHash("x".into()),
            Error::DataDirMissing("x".into()),
        ] {
            assert!(error.is_failure());
            assert!(status_and_code(&error).is_none());
        }
        assert!(status_and_code(&Error::InvalidCode).is_some());
    }
}
