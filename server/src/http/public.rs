//! Public routes (no certificate needed): the request-access page and API,
//! the one-time download pages, the CA and the CRL. Pages work without
//! JavaScript and load nothing but `/public/style.css`.

use super::extract::ApiJson;
use crate::access_requests::{self, Invalid, NewRequest};
use crate::auth::random_token;
use crate::download_links::{self, LinkStatus, RedeemError};
use crate::http::error::ApiError;
use crate::package_store;
use crate::state::AppState;
use crate::tls::ConnInfo;
use askama::Template;
use axum::extract::rejection::PathRejection;
use axum::extract::{Form, FromRequest, Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use sightline_certs::package::Platform;
use sightline_proto::{ErrorCode, Secret};

pub const STYLESHEET: &str = include_str!("../../static/style.css");
/// Largest request-access or download form accepted.
pub const FORM_BODY_LIMIT: usize = 16 * 1024;
const CSRF_COOKIE: &str = "sightline_csrf";

fn render(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(error) => {
            tracing::error!(%error, "template failed");
            ApiError::internal().into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage<'a> {
    title: &'a str,
    message: &'a str,
    next: Option<&'a str>,
}

fn message(status: StatusCode, title: &str, message_text: &str, next: Option<&str>) -> Response {
    render(
        status,
        &MessagePage {
            title,
            message: message_text,
            next,
        },
    )
}

pub async fn stylesheet() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLESHEET).into_response()
}

pub async fn ca_pem(State(state): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/x-pem-file")],
        state.ctx.ca_pem.clone(),
    )
        .into_response()
}

pub async fn crl_pem(State(state): State<AppState>) -> Result<Response, ApiError> {
    let crl = crate::certificates::crl_pem(&state.ctx).await?;
    Ok(([(header::CONTENT_TYPE, "application/x-pem-file")], crl).into_response())
}

#[derive(Template)]
#[template(path = "request_access.html")]
struct RequestAccessPage<'a> {
    email: &'a str,
    name: &'a str,
    reason: &'a str,
    error: Option<&'a str>,
}

/// `?email=` fills the address in (the sidebar sends its user here when
/// the certificate has expired); anything else is ignored.
#[derive(Debug, serde::Deserialize)]
pub struct Prefill {
    email: Option<String>,
}

pub async fn request_access_page(
    prefill: Result<axum::extract::Query<Prefill>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let email = prefill
        .as_ref()
        .ok()
        .and_then(|query| query.email.as_deref())
        .filter(|email| email.len() <= 254 && email.contains('@'))
        .unwrap_or("");
    render(
        StatusCode::OK,
        &RequestAccessPage {
            email,
            name: "",
            reason: "",
            error: None,
        },
    )
}

#[derive(Template)]
#[template(path = "request_received.html")]
struct RequestReceivedPage;

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"))
}

/// `POST /public/request-access`, JSON or form. The answer is the same
/// whether the address is new, pending, approved or already a user's.
pub async fn submit_request(State(state): State<AppState>, conn: ConnInfo, request: Request) -> Response {
    let from_form = is_form(request.headers());
    let submitted: NewRequest = if from_form {
        match Form::<NewRequest>::from_request(request, &state).await {
            Ok(Form(value)) => value,
            Err(rejection) => {
                let status = rejection.status();
                return page_or_error(
                    true,
                    status,
                    ErrorCode::InvalidRequest,
                    "The form could not be read; please fill it in again.",
                    None,
                );
            }
        }
    } else {
        match ApiJson::<NewRequest>::from_request(request, &state).await {
            Ok(ApiJson(value)) => value,
            Err(error) => return error.into_response(),
        }
    };
    let valid = match access_requests::validate(&submitted) {
        Ok(valid) => valid,
        Err(invalid) => {
            let (code, text) = match invalid {
                Invalid::Email => (
                    ErrorCode::InvalidEmail,
                    "Please enter a valid e-mail address.".to_owned(),
                ),
                Invalid::Name(text) | Invalid::Reason(text) => (ErrorCode::InvalidRequest, text),
            };
            return page_or_error(
                from_form,
                StatusCode::UNPROCESSABLE_ENTITY,
                code,
                &text,
                Some(&submitted),
            );
        }
    };

    let now = state.ctx.clock.now();
    let address = conn.remote_addr.ip().to_string();
    let email_key = valid.email.to_lowercase();
    let db = &state.ctx.db;
    let wait = match state.request_limit_by_address.locked_for(db, &address, now).await {
        Ok(Some(wait)) => Ok(Some(wait)),
        Ok(None) => state.request_limit_by_email.locked_for(db, &email_key, now).await,
        Err(error) => Err(error),
    };
    let wait = match wait {
        Ok(wait) => wait,
        Err(error) => return ApiError::from(error).into_response(),
    };
    if let Some(wait) = wait {
        let mut response = page_or_error(
            from_form,
            StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::RateLimited,
            "Too many requests; please try again later.",
            Some(&submitted),
        );
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(wait.max(1)));
        return response;
    }
    // Every accepted submission counts towards both limits.
    let counted = match state.request_limit_by_address.failure(db, &address, now).await {
        Ok(_) => state.request_limit_by_email.failure(db, &email_key, now).await,
        Err(error) => Err(error),
    };
    if let Err(error) = counted {
        return ApiError::from(error).into_response();
    }
    if let Err(error) = access_requests::submit(&state.ctx, &valid, &address).await {
        return ApiError::from(error).into_response();
    }
    if from_form {
        render(StatusCode::ACCEPTED, &RequestReceivedPage)
    } else {
        (
            StatusCode::ACCEPTED,
            Json(serde_json::json!({"status": "received"})),
        )
            .into_response()
    }
}

