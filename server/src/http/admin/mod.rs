//! `/admin`: the administrator's pages. Server-rendered, working without
//! JavaScript (a small script adds confirm dialogs and a live filter).
//! Every page needs an [`Admin`] session: password, then TOTP, in a cookie
//! (`HttpOnly; Secure; SameSite=Strict`), and — unless configured off — the
//! client certificate the session was opened with. Every state-changing
//! form carries the session's CSRF token; actions call the same library
//! functions as the command line, so both leave the same audit trail.

mod audit;
mod certificates;
mod dashboard;
mod modes;
mod page;
mod requests;
mod signin;
mod users;

use crate::state::AppState;
use axum::routing::get;
use axum::Router;

pub fn routes() -> Router<AppState> {
    Router::new()
        .merge(signin::routes())
        .merge(dashboard::routes())
        .merge(requests::routes())
        .merge(users::routes())
        .merge(certificates::routes())
        .merge(modes::routes())
        .merge(audit::routes())
        .route("/admin/static/admin.js", get(page::script))
}
