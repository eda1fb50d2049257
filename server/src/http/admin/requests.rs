//! Access requests: the pending, approved and rejected tabs, a decision
//! with an optional note, and approving several at once.

use super::page::{back, outcome, render, words, Admin};
use crate::access_requests::{self, RequestState};
use crate::clock::format_time;
use crate::error::Error;
use crate::http::error::ApiError;
use crate::state::AppState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/requests", get(requests_page))
        .route("/admin/requests/{id}/decide", post(decide))
        .route("/admin/requests/bulk-approve", post(bulk_approve))
}

struct RequestRow {
    id: i64,
    received: String,
    email: String,
    name: String,
    reason: String,
    client_addr: String,
    decided: String,
    note: String,
}

#[derive(Template)]
#[template(path = "admin_requests.html")]
struct RequestsPage {
    section: &'static str,
    admin: String,
    csrf: String,
    notice: Option<String>,
    error: Option<String>,
    tabs: [(&'static str, &'static str); 3],
    state: String,
    query: String,
    requests: Vec<RequestRow>,
}

#[derive(Deserialize)]
struct RequestsQuery {
    state: Option<String>,
    q: Option<String>,
    notice: Option<String>,
    error: Option<String>,
}

async fn requests_page(
    State(state): State<AppState>,
    admin: Admin,
    Query(query): Query<RequestsQuery>,
) -> Result<Response, ApiError> {
    let tab = query
        .state
        .as_deref()
        .and_then(RequestState::parse)
        .unwrap_or(RequestState::Pending);
    let search = query.q.unwrap_or_default().trim().to_lowercase();
    let rows = access_requests::list(&state.ctx, Some(tab), 500)
        .await?
        .into_iter()
        .filter(|r| search.is_empty() || r.email.to_lowercase().contains(&search))
        .map(|r| RequestRow {
            id: r.id,
            received: format_time(r.created_at).trim_end_matches(" UTC").to_owned(),
            email: r.email,
            name: r.name,
            reason: r.reason.unwrap_or_default(),
            client_addr: r.client_addr.unwrap_or_default(),
            decided: r
                .decided_at
                .map(|t| format!("{} by {}", format_time(t), r.decided_by.unwrap_or_default()))
                .unwrap_or_default(),
            note: r.note.unwrap_or_default(),
        })
        .collect();
    Ok(render(
        StatusCode::OK,
        &RequestsPage {
            section: "requests",
            admin: admin.session.username.clone(),
            csrf: admin.session.csrf_token.clone(),
            notice: query.notice,
            error: query.error,
            tabs: [
                ("pending", "Pending"),
                ("approved", "Approved"),
                ("rejected", "Rejected"),
            ],
            state: tab.as_str().to_owned(),
            query: search,
            requests: rows,
        },
    ))
}

#[derive(Deserialize)]
struct DecisionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    decision: String,
    #[serde(default)]
    note: String,
}

async fn decide(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<i64>,
    Form(form): Form<DecisionForm>,
) -> Response {
    if let Some(refused) = admin.refuse_unless_csrf(&form.csrf) {
        return refused;
    }
    let note = Some(form.note.trim()).filter(|n| !n.is_empty());
    let result = match form.decision.as_str() {
        "approve" => access_requests::approve(&state.ctx, id, note, admin.actor())
            .await
            .map(|a| {
                format!(
                    "Approved {}; the one-time link was sent to them.",
                    a.request.email
                )
            }),
        "reject" => access_requests::reject(&state.ctx, id, note, admin.actor())
            .await
            .map(|r| format!("Rejected {}; they have been told.", r.email)),
        _ => Err(Error::invalid("decision", "choose approve or reject")),
    };
    outcome("/admin/requests", result)
}

/// The bulk form repeats `ids`, which serde's flat form parsing cannot
/// express; read the pairs directly.
async fn bulk_approve(State(state): State<AppState>, admin: Admin, body: axum::body::Bytes) -> Response {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    let csrf = pairs
        .iter()
        .find(|(k, _)| k == "csrf")
        .map(|(_, v)| v.as_str())
        .unwrap_or("");
    if let Some(refused) = admin.refuse_unless_csrf(csrf) {
        return refused;
    }
    let ids: Vec<i64> = pairs
        .iter()
        .filter(|(k, _)| k == "ids")
        .filter_map(|(_, v)| v.parse().ok())
        .collect();
    if ids.is_empty() {
        return back("/admin/requests", "error", "Select at least one request.");
    }
    let mut approved = Vec::new();
    let mut failed = Vec::new();
    for id in ids {
        match access_requests::approve(&state.ctx, id, None, admin.actor()).await {
            Ok(a) => approved.push(a.request.email),
            // A refusal in its own words; a failure of the server is
            // logged and named only generically.
            Err(error) => failed.push(format!("{id}: {}", words(error))),
        }
    }
    if failed.is_empty() {
        back(
            "/admin/requests",
            "notice",
            &format!("Approved {} requests: {}.", approved.len(), approved.join(", ")),
        )
    } else {
        back(
            "/admin/requests",
            "error",
            &format!(
                "Approved {}; could not approve {}.",
                approved.len(),
                failed.join("; ")
            ),
        )
    }
}
