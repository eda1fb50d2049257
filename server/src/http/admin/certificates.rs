//! Certificates: the list with a filter (including those due for renewal
//! whose device has not renewed), each with its device and renewal
//! history, and revoking one with a reason.

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
    pub(super) device: String,
    pub(super) issued: String,
    pub(super) expires: String,
    pub(super) status: &'static str,
    pub(super) reason: String,
    /// Where it came from and what replaced it, in words.
    pub(super) history: Vec<String>,
    /// Valid, past two thirds of its life, and its device has not renewed.
    pub(super) not_renewed: bool,
}

fn short_time(unix: i64) -> String {
    format_time(unix).trim_end_matches(" UTC").to_owned()
}

pub(super) fn cert_rows(records: Vec<CertificateRecord>, now: i64) -> Vec<CertRow> {
    let successors: Vec<(String, String, Option<i64>)> = records
        .iter()
        .filter_map(|c| {
            c.renewed_from
                .clone()
                .map(|old| (old, c.serial.clone(), c.first_used_at))
        })
        .collect();
    records
        .into_iter()
        .map(|c| {
            let status = c.status(now);
            let mut history = Vec::new();
            if let Some(old) = &c.renewed_from {
                history.push(format!("renews {}", short_serial(old)));
            }
            let mut renewed = false;
            for (_, new, first_used) in successors.iter().filter(|(old, _, _)| *old == c.serial) {
                renewed = true;
                history.push(match first_used {
                    Some(at) => format!(
                        "renewed by {}, in use since {}",
                        short_serial(new),
                        short_time(*at)
                    ),
                    None => format!("renewed by {}, not used yet", short_serial(new)),
                });
            }
            let due = c.issued_at + (c.not_after - c.issued_at) * 2 / 3;
            CertRow {
                not_renewed: status == "valid" && now >= due && !renewed,
                status,
                device: c.device.unwrap_or_else(|| "unknown".to_owned()),
                issued: short_time(c.issued_at),
                expires: short_time(c.not_after),
                reason: c.revocation_reason.unwrap_or_default(),
                history,
                serial: c.serial,
                username: c.username,
            }
        })
        .collect()
}

/// The first twelve hex digits: enough to tell certificates apart at a
/// glance (the full serial is in the first column).
fn short_serial(serial: &str) -> String {
    serial.chars().take(12).collect::<String>() + "…"
}

#[derive(Template)]
#[template(path = "admin_certificates.html")]
struct CertificatesPage {
    section: &'static str,
    admin: String,
    csrf: String,
    notice: Option<String>,
    error: Option<String>,
    tabs: [(&'static str, &'static str); 6],
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
        Some(s @ ("valid" | "revoked" | "expired" | "superseded" | "not-renewed")) => s.to_owned(),
        _ => "all".to_owned(),
    };
    let now = state.ctx.clock.now();
    let rows = cert_rows(certificates::list(&state.ctx).await?, now)
        .into_iter()
        .filter(|c| match status.as_str() {
            "all" => true,
            "not-renewed" => c.not_renewed,
            wanted => c.status == wanted,
        })
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
                ("not-renewed", "Due, not renewed"),
                ("superseded", "Superseded"),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn record(serial: &str, issued_at: i64, not_after: i64, renewed_from: Option<&str>) -> CertificateRecord {
        CertificateRecord {
            serial: serial.into(),
            username: "ada".into(),
            email: "ada@example.com".into(),
            issued_at,
            not_after,
            revoked_at: None,
            revocation_reason: None,
            device: Some("Linux (package)".into()),
            renewed_from: renewed_from.map(str::to_owned),
            first_used_at: None,
        }
    }

    #[test]
    fn a_certificate_past_two_thirds_without_a_renewal_is_flagged() {
        let rows = cert_rows(
            vec![
                record("aa", 0, 300, None),
                record("bb", 0, 300, None),
                record("cc", 250, 550, Some("bb")),
                record("dd", 0, 1000, None),
            ],
            250,
        );
        let flagged: Vec<&str> = rows
            .iter()
            .filter(|r| r.not_renewed)
            .map(|r| r.serial.as_str())
            .collect();
        assert_eq!(flagged, ["aa"], "bb was renewed; cc and dd are not due");
        assert_eq!(rows[1].history, ["renewed by cc…, not used yet"]);
        assert_eq!(rows[2].history, ["renews bb…"]);
        assert_eq!(rows[2].device, "Linux (package)");
    }
}
