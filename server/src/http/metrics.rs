//! The metrics listener's one route, `GET /metrics`, in Prometheus' text
//! format. It is plain HTTP on its own address (`[metrics] listen`), never
//! on the main port, so clients of the API cannot read it.

use crate::state::AppState;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

pub fn metrics_router(state: AppState) -> Router {
    Router::new().route("/metrics", get(scrape)).with_state(state)
}

/// Counts that live in the database or the revocation list are read at
/// scrape time, so they cost nothing between scrapes.
async fn scrape(State(state): State<AppState>) -> impl IntoResponse {
    match crate::mail::queue_depth(&state.ctx.db).await {
        Ok((queued, failing)) => state.metrics.set_mail_queue(queued, failing),
        Err(error) => tracing::warn!(%error, "the mail queue could not be counted"),
    }
    state.metrics.set_revoked_certificates(state.revocations.count());
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
}
