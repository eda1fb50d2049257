//! Users: the list, inviting a new user by mail, one user's page and its
//! actions (disable, enable, reset 2FA, promote, demote, certificate
//! renewal on or off).

use super::certificates::{cert_rows, CertRow};
use super::page::{outcome, render, Admin, Flash};
use crate::access_requests;
use crate::certificates;
use crate::error::Error;
use crate::http::error::ApiError;
use crate::state::AppState;
use crate::users;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/users", get(users_page).post(create_user))
        .route("/admin/users/{username}", get(user_page))
        .route("/admin/users/{username}/action", post(user_action))
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
    let certs = certificates::list(&state.ctx).await?;
    let now = state.ctx.clock.now();
    let rows = users::list(&state.ctx)
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
    let result = access_requests::invite(
        &state.ctx,
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
    let yourself = username.eq_ignore_ascii_case(&admin.session.username);
    let result = match form.action.as_str() {
        "disable" | "demote" if yourself => Err(Error::invalid(
            "action",
            "you cannot disable or demote yourself; ask another administrator",
        )),
        "disable" => users::set_disabled(&state.ctx, &username, true, admin.actor())
            .await
            .map(|()| format!("Disabled {username}; their sessions have ended.")),
        "enable" => users::set_disabled(&state.ctx, &username, false, admin.actor())
            .await
            .map(|()| format!("Enabled {username}.")),
        "reset-2fa" => users::reset_two_factor(&state.ctx, &username, admin.actor())
            .await
            .map(|()| {
                format!("Reset the second factor of {username}; they enrol again at their next login.")
            }),
        "promote" => users::set_admin(&state.ctx, &username, true, admin.actor())
            .await
            .map(|()| format!("{username} is now an administrator.")),
        "demote" => users::set_admin(&state.ctx, &username, false, admin.actor())
            .await
            .map(|()| format!("{username} is no longer an administrator.")),
        "renewal-allow" => users::set_renewal(&state.ctx, &username, true, admin.actor())
            .await
            .map(|()| format!("The devices of {username} renew their certificates again.")),
        "renewal-deny" => users::set_renewal(&state.ctx, &username, false, admin.actor())
            .await
            .map(|()| {
                format!("Renewal is off for {username}: their certificates run out, and they ask for access again.")
            }),
        _ => Err(Error::invalid("action", "unknown action")),
    };
    outcome("/admin/users", result)
}

struct UserView {
    username: String,
    email: String,
    is_admin: bool,
    disabled: bool,
    totp_enrolled: bool,
    renewal_disabled: bool,
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
    let user = users::require(&state.ctx, &username).await?;
    let now = state.ctx.clock.now();
    let certs = certificates::list(&state.ctx)
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
                renewal_disabled: user.renewal_disabled,
            },
        },
    ))
}
