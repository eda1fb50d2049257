//! The provisioning flow as a requester and an administrator walk it:
//! request access, approve on the command line, open the mailed one-time
//! link, choose a password and download the certificate package.

use crate::{find_link, Answer, Connection, TestServer};
use anyhow::{bail, Context, Result};
use http::{Method, StatusCode};

pub async fn submit_request(server: &TestServer, email: &str, name: &str) -> Result<Answer> {
    let mut anonymous = server.connect(None).await?;
    anonymous
        .post_json(
            "/public/request-access",
            &serde_json::json!({"email": email, "name": name, "reason": "I maintain the billing service"}),
            None,
        )
        .await
}

pub async fn pending_id(server: &TestServer, email: &str) -> Result<i64> {
    let list: serde_json::Value = serde_json::from_str(
        &server
            .cli_ok(&["request", "list", "--state", "pending", "--json"], None)
            .await?,
    )?;
    list.as_array()
        .context("request list is not an array")?
        .iter()
        .find(|r| r["email"] == email)
        .and_then(|r| r["id"].as_i64())
        .context("no pending request for that address")
}

/// Requests, approves through the command line, and returns the link from the mail.
pub async fn approved_link(server: &TestServer, email: &str) -> Result<String> {
    let before = server.outbox()?.len();
    let answer = submit_request(server, email, "Grace Hopper").await?;
    assert_eq!(answer.status, StatusCode::ACCEPTED);
    let id = pending_id(server, email).await?;
    server
        .cli_ok(&["request", "approve", &id.to_string()], None)
        .await?;
    let mails = server.outbox()?;
    let mail = mails.get(before).context("no approval mail in the outbox")?;
    assert!(mail.contains(&format!("To: {email}")), "{mail}");
    find_link(mail, "/public/download-certs/").context("no link in the mail")
}

pub fn path_of(link: &str) -> String {
    let after_scheme = link.trim_start_matches("https://");
    after_scheme[after_scheme.find('/').unwrap_or(0)..].to_owned()
}

pub fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = text.find(start)? + start.len();
    let to = text[from..].find(end)? + from;
    Some(&text[from..to])
}

/// What the confirmation page gives the browser: its CSRF value and cookie.
pub struct Confirmation {
    pub csrf: String,
    pub cookie: String,
    pub html: String,
}

pub async fn open_link(conn: &mut Connection, path: &str) -> Result<Confirmation> {
    let page = conn
        .send(Method::GET, path, &[("accept", "text/html")], None)
        .await?;
    if page.status != StatusCode::OK {
        bail!("link page answered {}", page.status);
    }
    let cookie = page.headers["set-cookie"]
        .to_str()?
        .split(';')
        .next()
        .context("cookie")?
        .to_owned();
    let html = page.text();
    let csrf = between(&html, "name=\"csrf\" value=\"", "\"")
        .context("no csrf field")?
        .to_owned();
    Ok(Confirmation { csrf, cookie, html })
}

/// Redeems a link for a platform: returns the package password and the zip.
pub async fn redeem(
    conn: &mut Connection,
    path: &str,
    platform: &str,
    password: Option<&str>,
) -> Result<(String, Vec<u8>)> {
    let confirmation = open_link(conn, path).await?;
    let mut fields = vec![("csrf", confirmation.csrf.as_str()), ("platform", platform)];
    if let Some(password) = password {
        fields.push(("password", password));
        fields.push(("password_confirm", password));
    }
    let ready = conn.post_form(path, &fields, Some(&confirmation.cookie)).await?;
    if ready.status != StatusCode::OK {
        bail!("redeeming answered {}: {}", ready.status, ready.text());
    }
    let html = ready.text();
    let package_password =
        between(&html, "aria-label=\"Package password\">", "<").context("no password shown")?;
    let download = between(&html, "href=\"/public/packages/", "\"").context("no download button")?;
    let zip = conn.get(&format!("/public/packages/{download}"), None).await?;
    assert_eq!(zip.status, StatusCode::OK);
    assert_eq!(zip.headers["content-type"], "application/zip");
    // The package downloads once.
    assert_eq!(
        conn.get(&format!("/public/packages/{download}"), None)
            .await?
            .status,
        StatusCode::GONE
    );
    Ok((package_password.to_owned(), zip.body.to_vec()))
}
