//! Extractors that say what a handler requires: [`ClientCert`] (a valid,
//! unrevoked client certificate on the connection), [`Session`] (that, plus
//! an access token bound to it), and [`ApiJson`] (a JSON body whose failures
//! map to the API's error codes).

use crate::certificates;
use crate::error::Error;
use crate::http::error::ApiError;
use crate::login;
use crate::state::AppState;
use crate::tls::{ConnInfo, PeerCertificate};
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use serde::de::DeserializeOwned;
use sightline_proto::ErrorCode;
use std::net::SocketAddr;
use std::sync::Arc;

impl<S: Send + Sync> FromRequestParts<S> for ConnInfo {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parts.extensions.get::<ConnInfo>().cloned().ok_or_else(|| {
            tracing::error!("request without connection info");
            ApiError::internal()
        })
    }
}

/// A verified, unrevoked client certificate issued by this server.
#[derive(Debug, Clone)]
pub struct ClientCert {
    pub peer: Arc<PeerCertificate>,
    pub user_id: i64,
    pub remote_addr: SocketAddr,
}

impl FromRequestParts<AppState> for ClientCert {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let conn = ConnInfo::from_request_parts(parts, state).await?;
        let peer = conn.peer.ok_or(Error::ClientCertificateRequired)?;
        match certificates::owner_by_thumbprint(&state.ctx, &peer.thumbprint).await? {
            Some(owner) if owner.revoked => Err(Error::CertificateRevoked.into()),
            Some(owner) => {
                if owner.awaiting_first_use {
                    crate::renewal::note_first_use(&state.ctx, &owner.serial).await?;
                }
                crate::http::access::note_user(parts, owner.user_id);
                Ok(Self {
                    peer,
                    user_id: owner.user_id,
                    remote_addr: conn.remote_addr,
                })
            }
            None => Err(Error::ClientCertificateRequired.into()),
        }
    }
}

/// A logged-in user: a valid access token presented over the connection of
/// the certificate it was issued to.
#[derive(Debug, Clone)]
pub struct Session {
    pub user_id: i64,
    pub username: String,
    pub email: String,
    pub is_admin: bool,
    pub certificate_serial: String,
    /// The login session (refresh-token family) this token belongs to.
    pub family_id: String,
    pub expires_at: i64,
    pub remote_addr: SocketAddr,
}

impl FromRequestParts<AppState> for Session {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let conn = ConnInfo::from_request_parts(parts, state).await?;
        let peer = conn.peer.ok_or(Error::ClientCertificateRequired)?;
        let token = bearer_token(parts)?;
        let access = login::check_access_token(&state.ctx, &state.login, &peer.thumbprint, token).await?;
        crate::http::access::note_user(parts, access.user_id);
        Ok(Self {
            user_id: access.user_id,
            username: access.username,
            email: access.email,
            is_admin: access.is_admin,
            certificate_serial: access.certificate_serial,
            family_id: access.family_id,
            expires_at: access.expires_at,
            remote_addr: conn.remote_addr,
        })
    }
}

fn bearer_token(parts: &Parts) -> Result<&str, ApiError> {
    let missing = || {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::MissingToken,
            "An access token is required (Authorization: Bearer ...).",
        )
    };
    let value = parts.headers.get(header::AUTHORIZATION).ok_or_else(missing)?;
    let value = value.to_str().map_err(|_| Error::InvalidToken)?;
    let (scheme, token) = value.split_once(' ').ok_or(Error::InvalidToken)?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() || token.len() > 8192 {
        return Err(Error::InvalidToken.into());
    }
    Ok(token.trim())
}

/// A JSON body. Failures become `415 unsupported_media_type`,
/// `413 payload_too_large`, `400 invalid_json` (not JSON) or
/// `422 invalid_request` (JSON of the wrong shape). Unknown fields are
/// ignored, so newer clients keep working with older servers.
#[derive(Debug, Clone)]
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::UnsupportedMediaType,
            "Send the body as application/json.",
        ),
        JsonRejection::JsonSyntaxError(_) => ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidJson,
            "The body is not valid JSON.",
        ),
        JsonRejection::JsonDataError(error) => ApiError::invalid_request(error.body_text()),
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::PayloadTooLarge,
            format!("The body is larger than {} KiB.", super::JSON_BODY_LIMIT / 1024),
        ),
        other => ApiError::new(StatusCode::BAD_REQUEST, ErrorCode::InvalidJson, other.body_text()),
    }
}