fn page_or_error(
    as_page: bool,
    status: StatusCode,
    code: ErrorCode,
    text: &str,
    values: Option<&NewRequest>,
) -> Response {
    if !as_page {
        return ApiError::new(status, code, text).into_response();
    }
    let page = RequestAccessPage {
        email: values.map_or("", |v| v.email.as_str()),
        name: values.map_or("", |v| v.name.as_str()),
        reason: values.and_then(|v| v.reason.as_deref()).unwrap_or(""),
        error: Some(text),
    };
    render(status, &page)
}

struct PlatformOption {
    value: &'static str,
    label: &'static str,
    detail: &'static str,
    selected: bool,
}

#[derive(Template)]
#[template(path = "download_confirm.html")]
struct DownloadConfirmPage<'a> {
    username: &'a str,
    email: &'a str,
    expires: String,
    csrf: &'a str,
    platforms: Vec<PlatformOption>,
    needs_password: bool,
    error: Option<&'a str>,
}

fn platform_options(selected: Platform) -> Vec<PlatformOption> {
    Platform::ALL
        .into_iter()
        .map(|platform| PlatformOption {
            value: platform.as_str(),
            label: platform.label(),
            detail: match platform {
                Platform::Windows => "(.pfx)",
                Platform::Macos => "(.p12)",
                Platform::Linux => "(PEM files, and .p12 for browsers)",
            },
            selected: platform == selected,
        })
        .collect()
}

/// The platform the browser says it runs on, as the default choice.
fn guess_platform(headers: &HeaderMap) -> Platform {
    let agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if agent.contains("Windows") {
        Platform::Windows
    } else if agent.contains("Macintosh") || agent.contains("Mac OS X") {
        Platform::Macos
    } else {
        Platform::Linux
    }
}

fn link_gone() -> Response {
    message(
        StatusCode::GONE,
        "This link has already been used or has expired",
        "Each download link works once and for a limited time. Your certificate was not issued again.",
        Some("If you still need a certificate, ask your administrator for a new link, or"),
    )
}

fn link_unknown() -> Response {
    message(
        StatusCode::NOT_FOUND,
        "This link is not valid",
        "Check that you copied the whole link from the e-mail.",
        Some("If it still does not work,"),
    )
}

fn csrf_cookie(headers: &HeaderMap) -> Option<String> {
    super::csrf::cookie(headers, CSRF_COOKIE)
}

/// `GET`/`HEAD /public/download-certs/{token}`: shows the form, spends nothing.
pub async fn download_page(
    State(state): State<AppState>,
    token: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Ok(Path(token)) = token else {
        return Ok(link_unknown());
    };
    let (user, needs_password, expires_at) = match download_links::status(&state.ctx, &token).await? {
        LinkStatus::Usable {
            user,
            needs_password,
            expires_at,
        } => (user, needs_password, expires_at),
        LinkStatus::Gone => return Ok(link_gone()),
        LinkStatus::Unknown => return Ok(link_unknown()),
    };
    // Double-submit CSRF: a random value in a strict cookie and in the form.
    let csrf = csrf_cookie(&headers)
        .filter(|c| c.len() == 43)
        .unwrap_or_else(random_token);
    let page = DownloadConfirmPage {
        username: &user.username,
        email: &user.email,
        expires: crate::clock::format_time(expires_at),
        csrf: &csrf,
        platforms: platform_options(guess_platform(&headers)),
        needs_password,
        error: None,
    };
    let mut response = render(StatusCode::OK, &page);
    let cookie = super::csrf::strict_cookie(CSRF_COOKIE, &csrf, "/public/download-certs/", 3600);
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    Ok(response)
}

