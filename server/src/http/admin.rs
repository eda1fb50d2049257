//! `/admin`: the administrator's pages. Server-rendered, working without
//! JavaScript (a small script adds confirm dialogs and a live filter).
//! Every page needs an [`Admin`] session: password, then TOTP, in a cookie
//! (`HttpOnly; Secure; SameSite=Strict`), and — unless configured off — the
//! client certificate the session was opened with. Every state-changing
//! form carries the session's CSRF token; actions call the same library
//! functions as the command line, so both leave the same audit trail.

use super::{cookie, csrf_matches};
use crate::admin_sessions::{self, AdminSession};
use crate::auth::totp;
use crate::certificates::{self, CertificateRecord};
use crate::db::{self, Actor, AuditFilter, AuditRecord};
use crate::error::{ApiError, Error};
use crate::login::{self, Origin, Purpose};
use crate::modes::{self, Mode, ModeOptions};
use crate::requests::{self, format_time, RequestState};
use crate::state::AppState;
use crate::tls::ConnInfo;
use crate::users;
use askama::Template;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;
use sightline_certs::RevocationReason;
use sightline_proto::{ErrorCode, LoginRequest, ModeKind, Secret};

const LOGIN_COOKIE: &str = "sightline_admin_login";
const LOGIN_CSRF_COOKIE: &str = "sightline_admin_csrf";
const ADMIN_SCRIPT: &str = include_str!("../../static/admin.js");

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin", get(dashboard))
        .route("/admin/login", get(login_page).post(login_password))
        .route("/admin/login/verify", post(login_code))
        .route("/admin/logout", post(logout))
        .route("/admin/static/admin.js", get(script))
        .route("/admin/requests", get(requests_page))
        .route("/admin/requests/{id}/decide", post(decide))
        .route("/admin/requests/bulk-approve", post(bulk_approve))
        .route("/admin/users", get(users_page).post(create_user))
        .route("/admin/users/{username}", get(user_page))
        .route("/admin/users/{username}/action", post(user_action))
        .route("/admin/certificates", get(certificates_page))
        .route("/admin/certificates/{serial}/revoke", post(revoke))
        .route("/admin/modes", get(modes_page).post(create_mode))
        .route("/admin/modes/{slug}", get(mode_page).post(update_mode))
        .route("/admin/modes/{slug}/delete", post(delete_mode))
        .route("/admin/audit", get(audit_page))
}

fn render(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(error) => {
            tracing::error!(%error, "admin template failed");
            ApiError::internal().into_response()
        }
    }
}

fn set_cookie(response: &mut Response, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

fn session_cookie(name: &str, value: &str, max_age: i64) -> String {
    format!("{name}={value}; Path=/admin; HttpOnly; Secure; SameSite=Strict; Max-Age={max_age}")
}

/// A signed-in administrator. Without a valid session, browsers are sent
/// to the sign-in page.
#[derive(Debug, Clone)]
pub struct Admin {
    session: AdminSession,
    client: std::net::IpAddr,
    /// The serial of the certificate this browser presents, if any.
    certificate: Option<String>,
}

impl Admin {
    fn actor(&self) -> Actor<'_> {
        Actor::Web(&self.session.username, self.client)
    }

    /// A 403 answer unless `token` is this session's CSRF token.
    fn refuse_unless_csrf(&self, token: &str) -> Option<Response> {
        (!csrf_matches(&self.session.csrf_token, token)).then(forbidden)
    }
}

