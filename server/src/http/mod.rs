//! The HTTP surface: [`router`] builds every route, and the three route
//! classes are enforced in one middleware here:
//!
//! - public: `/healthz`, `/readyz`, `/request-access`, `/public/*`;
//! - native: `/native/*` needs a client certificate (401 JSON without);
//! - anything else is not public: a browser without a certificate is sent
//!   to `/request-access`, an API client gets 401 JSON.
//!
//! Handlers state their requirements through extractors
//! ([`extract::ClientCert`], [`extract::Session`], [`admin::Admin`]), call
//! the domain with the state's [`crate::context::Context`], and its errors
//! become answers in one place, [`error`]. Around everything, [`access`]
//! gives each request an id, counts it and logs it.
//!
//! The metrics have a router of their own ([`metrics::metrics_router`]),
//! served on `[metrics] listen` only.

pub mod access;
mod admin;
mod analysis;
mod csrf;
pub mod error;
pub mod extract;
pub mod metrics;
mod native;
mod public;

use crate::error::Error;
use crate::state::AppState;
use crate::tls::ConnInfo;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use error::ApiError;
use sightline_proto::{ErrorCode, Health};

/// The largest body a JSON endpoint accepts.
pub const JSON_BODY_LIMIT: usize = 64 * 1024;

pub fn router(state: AppState) -> Router {
    // Room for the multipart framing and the text parts around the image.
    let upload_limit =
        state.ctx.config.analysis.max_image_bytes + state.ctx.config.analysis.max_context_bytes + 16 * 1024;
    let rewrite_limit = state.ctx.config.analysis.max_rewrite_bytes * 2 + 16 * 1024;
    let native = Router::new()
        .route("/login", post(native::login))
        .route("/verify-2fa", post(native::verify_two_factor))
        .route("/refresh", post(native::refresh))
        .route("/renew-certificate", post(native::renew_certificate))
        .route("/logout", post(native::logout))
        .route("/me", get(native::me))
        .route("/modes", get(analysis::list_modes))
        .layer(DefaultBodyLimit::max(JSON_BODY_LIMIT))
        .route(
            "/rewrite",
            post(analysis::rewrite).layer(DefaultBodyLimit::max(rewrite_limit)),
        )
        .route(
            "/analyze",
            post(analysis::analyze).layer(DefaultBodyLimit::max(upload_limit)),
        );
    let public = Router::new()
        .route("/request-access", get(public::request_access_page))
        .route("/public/request-access", post(public::submit_request))
        .route(
            "/public/download-certs/{token}",
            get(public::download_page)
                .head(public::download_page)
                .post(public::redeem),
        )
        .route("/public/packages/{id}", get(public::package))
        .route("/public/ca.pem", get(public::ca_pem))
        .route("/public/crl.pem", get(public::crl_pem))
        .route("/public/style.css", get(public::stylesheet))
        .layer(DefaultBodyLimit::max(public::FORM_BODY_LIMIT));
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .merge(public)
        .merge(admin::routes())
        .nest("/native", native)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), route_classes))
        .layer(middleware::from_fn(common_headers))
        .layer(middleware::from_fn_with_state(state.clone(), access::observe))
        .with_state(state)
}

async fn healthz() -> Json<Health> {
    Json(Health { status: "ok".into() })
}

/// Ready to serve: the database answers (a new connection, for SQLite)
/// and the signing key signs. Balancers take an instance out of rotation
/// on a 503; the cause is logged, the answer names only the part.
async fn readyz(State(state): State<AppState>) -> Result<Json<Health>, ApiError> {
    if let Err(error) = crate::db::check_ready(&state.ctx.db).await {
        tracing::warn!(%error, "not ready: the database cannot be used");
        return Err(Error::NotReady("the database cannot be used").into());
    }
    if !state.login.jwt.self_check(state.ctx.clock.now()) {
        tracing::warn!("not ready: the token signing key does not sign");
        return Err(Error::NotReady("the token signing key does not work").into());
    }
    Ok(Json(Health {
        status: "ready".into(),
    }))
}

fn is_public(path: &str) -> bool {
    path == "/healthz" || path == "/readyz" || path == "/request-access" || path.starts_with("/public/")
}

fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|accept| accept.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"))
}

async fn route_classes(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    if is_public(path) {
        return next.run(request).await;
    }
    let has_certificate = request
        .extensions()
        .get::<ConnInfo>()
        .is_some_and(|conn| conn.peer.is_some());
    // Deployments with another gate in front may open the admin pages to
    // password + TOTP alone.
    let admin_open = path.starts_with("/admin") && !state.ctx.config.admin.require_client_certificate;
    if has_certificate || admin_open {
        return next.run(request).await;
    }
    if !path.starts_with("/native/") && wants_html(request.headers()) {
        return Redirect::to("/request-access").into_response();
    }
    Error::ClientCertificateRequired.into_response()
}

/// Headers every answer carries: nothing here is cached, sniffed, framed
/// or allowed to load anything from elsewhere, and browsers remember to
/// reach this host only over HTTPS (the server speaks nothing else).
async fn common_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        ),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::STRICT_TRANSPORT_SECURITY,
        HeaderValue::from_static("max-age=31536000"),
    );
    // Download links carry their token in the path: never leak it onward.
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, ErrorCode::NotFound, "No such endpoint.")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        ErrorCode::MethodNotAllowed,
        "This endpoint does not accept that method.",
    )
}

#[cfg(test)]
mod tests;
