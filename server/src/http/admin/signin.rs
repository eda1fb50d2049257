//! Signing in and out: password, then TOTP (or a recovery code), with a
//! double-submit CSRF cookie until a session exists.

use super::page::{forbidden, render, session_cookie, set_cookie, words, Admin, CsrfOnly};
use crate::admin_sessions;
use crate::audit::{self, Actor};
use crate::auth::totp;
use crate::error::Error;
use crate::http::csrf::{cookie, csrf_matches};
use crate::http::error::ApiError;
use crate::login::{self, Origin, Purpose};
use crate::state::AppState;
use crate::tls::ConnInfo;
use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;
use sightline_proto::{LoginRequest, Secret};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/login", get(login_page).post(login_password))
        .route("/admin/login/verify", post(login_code))
        .route("/admin/logout", post(logout))
}

const LOGIN_COOKIE: &str = "sightline_admin_login";
const LOGIN_CSRF_COOKIE: &str = "sightline_admin_csrf";

#[derive(Template)]
#[template(path = "admin_login.html")]
struct LoginPage<'a> {
    csrf: &'a str,
    username: &'a str,
    error: Option<&'a str>,
}

struct EnrollmentView {
    qr_svg: String,
    key: String,
}

#[derive(Template)]
#[template(path = "admin_2fa.html")]
struct CodePage<'a> {
    csrf: &'a str,
    enrollment: Option<EnrollmentView>,
    error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "admin_recovery.html")]
struct RecoveryPage {
    codes: Vec<String>,
}

/// The double-submit value for the sign-in forms (no session exists yet).
fn login_csrf(headers: &HeaderMap) -> (String, bool) {
    match cookie(headers, LOGIN_CSRF_COOKIE).filter(|c| c.len() == 43) {
        Some(value) => (value, false),
        None => (crate::auth::random_token(), true),
    }
}

fn with_login_csrf(mut response: Response, csrf: &str, fresh: bool) -> Response {
    if fresh {
        set_cookie(&mut response, &session_cookie(LOGIN_CSRF_COOKIE, csrf, 3600));
    }
    response
}

async fn login_page(headers: HeaderMap) -> Response {
    let (csrf, fresh) = login_csrf(&headers);
    with_login_csrf(
        render(
            StatusCode::OK,
            &LoginPage {
                csrf: &csrf,
                username: "",
                error: None,
            },
        ),
        &csrf,
        fresh,
    )
}

#[derive(Deserialize)]
struct PasswordForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: Secret,
}

fn origin(conn: &ConnInfo) -> Origin<'_> {
    Origin {
        peer: conn.peer.as_deref(),
        client: conn.remote_addr.ip(),
    }
}

fn enrollment_view(uri: &str, qr_svg: &str) -> EnrollmentView {
    let key = totp::secret_from_uri(uri)
        .map(|s| totp::encode_secret(&s))
        .unwrap_or_default();
    // Inline SVG: drop the XML prolog; the rest is plain markup.
    let svg = qr_svg.find("<svg").map_or(qr_svg, |i| &qr_svg[i..]).to_owned();
    let grouped = key
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    EnrollmentView {
        qr_svg: svg,
        key: grouped,
    }
}

async fn login_password(
    State(state): State<AppState>,
    conn: ConnInfo,
    headers: HeaderMap,
    Form(form): Form<PasswordForm>,
) -> Response {
    let (csrf, fresh) = login_csrf(&headers);
    if fresh || !csrf_matches(&csrf, &form.csrf) {
        return forbidden();
    }
    let request = LoginRequest {
        username: form.username.trim().to_owned(),
        password: form.password,
    };
    match login::login(&state.ctx, &state.login, origin(&conn), request, Purpose::Admin).await {
        Ok(answer) => {
            let enrollment = answer
                .enrollment
                .as_ref()
                .map(|e| enrollment_view(&e.otpauth_uri, &e.qr_svg));
            let mut response = render(
                StatusCode::OK,
                &CodePage {
                    csrf: &csrf,
                    enrollment,
                    error: None,
                },
            );
            let ttl = i64::try_from(answer.expires_in).unwrap_or(300);
            set_cookie(
                &mut response,
                &session_cookie(LOGIN_COOKIE, answer.challenge.expose(), ttl),
            );
            response
        }
        Err(error) => {
            let message = match error {
                Error::TooManyAttempts { retry_after } => {
                    format!("Too many attempts. Try again in {} seconds.", retry_after.max(1))
                }
                other => words(other),
            };
            render(
                StatusCode::UNAUTHORIZED,
                &LoginPage {
                    csrf: &csrf,
                    username: &form.username,
                    error: Some(&message),
                },
            )
        }
    }
}