fn forbidden() -> Response {
    (StatusCode::FORBIDDEN, Html("<!doctype html><title>Refused</title><p>This form has expired or did not come from this site. Reload the page and try again.</p>")).into_response()
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let to_login = || Redirect::to("/admin/login").into_response();
        let conn = parts.extensions.get::<ConnInfo>().cloned().ok_or_else(to_login)?;
        let cookie = cookie(&parts.headers, admin_sessions::COOKIE).ok_or_else(to_login)?;
        let thumbprint = conn.peer.as_ref().map(|p| p.thumbprint.as_slice());
        match admin_sessions::find(state, &cookie, thumbprint).await {
            Ok(Some(session)) => Ok(Self {
                session,
                client: conn.remote_addr.ip(),
                certificate: conn.peer.as_ref().map(|p| p.serial_hex.clone()),
            }),
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

// ---------------------------------------------------------------- sign-in

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
    match login::login(&state, origin(&conn), request, Purpose::Admin).await {
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
            let message = match error.code {
                ErrorCode::TooManyAttempts => format!(
                    "Too many attempts. Try again in {} seconds.",
                    error.retry_after.unwrap_or(60)
                ),
                _ => error.message,
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
    match login::verify_second_factor(&state, origin(&conn), &challenge, &form.code, Purpose::Admin).await {
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
            let opened = admin_sessions::open(&state, &mut tx, user_id, &thumbprint, &client, now).await;
            let audited = db::audit(
                &mut *tx,
                now,
                db::AuditEvent {
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
                    state.config.admin.absolute_timeout_secs,
                ),
            );
            set_cookie(&mut response, &session_cookie(LOGIN_COOKIE, "", 0));
            response
        }
        Err(error) => {
            let message = match error.code {
                ErrorCode::TooManyAttempts => format!(
                    "Too many wrong codes. Try again in {} seconds.",
                    error.retry_after.unwrap_or(60)
                ),
                ErrorCode::InvalidChallenge => return Redirect::to("/admin/login").into_response(),
                _ => error.message,
            };
            // While enrolling, show the same QR code again.
            let enrollment = login::pending_enrollment(&state, &challenge)
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

#[derive(Deserialize)]
struct CsrfOnly {
    #[serde(default)]
    csrf: String,
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
        if let Err(error) = admin_sessions::end(&state, &value, &admin.session.username).await {
            return ApiError::from(error).into_response();
        }
    }
    let mut response = Redirect::to("/admin/login").into_response();
    set_cookie(&mut response, &session_cookie(admin_sessions::COOKIE, "", 0));
    response
}

// ---------------------------------------------------------------- pages

/// Notices arrive in the query string after a redirect (post/redirect/get).
#[derive(Deserialize, Default)]
struct Flash {
    notice: Option<String>,
    error: Option<String>,
}

fn back(path: &str, key: &str, message: &str) -> Response {
    let separator = if path.contains('?') { '&' } else { '?' };
    Redirect::to(&format!("{path}{separator}{key}={}", url_encode(message))).into_response()
}

fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => char::from(b).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

fn outcome(path: &str, result: Result<String, Error>) -> Response {
    match result {
        Ok(notice) => back(path, "notice", &notice),
        Err(error @ (Error::Invalid { .. } | Error::NotFound(_) | Error::Conflict(_))) => {
            back(path, "error", &capitalised(&error.to_string()))
        }
        Err(error) => ApiError::from(error).into_response(),
    }
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect::<String>() + ".")
        .unwrap_or_default()
}

struct AuditRow {
    when: String,
    actor: String,
    action: String,
    subject: String,
    client_addr: String,
    detail: String,
}

fn audit_rows(records: Vec<AuditRecord>) -> Vec<AuditRow> {
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
    let counts = db::counts(&state.db, state.clock.now()).await?;
    let (events, _) = db::audit_search(&state.db, &AuditFilter::default(), 0, 10).await?;
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
    let rows = requests::list(&state.db, Some(tab), 500)
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
        "approve" => requests::approve(&state, id, note, admin.actor()).await.map(|a| {
            format!(
                "Approved {}; the one-time link was sent to them.",
                a.request.email
            )
        }),
        "reject" => requests::reject(&state, id, note, admin.actor())
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
        match requests::approve(&state, id, None, admin.actor()).await {
            Ok(a) => approved.push(a.request.email),
            Err(error) => failed.push(format!("{id}: {error}")),
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

struct UserRow {
    username: String,
    email: String,
    is_admin: bool,
    disabled: bool,
    totp_enrolled: bool,
    certificates: usize,
}

#[derive(Template)]
#[template(path = "admin_users.html")]
struct UsersPage {
    section: &'static str,
    admin: String,
    csrf: String,
    notice: Option<String>,
    error: Option<String>,
    users: Vec<UserRow>,
}

async fn users_page(
    State(state): State<AppState>,
    admin: Admin,
    Query(flash): Query<Flash>,
) -> Result<Response, ApiError> {
    let certs = certificates::list(&state.db).await?;
    let now = state.clock.now();
    let rows = users::list(&state.db)
        .await?
        .into_iter()
        .map(|u| UserRow {
            certificates: certs
                .iter()
                .filter(|c| c.username == u.username && c.status(now) == "valid")
                .count(),
            username: u.username,
            email: u.email,
            is_admin: u.is_admin,
            disabled: u.disabled,
            totp_enrolled: u.totp_enrolled,
        })
        .collect();
    Ok(render(
        StatusCode::OK,
        &UsersPage {
            section: "users",
            admin: admin.session.username.clone(),
            csrf: admin.session.csrf_token.clone(),
            notice: flash.notice,
            error: flash.error,
            users: rows,
        },
    ))
}

#[derive(Deserialize)]
struct NewUserForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    admin: Option<String>,
}

async fn create_user(State(state): State<AppState>, admin: Admin, Form(form): Form<NewUserForm>) -> Response {
    if let Some(refused) = admin.refuse_unless_csrf(&form.csrf) {
        return refused;
    }
    let result = requests::invite(
        &state,
        form.email.trim(),
        form.username.trim(),
        form.admin.is_some(),
        admin.actor(),
    )
    .await
    .map(|username| {
        format!(
            "Created {username}; a one-time link to set a password and download the certificate was sent."
        )
    });
    outcome("/admin/users", result)
}

#[derive(Deserialize)]
struct UserActionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    action: String,
}

async fn user_action(
    State(state): State<AppState>,
    admin: Admin,
    Path(username): Path<String>,
    Form(form): Form<UserActionForm>,
) -> Response {
    if let Some(refused) = admin.refuse_unless_csrf(&form.csrf) {
        return refused;
    }
    let now = state.clock.now();
    let yourself = username.eq_ignore_ascii_case(&admin.session.username);
    let result = match form.action.as_str() {
        "disable" | "demote" if yourself => Err(Error::invalid(
            "action",
            "you cannot disable or demote yourself; ask another administrator",
        )),
        "disable" => users::set_disabled(&state.db, now, &username, true, admin.actor())
            .await
            .map(|()| format!("Disabled {username}; their sessions have ended.")),
        "enable" => users::set_disabled(&state.db, now, &username, false, admin.actor())
            .await
            .map(|()| format!("Enabled {username}.")),
        "reset-2fa" => users::reset_two_factor(&state.db, now, &username, admin.actor())
            .await
            .map(|()| {
                format!("Reset the second factor of {username}; they enrol again at their next login.")
            }),
        "promote" => users::set_admin(&state.db, now, &username, true, admin.actor())
            .await
            .map(|()| format!("{username} is now an administrator.")),
        "demote" => users::set_admin(&state.db, now, &username, false, admin.actor())
            .await
            .map(|()| format!("{username} is no longer an administrator.")),
        _ => Err(Error::invalid("action", "unknown action")),
    };
    outcome("/admin/users", result)
}

struct CertRow {
    serial: String,
    username: String,
    issued: String,
    expires: String,
    status: &'static str,
    reason: String,
}

fn cert_rows(records: Vec<CertificateRecord>, now: i64) -> Vec<CertRow> {
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

struct UserView {
    username: String,
    email: String,
    is_admin: bool,
    disabled: bool,
    totp_enrolled: bool,
}

#[derive(Template)]
#[template(path = "admin_user.html")]
struct UserPage {
    section: &'static str,
    admin: String,
    csrf: String,
    notice: Option<String>,
    error: Option<String>,
    user: UserView,
    certificates: Vec<CertRow>,
}

async fn user_page(
    State(state): State<AppState>,
    admin: Admin,
    Path(username): Path<String>,
    Query(flash): Query<Flash>,
) -> Result<Response, ApiError> {
    let user = users::require(&state.db, &username).await?;
    let now = state.clock.now();
    let certs = certificates::list(&state.db)
        .await?
        .into_iter()
        .filter(|c| c.username == user.username)
        .collect();
    Ok(render(
        StatusCode::OK,
        &UserPage {
            section: "users",
            admin: admin.session.username.clone(),
            csrf: admin.session.csrf_token.clone(),
            notice: flash.notice,
            error: flash.error,
            certificates: cert_rows(certs, now),
            user: UserView {
                username: user.username,
                email: user.email,
                is_admin: user.is_admin,
                disabled: user.disabled,
                totp_enrolled: user.totp_enrolled,
            },
        },
    ))
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
    let now = state.clock.now();
    let rows = cert_rows(certificates::list(&state.db).await?, now)
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
    let result = certificates::revoke(&state.db, state.clock.now(), &serial, reason, admin.actor())
        .await
        .map(|c| {
            format!(
                "Revoked certificate {} of {}; it stops working within seconds.",
                c.serial, c.username
            )
        });
    outcome("/admin/certificates", result)
}

struct ModeFormView {
    action: String,
    submit: &'static str,
    name: String,
    kind: String,
    provider: String,
    model: String,
    description: String,
    prompt: String,
    temperature: String,
}

impl ModeFormView {
    fn new_mode() -> Self {
        Self {
            action: "/admin/modes".into(),
            submit: "Create mode",
            name: String::new(),
            kind: "chat".into(),
            provider: String::new(),
            model: String::new(),
            description: String::new(),
            prompt: String::new(),
            temperature: String::new(),
        }
    }

    fn of(mode: &Mode) -> Self {
        Self {
            action: format!("/admin/modes/{}", mode.slug),
            submit: "Save changes",
            name: mode.name.clone(),
            kind: mode.kind.as_str().into(),
            provider: mode.provider.clone(),
            model: mode.model.clone().unwrap_or_default(),
            description: mode.description.clone(),
            prompt: mode.system_prompt.clone(),
            temperature: mode
                .options
                .temperature
                .map(|t| t.to_string())
                .unwrap_or_default(),
        }
    }
}

#[derive(Template)]
#[template(path = "admin_modes.html")]
struct ModesPage {
    section: &'static str,
    admin: String,
    csrf: String,
    notice: Option<String>,
    error: Option<String>,
    modes: Vec<Mode>,
    providers: Vec<String>,
    form: ModeFormView,
}

#[derive(Template)]
#[template(path = "admin_mode_edit.html")]
struct ModeEditPage {
    section: &'static str,
    admin: String,
    csrf: String,
    notice: Option<String>,
    error: Option<String>,
    providers: Vec<String>,
    form: ModeFormView,
}

async fn modes_page(
    State(state): State<AppState>,
    admin: Admin,
    Query(flash): Query<Flash>,
) -> Result<Response, ApiError> {
    Ok(render(
        StatusCode::OK,
        &ModesPage {
            section: "modes",
            admin: admin.session.username.clone(),
            csrf: admin.session.csrf_token.clone(),
            notice: flash.notice,
            error: flash.error,
            modes: modes::list(&state.db).await?,
            providers: state.config.providers.iter().map(|p| p.id.clone()).collect(),
            form: ModeFormView::new_mode(),
        },
    ))
}

async fn mode_page(
    State(state): State<AppState>,
    admin: Admin,
    Path(slug): Path<String>,
    Query(flash): Query<Flash>,
) -> Result<Response, ApiError> {
    let mode = modes::get(&state.db, &slug)
        .await?
        .ok_or_else(|| ApiError::from(Error::NotFound(format!("mode {slug:?}"))))?;
    Ok(render(
        StatusCode::OK,
        &ModeEditPage {
            section: "modes",
            admin: admin.session.username.clone(),
            csrf: admin.session.csrf_token.clone(),
            notice: flash.notice,
            error: flash.error,
            providers: state.config.providers.iter().map(|p| p.id.clone()).collect(),
            form: ModeFormView::of(&mode),
        },
    ))
}

#[derive(Deserialize)]
struct ModeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    provider: String,
    #[serde(default)]
    model: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    prompt: String,
    #[serde(default)]
    temperature: String,
}

fn mode_from_form(form: ModeForm, slug: String) -> Result<Mode, Error> {
    let kind =
        ModeKind::parse(&form.kind).ok_or_else(|| Error::invalid("kind", "choose chat, ocr or rewrite"))?;
    let temperature = match form.temperature.trim() {
        "" => None,
        text => Some(
            text.parse::<f32>()
                .map_err(|_| Error::invalid("temperature", "must be a number between 0 and 2"))?,
        ),
    };
    Ok(Mode {
        slug,
        name: form.name.trim().to_owned(),
        description: form.description.trim().to_owned(),
        kind,
        system_prompt: form.prompt.trim().to_owned(),
        provider: form.provider,
        model: Some(form.model.trim().to_owned()).filter(|m| !m.is_empty()),
        options: ModeOptions {
            temperature,
            max_tokens: None,
        },
    })
}

async fn create_mode(State(state): State<AppState>, admin: Admin, Form(form): Form<ModeForm>) -> Response {
    if let Some(refused) = admin.refuse_unless_csrf(&form.csrf) {
        return refused;
    }
    let result = match mode_from_form(form, String::new()) {
        Ok(mode) => modes::add(&state.db, &state.config, state.clock.now(), &mode, admin.actor())
            .await
            .map(|m| format!("Created the mode {}.", m.name)),
        Err(error) => Err(error),
    };
    outcome("/admin/modes", result)
}

async fn update_mode(
    State(state): State<AppState>,
    admin: Admin,
    Path(slug): Path<String>,
    Form(form): Form<ModeForm>,
) -> Response {
    if let Some(refused) = admin.refuse_unless_csrf(&form.csrf) {
        return refused;
    }
    let result = match mode_from_form(form, slug.clone()) {
        Ok(mode) => modes::update(
            &state.db,
            &state.config,
            state.clock.now(),
            &slug,
            &mode,
            admin.actor(),
        )
        .await
        .map(|m| format!("Saved the mode {}.", m.name)),
        Err(error) => Err(error),
    };
    match result {
        Ok(notice) => back("/admin/modes", "notice", &notice),
        Err(error) => outcome(&format!("/admin/modes/{slug}"), Err(error)),
    }
}

async fn delete_mode(
    State(state): State<AppState>,
    admin: Admin,
    Path(slug): Path<String>,
    Form(form): Form<CsrfOnly>,
) -> Response {
    if let Some(refused) = admin.refuse_unless_csrf(&form.csrf) {
        return refused;
    }
    let result = modes::remove(&state.db, state.clock.now(), &slug, admin.actor())
        .await
        .map(|()| format!("Deleted the mode {slug}."));
    outcome("/admin/modes", result)
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
    let (events, more) = db::audit_search(&state.db, &filter, page, AUDIT_PAGE_SIZE).await?;
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
