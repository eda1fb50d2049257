//! `/native/*`: the API the desktop client speaks.

use super::extract::{ApiJson, ClientCert, Session};
use crate::http::error::ApiError;
use crate::login::{self, Origin};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use sightline_proto::{
    LoginRequest, LoginResponse, MeResponse, RefreshRequest, RenewCertificateRequest,
    RenewCertificateResponse, TokenResponse, VerifyTwoFactorRequest,
};

fn origin(cert: &ClientCert) -> Origin<'_> {
    Origin {
        peer: Some(&cert.peer),
        client: cert.remote_addr.ip(),
    }
}

pub async fn login(
    State(state): State<AppState>,
    cert: ClientCert,
    ApiJson(request): ApiJson<LoginRequest>,
) -> Result<Json<LoginResponse>, ApiError> {
    login::login(
        &state.ctx,
        &state.login,
        origin(&cert),
        request,
        login::Purpose::Native,
    )
    .await
    .map(Json)
    .map_err(ApiError::from)
}

pub async fn verify_two_factor(
    State(state): State<AppState>,
    cert: ClientCert,
    ApiJson(request): ApiJson<VerifyTwoFactorRequest>,
) -> Result<Json<TokenResponse>, ApiError> {
    login::verify_two_factor(&state.ctx, &state.login, origin(&cert), request)
        .await
        .map(Json)
        .map_err(ApiError::from)
}

pub async fn refresh(
    State(state): State<AppState>,
    cert: ClientCert,
    ApiJson(request): ApiJson<RefreshRequest>,
) -> Result<Json<TokenResponse>, ApiError> {
    login::refresh(&state.ctx, &state.login, origin(&cert), &request.refresh_token)
        .await
        .map(Json)
        .map_err(ApiError::from)
}

pub async fn logout(State(state): State<AppState>, session: Session) -> Result<StatusCode, ApiError> {
    login::logout(&state.ctx, &session.family_id, &session.username).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn me(State(state): State<AppState>, session: Session) -> Json<MeResponse> {
    Json(MeResponse {
        username: session.username,
        email: session.email,
        certificate_serial: session.certificate_serial,
        token_expires_at: session.expires_at,
        policy: state.ctx.config.policy.client_policy(),
    })
}

/// A new certificate for a key the device made (see `renewal`). The
/// session shows who asks; the certificate in the handshake is the one
/// renewed.
pub async fn renew_certificate(
    State(state): State<AppState>,
    session: Session,
    cert: ClientCert,
    ApiJson(request): ApiJson<RenewCertificateRequest>,
) -> Result<Json<RenewCertificateResponse>, ApiError> {
    // The token is bound to this certificate, so they agree; said anyway.
    if session.user_id != cert.user_id {
        return Err(crate::Error::CertificateUserMismatch.into());
    }
    let issued = crate::renewal::renew(&state.ctx, &cert.peer.thumbprint, &request.csr).await?;
    Ok(Json(RenewCertificateResponse {
        certificate: issued.cert_pem,
        ca: state.ctx.ca_pem.clone(),
        not_after: issued.info.not_after.unix_timestamp(),
    }))
}