#[derive(Deserialize)]
struct CodeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    code: Secret,
}

async fn login_code(
    State(state): State<AppState>,
    conn: ConnInfo,
    headers: HeaderMap,
    Form(form): Form<CodeForm>,
) -> Response {
    let (csrf, fresh) = login_csrf(&headers);
    if fresh || !csrf_matches(&csrf, &form.csrf) {
        return forbidden();
    }
    let Some(challenge) = cookie(&headers, LOGIN_COOKIE) else {
        return Redirect::to("/admin/login").into_response();
    };
    let challenge = Secret::new(challenge);
    match login::verify_second_factor(
        &state.ctx,
        &state.login,
        origin(&conn),
        &challenge,
        &form.code,
        Purpose::Admin,
    )
    .await
    {
        Ok(login::Verified {
            mut tx,
            user_id,
            username,
            recovery_codes,
            now,
        }) => {
            let client = conn.remote_addr.ip().to_string();
            let thumbprint = conn
                .peer
                .as_ref()
                .map(|p| p.thumbprint.to_vec())
                .unwrap_or_default();
            let opened = admin_sessions::open(&state.ctx, &mut tx, user_id, &thumbprint, &client, now).await;
            let audited = audit::audit(
                &mut *tx,
                now,
                audit::AuditEvent {
                    actor: Actor::User(&username),
                    action: "admin.login",
                    subject: Some(&username),
                    client_addr: Some(client.clone()),
                    detail: None,
                },
            )
            .await;
            let committed = match (opened, audited) {
                (Ok(pair), Ok(())) => tx.commit().await.map(|()| pair).map_err(Error::from),
                (Err(error), _) | (_, Err(error)) => Err(error),
            };
            let (cookie_value, _) = match committed {
                Ok(pair) => pair,
                Err(error) => return ApiError::from(error).into_response(),
            };
            let mut response = match recovery_codes {
                Some(codes) => render(
                    StatusCode::OK,
                    &RecoveryPage {
                        codes: codes.iter().map(|c| c.expose().to_owned()).collect(),
                    },
                ),
                None => Redirect::to("/admin").into_response(),
            };
            set_cookie(
                &mut response,
                &session_cookie(
                    admin_sessions::COOKIE,
                    &cookie_value,
                    state.ctx.config.admin.absolute_timeout_secs,
                ),
            );
            set_cookie(&mut response, &session_cookie(LOGIN_COOKIE, "", 0));
            response
        }
        Err(error) => {
            let message = match error {
                Error::TooManyAttempts { retry_after } => {
                    format!(
                        "Too many wrong codes. Try again in {} seconds.",
                        retry_after.max(1)
                    )
                }
                Error::InvalidChallenge => return Redirect::to("/admin/login").into_response(),
                other => words(other),
            };
            // While enrolling, show the same QR code again.
            let enrollment = login::pending_enrollment(&state.ctx, &challenge)
                .await
                .ok()
                .flatten()
                .map(|e| enrollment_view(&e.otpauth_uri, &e.qr_svg));
            render(
                StatusCode::UNAUTHORIZED,
                &CodePage {
                    csrf: &csrf,
                    enrollment,
                    error: Some(&message),
                },
            )
        }
    }
}

async fn logout(
    State(state): State<AppState>,
    admin: Admin,
    headers: HeaderMap,
    Form(form): Form<CsrfOnly>,
) -> Response {
    if let Some(refused) = admin.refuse_unless_csrf(&form.csrf) {
        return refused;
    }
    if let Some(value) = cookie(&headers, admin_sessions::COOKIE) {
        if let Err(error) = admin_sessions::end(&state.ctx, &value, &admin.session.username).await {
            return ApiError::from(error).into_response();
        }
    }
    let mut response = Redirect::to("/admin/login").into_response();
    set_cookie(&mut response, &session_cookie(admin_sessions::COOKIE, "", 0));
    response
}
