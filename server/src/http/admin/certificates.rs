//! Certificates: the list with a filter, and revoking one with a reason.

use super::page::{back, outcome, render, Admin};
use crate::certificates::{self, CertificateRecord};
use crate::clock::format_time;
use crate::http::error::ApiError;
use crate::state::AppState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;
use sightline_certs::RevocationReason;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/certificates", get(certificates_page))
        .route("/admin/certificates/{serial}/revoke", post(revoke))
}

pub(super) struct CertRow {
    pub(super) serial: String,
    pub(super) username: String,
    pub(super) issued: String,
    pub(super) expires: String,
    pub(super) status: &'static str,
    pub(super) reason: String,
}

pub(super) fn cert_rows(records: Vec<CertificateRecord>, now: i64) -> Vec<CertRow> {
    records
        .into_iter()
        .map(|c| CertRow {
            status: c.status(now),
            issued: format_time(c.issued_at).trim_end_matches(" UTC").to_owned(),
            expires: format_time(c.not_after).trim_end_matches(" UTC").to_owned(),
            reason: c.revocation_reason.unwrap_or_default(),
            serial: c.serial,
            username: c.username,
        })
        .collect()
}

#[derive(Template)]
#[template(path = "admin_certificates.html")]
struct CertificatesPage {
    section: &'static str,
    admin: String,
    csrf: String,
    notice: Option<String>,
    error: Option<String>,
    tabs: [(&'static str, &'static str); 4],
    status: String,
    certificates: Vec<CertRow>,
}

#[derive(Deserialize)]
struct CertificatesQuery {
    status: Option<String>,
    notice: Option<String>,
    error: Option<String>,
}

async fn certificates_page(
    State(state): State<AppState>,
    admin: Admin,
    Query(query): Query<CertificatesQuery>,
) -> Result<Response, ApiError> {
    let status = match query.status.as_deref() {
        Some(s @ ("valid" | "revoked" | "expired")) => s.to_owned(),
        _ => "all".to_owned(),
    };
    let now = state.ctx.clock.now();
    let rows = cert_rows(certificates::list(&state.ctx).await?, now)
        .into_iter()
        .filter(|c| status == "all" || c.status == status)
        .collect();
    Ok(render(
        StatusCode::OK,
        &CertificatesPage {
            section: "certificates",
            admin: admin.session.username.clone(),
            csrf: admin.session.csrf_token.clone(),
            notice: query.notice,
            error: query.error,
            tabs: [
                ("all", "All"),
                ("valid", "Valid"),
                ("revoked", "Revoked"),
                ("expired", "Expired"),
            ],
            status,
            certificates: rows,
        },
    ))
}

#[derive(Deserialize)]
struct RevokeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
}

async fn revoke(
    State(state): State<AppState>,
    admin: Admin,
    Path(serial): Path<String>,
    Form(form): Form<RevokeForm>,
) -> Response {
    if let Some(refused) = admin.refuse_unless_csrf(&form.csrf) {
        return refused;
    }
    let reason = RevocationReason::parse(&form.reason).unwrap_or(RevocationReason::Unspecified);
    if admin.certificate.as_deref() == Some(serial.trim().to_ascii_lowercase().as_str()) {
        return back(
            "/admin/certificates",
            "error",
            "This browser signs in with that certificate; revoke it from another device or with `sightline-server cert revoke`.",
        );
    }
    let result = certificates::revoke(&state.ctx, &serial, reason, admin.actor())
        .await
        .map(|c| {
            format!(
                "Revoked certificate {} of {}; it stops working within seconds.",
                c.serial, c.username
            )
        });
    outcome("/admin/certificates", result)
}
