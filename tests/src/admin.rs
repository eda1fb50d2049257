//! Signing in to the admin pages the way a browser does: the login form's
//! CSRF cookie, password, then the authenticator code (enrolling from the
//! key the page shows on a first sign-in).

use crate::connection::Connection;
use crate::provision::between;
use anyhow::{bail, Context, Result};
use http::{Method, StatusCode};
use sightline_server::auth::totp;

/// An open admin session: the cookies a browser would send, and the CSRF
/// value its forms carry.
#[derive(Debug, Clone)]
pub struct AdminSession {
    pub cookie: String,
    pub csrf: String,
    pub totp_secret: Vec<u8>,
}

impl AdminSession {
    /// Revokes a certificate through the admin pages, as an admin's click does.
    pub async fn revoke(&self, conn: &mut Connection, serial: &str) -> Result<crate::Answer> {
        conn.post_form(
            &format!("/admin/certificates/{serial}/revoke"),
            &[("csrf", &self.csrf), ("reason", "key_compromise")],
            Some(&self.cookie),
        )
        .await
    }
}

/// The `name=value` of each `Set-Cookie` in `answer`.
fn cookies(answer: &crate::Answer) -> Vec<String> {
    answer
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .filter_map(|value| value.split(';').next())
        .map(str::to_owned)
        .collect()
}

/// Signs in as a first-time administrator (enrolling TOTP) over `conn`.
pub async fn admin_sign_in(conn: &mut Connection, username: &str, password: &str) -> Result<AdminSession> {
    let page = conn
        .send(Method::GET, "/admin/login", &[("accept", "text/html")], None)
        .await?;
    let login_csrf_cookie = cookies(&page)
        .into_iter()
        .next()
        .context("no login CSRF cookie")?;
    let html = page.text();
    let csrf = between(&html, "name=\"csrf\" value=\"", "\"")
        .context("no csrf field")?
        .to_owned();
    let answer = conn
        .post_form(
            "/admin/login",
            &[("csrf", &csrf), ("username", username), ("password", password)],
            Some(&login_csrf_cookie),
        )
        .await?;
    if answer.status != StatusCode::OK {
        bail!(
            "admin password step answered {}: {}",
            answer.status,
            answer.text()
        );
    }
    let challenge_cookie = cookies(&answer)
        .into_iter()
        .next()
        .context("no challenge cookie")?;
    let html = answer.text();
    let key: String = between(&html, "aria-label=\"Authenticator key\">", "<")
        .context("no enrolment key (is the admin enrolled already?)")?
        .split_whitespace()
        .collect();
    let secret = totp::decode_secret(&key)?;
    let both = format!("{login_csrf_cookie}; {challenge_cookie}");
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let verified = conn
        .post_form(
            "/admin/login/verify",
            &[("csrf", &csrf), ("code", &totp::code_at(&secret, now))],
            Some(&both),
        )
        .await?;
    let session = cookies(&verified)
        .into_iter()
        .find(|cookie| cookie.starts_with("sightline_admin=") && cookie.len() > "sightline_admin=".len())
        .with_context(|| format!("no session cookie: {} {}", verified.status, verified.text()))?;
    let dashboard = conn
        .send(
            Method::GET,
            "/admin",
            &[("accept", "text/html"), ("cookie", &session)],
            None,
        )
        .await?;
    if dashboard.status != StatusCode::OK {
        bail!("the dashboard answered {}", dashboard.status);
    }
    let html = dashboard.text();
    let csrf = between(&html, "name=\"csrf\" value=\"", "\"")
        .context("no csrf on the dashboard")?
        .to_owned();
    Ok(AdminSession {
        cookie: session,
        csrf,
        totp_secret: secret,
    })
}
