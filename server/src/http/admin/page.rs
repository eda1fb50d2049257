//! What every admin page shares: the [`Admin`] extractor (a signed-in
//! administrator or a redirect to the sign-in page), rendering, cookies,
//! the post/redirect/get notices and the outcome of an action.

use crate::admin_sessions::{self, AdminSession};
use crate::audit::Actor;
use crate::error::Error;
use crate::http::csrf::{cookie, csrf_matches, strict_cookie};
use crate::http::error::ApiError;
use crate::state::AppState;
use crate::tls::ConnInfo;
use askama::Template;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

const ADMIN_SCRIPT: &str = include_str!("../../../static/admin.js");

pub(super) fn render(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(error) => {
            tracing::error!(%error, "admin template failed");
            ApiError::internal().into_response()
        }
    }
}

pub(super) fn set_cookie(response: &mut Response, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

/// A `Set-Cookie` value for the admin pages' cookies (sign-in CSRF,
/// login challenge, session), scoped to `/admin`.
pub(super) fn session_cookie(name: &str, value: &str, max_age: i64) -> String {
    strict_cookie(name, value, "/admin", max_age)
}

/// A signed-in administrator. Without a valid session, browsers are sent
/// to the sign-in page.
#[derive(Debug, Clone)]
pub struct Admin {
    pub(super) session: AdminSession,
    client: std::net::IpAddr,
    /// The serial of the certificate this browser presents, if any.
    pub(super) certificate: Option<String>,
}

impl Admin {
    pub(super) fn actor(&self) -> Actor<'_> {
        Actor::Web(&self.session.username, self.client)
    }

    /// A 403 answer unless `token` is this session's CSRF token.
    pub(super) fn refuse_unless_csrf(&self, token: &str) -> Option<Response> {
        (!csrf_matches(&self.session.csrf_token, token)).then(forbidden)
    }
}

pub(super) fn forbidden() -> Response {
    (StatusCode::FORBIDDEN, Html("<!doctype html><title>Refused</title><p>This form has expired or did not come from this site. Reload the page and try again.</p>")).into_response()
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let to_login = || Redirect::to("/admin/login").into_response();
        let conn = parts.extensions.get::<ConnInfo>().cloned().ok_or_else(to_login)?;
        let cookie = cookie(&parts.headers, admin_sessions::COOKIE).ok_or_else(to_login)?;
        let thumbprint = conn.peer.as_ref().map(|p| p.thumbprint.as_slice());
        match admin_sessions::find(&state.ctx, &cookie, thumbprint).await {
            Ok(Some(session)) => {
                crate::http::access::note_user(parts, session.user_id);
                Ok(Self {
                    session,
                    client: conn.remote_addr.ip(),
                    certificate: conn.peer.as_ref().map(|p| p.serial_hex.clone()),
                })
            }
            Ok(None) => Err(to_login()),
            Err(error) => Err(ApiError::from(error).into_response()),
        }
    }
}

pub async fn script() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        ADMIN_SCRIPT,
    )
        .into_response()
}

/// A form whose only field is the CSRF token (sign out, delete).
#[derive(Deserialize)]
pub(super) struct CsrfOnly {
    #[serde(default)]
    pub(super) csrf: String,
}

/// Notices arrive in the query string after a redirect (post/redirect/get).
#[derive(Deserialize, Default)]
pub(super) struct Flash {
    pub(super) notice: Option<String>,
    pub(super) error: Option<String>,
}

pub(super) fn back(path: &str, key: &str, message: &str) -> Response {
    let separator = if path.contains('?') { '&' } else { '?' };
    Redirect::to(&format!("{path}{separator}{key}={}", url_encode(message))).into_response()
}

/// A value for a query string, form-encoded as the `Query` extractor
/// decodes it.
pub(super) fn url_encode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

pub(super) fn outcome(path: &str, result: Result<String, Error>) -> Response {
    match result {
        Ok(notice) => back(path, "notice", &notice),
        Err(error @ (Error::Invalid { .. } | Error::NotFound(_) | Error::Conflict(_))) => {
            back(path, "error", &capitalised(&error.to_string()))
        }
        Err(error) => ApiError::from(error).into_response(),
    }
}

/// What a page says about a domain error: a refusal in its own words; a
/// failure of the server logged and said generically.
pub(super) fn words(error: Error) -> String {
    if error.is_failure() {
        tracing::error!(%error, "admin action failed");
        "Internal server error.".into()
    } else {
        error.to_string()
    }
}

/// A refusal's text as a sentence: capitalised, with a full stop.
pub(super) fn capitalised(text: &str) -> String {
    format!("{}.", crate::error::capitalised(text))
}

#[cfg(test)]
mod tests {
    #[test]
    fn notices_survive_the_query_string() {
        let text = "Created ada+1; a link & 100% \"done\" — ok?";
        let query = format!("notice={}", super::url_encode(text));
        let decoded: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes()).into_owned().collect();
        assert_eq!(decoded, [("notice".to_owned(), text.to_owned())]);
    }
}
