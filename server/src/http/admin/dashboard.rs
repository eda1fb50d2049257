//! `/admin`: the counts that need attention and the latest audit events.

use super::audit::{audit_rows, AuditRow};
use super::page::{render, Admin, Flash};
use crate::audit::{self, AuditFilter};
use crate::db;
use crate::http::error::ApiError;
use crate::state::AppState;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/admin", get(dashboard))
}

#[derive(Template)]
#[template(path = "admin_dashboard.html")]
struct DashboardPage {
    section: &'static str,
    admin: String,
    csrf: String,
    notice: Option<String>,
    error: Option<String>,
    counts: db::Counts,
    events: Vec<AuditRow>,
}

async fn dashboard(
    State(state): State<AppState>,
    admin: Admin,
    Query(flash): Query<Flash>,
) -> Result<Response, ApiError> {
    let counts = db::counts(&state.ctx.db, state.ctx.clock.now()).await?;
    let (events, _) = audit::search(&state.ctx, &AuditFilter::default(), 0, 10).await?;
    Ok(render(
        StatusCode::OK,
        &DashboardPage {
            section: "dashboard",
            admin: admin.session.username.clone(),
            csrf: admin.session.csrf_token.clone(),
            notice: flash.notice,
            error: flash.error,
            counts,
            events: audit_rows(events),
        },
    ))
}