#[derive(Deserialize)]
pub struct DownloadForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    platform: String,
    #[serde(default)]
    password: Option<Secret>,
    #[serde(default)]
    password_confirm: Option<Secret>,
}

#[derive(Template)]
#[template(path = "download_ready.html")]
struct DownloadReadyPage<'a> {
    file_name: &'a str,
    password: &'a str,
    download_id: &'a str,
    platform: &'a str,
}

/// `POST /public/download-certs/{token}`: spends the link and shows the
/// package password with the download button.
pub async fn redeem(
    State(state): State<AppState>,
    conn: ConnInfo,
    token: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    form: Result<Form<DownloadForm>, axum::extract::rejection::FormRejection>,
) -> Result<Response, ApiError> {
    let Ok(Path(token)) = token else {
        return Ok(link_unknown());
    };
    let Ok(Form(form)) = form else {
        return Ok(message(
            StatusCode::BAD_REQUEST,
            "The form could not be read",
            "Go back to the link in your e-mail and try again.",
            None,
        ));
    };
    let cookie = csrf_cookie(&headers).unwrap_or_default();
    if !super::csrf::csrf_matches(&cookie, &form.csrf) {
        return Ok(message(
            StatusCode::FORBIDDEN,
            "This form has expired",
            "Open the link from your e-mail again and submit the form from that page. Nothing was spent.",
            None,
        ));
    }
    // Re-show the form (nothing spent) when an input is wrong.
    let status = download_links::status(&state.ctx, &token).await?;
    let retry = |error: &str, platform: Platform| -> Result<Response, ApiError> {
        match &status {
            LinkStatus::Usable {
                user,
                needs_password,
                expires_at,
            } => {
                let page = DownloadConfirmPage {
                    username: &user.username,
                    email: &user.email,
                    expires: crate::clock::format_time(*expires_at),
                    csrf: &form.csrf,
                    platforms: platform_options(platform),
                    needs_password: *needs_password,
                    error: Some(error),
                };
                Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page))
            }
            LinkStatus::Gone => Ok(link_gone()),
            LinkStatus::Unknown => Ok(link_unknown()),
        }
    };
    let Some(platform) = Platform::parse(&form.platform) else {
        return retry("Choose your operating system.", guess_platform(&headers));
    };
    if let LinkStatus::Usable {
        needs_password: true, ..
    } = &status
    {
        if form.password.as_ref().map(Secret::expose) != form.password_confirm.as_ref().map(Secret::expose) {
            return retry("The two passwords differ.", platform);
        }
    }
    match download_links::redeem(
        &state.ctx,
        &token,
        platform,
        form.password.clone(),
        &conn.remote_addr.ip().to_string(),
    )
    .await
    {
        Ok(redeemed) => {
            let file_name = redeemed.package.file_name.clone();
            let download_id =
                package_store::put(&state.ctx.db, redeemed.package, state.ctx.clock.now()).await?;
            let page = DownloadReadyPage {
                file_name: &file_name,
                password: redeemed.password.expose(),
                download_id: &download_id,
                platform: redeemed.platform.label(),
            };
            Ok(render(StatusCode::OK, &page))
        }
        Err(RedeemError::Password(text)) => retry(&text, platform),
        Err(RedeemError::Gone) => Ok(link_gone()),
        Err(RedeemError::Unknown) => Ok(link_unknown()),
        Err(RedeemError::Other(error)) => Err(error.into()),
    }
}

/// `GET /public/packages/{id}`: the zip, once.
pub async fn package(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    let taken = match package_store::take(&state.ctx.db, &id, state.ctx.clock.now()).await {
        Ok(taken) => taken,
        Err(error) => return ApiError::from(error).into_response(),
    };
    match taken {
        Some(package) => {
            let disposition = format!("attachment; filename=\"{}\"", package.file_name);
            let mut response = (StatusCode::OK, package.zip).into_response();
            let headers = response.headers_mut();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/zip"));
            if let Ok(value) = HeaderValue::from_str(&disposition) {
                headers.insert(header::CONTENT_DISPOSITION, value);
            }
            response
        }
        None => message(
            StatusCode::GONE,
            "This download is no longer available",
            "A package can be downloaded once, within 15 minutes of creating it.",
            Some("Ask your administrator for a new link, or"),
        ),
    }
}
