//! The outermost middleware: every request gets an id (`X-Request-Id` on
//! the answer), is counted in the metrics by route class and status, and
//! leaves one access-log line (target `sightline::access`).
//!
//! The line holds the route's pattern (`/public/download-certs/{token}`),
//! never the path as sent, so one-time tokens in paths, query strings and
//! bodies never reach the log. The user is the one an extractor
//! authenticated ([`note_user`]), not one a header claims.

use crate::state::AppState;
use crate::tls::ConnInfo;
use axum::extract::{MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

/// Where an extractor records the user it authenticated, for the log line.
#[derive(Debug, Clone, Default)]
struct RequestUser(Arc<OnceLock<i64>>);

/// Records that this request acts as `user_id` (called by the extractors
/// that authenticate).
pub fn note_user(parts: &Parts, user_id: i64) {
    if let Some(slot) = parts.extensions.get::<RequestUser>() {
        let _ = slot.0.set(user_id);
    }
}

/// The route classes of the module's documentation, as metrics label them.
pub fn route_class(path: &str) -> &'static str {
    if path == "/healthz" || path == "/readyz" {
        "health"
    } else if path == "/request-access" || path.starts_with("/public/") {
        "public"
    } else if path.starts_with("/native/") {
        "native"
    } else if path.starts_with("/admin") {
        "admin"
    } else {
        "other"
    }
}

pub async fn observe(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let request_id = format!("{:016x}", rand::random::<u64>());
    let class = route_class(request.uri().path());
    // A cheap clone (the pattern is shared), not a copy per request.
    let route = request.extensions().get::<MatchedPath>().cloned();
    let client = request
        .extensions()
        .get::<ConnInfo>()
        .map(|conn| conn.remote_addr);
    let method = request.method().clone();
    let user = RequestUser::default();
    request.extensions_mut().insert(user.clone());
    let mut response = next.run(request).await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    state.metrics.request(class, status, elapsed);
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-request-id", value);
    }
    if state.ctx.config.log.access_log {
        tracing::info!(
            target: "sightline::access",
            request_id = %request_id,
            method = %method,
            route = route.as_ref().map_or("(no route)", MatchedPath::as_str),
            status,
            duration_ms = elapsed.as_secs_f64() * 1000.0,
            client = client.map(tracing::field::display),
            user_id = user.0.get().copied(),
            "request"
        );
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_fall_into_their_classes() {
        assert_eq!(route_class("/healthz"), "health");
        assert_eq!(route_class("/readyz"), "health");
        assert_eq!(route_class("/public/download-certs/abc"), "public");
        assert_eq!(route_class("/native/analyze"), "native");
        assert_eq!(route_class("/admin/requests"), "admin");
        assert_eq!(route_class("/nowhere"), "other");
    }
}
