//! The audit log: filters by action, actor, subject and days, paged.

use super::page::{render, url_encode, Admin};
use crate::audit::{self, AuditFilter, AuditRecord};
use crate::clock::format_time;
use crate::http::error::ApiError;
use crate::state::AppState;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde::Deserialize;

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/admin/audit", get(audit_page))
}

pub(super) struct AuditRow {
    pub(super) when: String,
    pub(super) actor: String,
    pub(super) action: String,
    pub(super) subject: String,
    pub(super) client_addr: String,
    pub(super) detail: String,
}

pub(super) fn audit_rows(records: Vec<AuditRecord>) -> Vec<AuditRow> {
    records
        .into_iter()
        .map(|r| AuditRow {
            when: format_time(r.at).trim_end_matches(" UTC").to_owned(),
            actor: r.actor,
            action: r.action,
            subject: r.subject.unwrap_or_default(),
            client_addr: r.client_addr.unwrap_or_default(),
            detail: r.detail.unwrap_or_default(),
        })
        .collect()
}

#[derive(Template)]
#[template(path = "admin_audit.html")]
struct AuditPage {
    section: &'static str,
    admin: String,
    csrf: String,
    notice: Option<String>,
    error: Option<String>,
    filter: AuditFilter,
    from: String,
    to: String,
    events: Vec<AuditRow>,
    page: i64,
    more: bool,
    previous: String,
    next: String,
}

#[derive(Deserialize)]
struct AuditQuery {
    #[serde(default)]
    action: String,
    #[serde(default)]
    actor: String,
    #[serde(default)]
    subject: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    page: i64,
}

/// `YYYY-MM-DD` to Unix seconds at the start (or end) of that UTC day.
fn day(text: &str, end_of_day: bool) -> Option<i64> {
    let mut parts = text.split('-').map(|p| p.parse::<i32>().ok());
    let (year, month, dom) = (parts.next()??, parts.next()??, parts.next()??);
    let month = time::Month::try_from(u8::try_from(month).ok()?).ok()?;
    let date = time::Date::from_calendar_date(year, month, u8::try_from(dom).ok()?).ok()?;
    let start = date.midnight().assume_utc().unix_timestamp();
    Some(if end_of_day { start + 86_399 } else { start })
}

const AUDIT_PAGE_SIZE: i64 = 50;

async fn audit_page(
    State(state): State<AppState>,
    admin: Admin,
    Query(query): Query<AuditQuery>,
) -> Result<Response, ApiError> {
    let filter = AuditFilter {
        action: query.action.trim().to_owned(),
        actor: query.actor.trim().to_owned(),
        subject: query.subject.trim().to_owned(),
        from: day(&query.from, false),
        to: day(&query.to, true),
    };
    let page = query.page.clamp(0, 100_000);
    let (events, more) = audit::search(&state.ctx, &filter, page, AUDIT_PAGE_SIZE).await?;
    let link = |page: i64| {
        format!(
            "/admin/audit?action={}&actor={}&subject={}&from={}&to={}&page={page}",
            url_encode(&filter.action),
            url_encode(&filter.actor),
            url_encode(&filter.subject),
            url_encode(&query.from),
            url_encode(&query.to)
        )
    };
    Ok(render(
        StatusCode::OK,
        &AuditPage {
            section: "audit",
            admin: admin.session.username.clone(),
            csrf: admin.session.csrf_token.clone(),
            notice: None,
            error: None,
            previous: link(page - 1),
            next: link(page + 1),
            from: query.from.clone(),
            to: query.to.clone(),
            filter,
            events: audit_rows(events),
            page,
            more,
        },
    ))
}
