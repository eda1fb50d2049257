//! The admin pages' gate (the pages themselves are driven in Chromium by
//! `tests/browser`).

use anyhow::Result;
use http::{Method, StatusCode};
use sightline_tests::TestServer;

#[tokio::test]
async fn admin_pages_need_a_certificate_unless_configured_otherwise() -> Result<()> {
    let html = [("accept", "text/html")];
    let strict = TestServer::start().await?;
    let refused = strict
        .connect(None)
        .await?
        .send(Method::GET, "/admin/login", &html, None)
        .await?;
    assert_eq!(
        (refused.status, refused.headers["location"].to_str()?),
        (StatusCode::SEE_OTHER, "/request-access")
    );
    // With the admin's certificate the sign-in page shows, with a strict CSRF cookie.
    let admin = strict.admin_identity()?;
    let page = strict
        .connect(Some(&admin))
        .await?
        .send(Method::GET, "/admin/login", &html, None)
        .await?;
    assert_eq!(page.status, StatusCode::OK);
    let cookie = page.headers["set-cookie"].to_str()?;
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("Secure") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    assert_eq!(page.headers["x-frame-options"], "DENY");
    // Browsers are told to come back over HTTPS only.
    assert_eq!(page.headers["strict-transport-security"], "max-age=31536000");
    // Pages behind the session send the browser to the sign-in.
    let users = strict
        .connect(Some(&admin))
        .await?
        .send(Method::GET, "/admin/users", &html, None)
        .await?;
    assert_eq!(
        (users.status, users.headers["location"].to_str()?),
        (StatusCode::SEE_OTHER, "/admin/login")
    );

    let open = TestServer::start_configured("[admin]\nrequire_client_certificate = false", &[]).await?;
    let page = open
        .connect(None)
        .await?
        .send(Method::GET, "/admin/login", &html, None)
        .await?;
    assert_eq!(
        page.status,
        StatusCode::OK,
        "password + TOTP only when configured"
    );
    // The rest of the product still needs certificates.
    let native = open.connect(None).await?.get("/native/me", None).await?;
    assert_eq!(native.error_code(), "client_certificate_required");
    Ok(())
}
