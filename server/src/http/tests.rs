//! Router tests through `oneshot`: route classes, body errors, and the login
//! flow under a controllable clock (expiry and lockout ends without sleeping).
//! The end-to-end crate repeats the user-facing paths over real TLS.
//!
//! Why this file is long: each rule of the router (a route class, a body
//! error, a login or lockout step) is one test here, all sharing the
//! fixture at the top; split, they would each need it again.

use super::*;
use crate::audit::Actor;
use crate::auth::jwt::{self, JwtKeys};
use crate::auth::totp;
use crate::certificates;
use crate::clock::Clock;
use crate::config::Config;
use crate::tls::PeerCertificate;
use crate::users::{self, NewUser};
use axum::body::Body;
use http_body_util::BodyExt;
use sightline_certs::{CertificateAuthority, Serial, Validity};
use std::net::SocketAddr;
use std::sync::Arc;
use tower::ServiceExt;

struct Fixture {
    app: Router,
    state: AppState,
    clock: Clock,
    peer: Arc<PeerCertificate>,
    _dir: tempfile::TempDir,
}

const PASSWORD: &str = "violet-otter-harbour";

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let db = crate::db::testing::sqlite(dir.path()).await;
    let clock = Clock::system();
    let jwt = JwtKeys::from_pem(&jwt::generate_key_pem().unwrap(), "https://localhost:8443").unwrap();
    let now = time::OffsetDateTime::now_utc();
    let ca = CertificateAuthority::create("t", Validity::days_from(now, 10), Serial::from_random([1; 16]))
        .unwrap();
    let outbox = dir.path().join("outbox");
    let ctx = crate::context::Context::new(db.clone(), Config::default(), ca, outbox, clock.clone()).unwrap();
    let state = AppState::new(ctx, jwt).await.unwrap();
    let user = users::add(
        &state.ctx,
        NewUser {
            username: "ada",
            email: "ada@example.com",
            is_admin: false,
            password: Some(PASSWORD.into()),
        },
        Actor::Cli,
    )
    .await
    .unwrap();
    let mut tx = db.begin().await.unwrap();
    let issued = certificates::issue_for_user(
        &mut tx,
        &state.ctx.ca,
        &user,
        time::Duration::days(10),
        certificates::Device::CommandLine,
        now,
        Actor::Cli,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let peer = Arc::new(PeerCertificate {
        serial_hex: issued.info.serial_hex,
        email: issued.info.email,
        thumbprint: issued.info.thumbprint_sha256,
    });
    Fixture {
        app: router(state.clone()),
        state,
        clock,
        peer,
        _dir: dir,
    }
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    json: serde_json::Value,
    text: String,
}

impl Fixture {
    async fn send(&self, request: axum::http::Request<Body>, with_cert: bool) -> Answer {
        let mut request = request;
        request.extensions_mut().insert(ConnInfo {
            remote_addr: SocketAddr::from(([127, 0, 0, 1], 50000)),
            peer: with_cert.then(|| self.peer.clone()),
        });
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let json = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
        let text = String::from_utf8_lossy(&bytes).into_owned();
        Answer {
            status,
            headers,
            json,
            text,
        }
    }

    async fn post(&self, path: &str, body: serde_json::Value, token: Option<&str>) -> Answer {
        let mut builder = axum::http::Request::post(path).header(header::CONTENT_TYPE, "application/json");
        if let Some(token) = token {
            builder = builder.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        self.send(builder.body(Body::from(body.to_string())).unwrap(), true)
            .await
    }

    async fn get(&self, path: &str, token: &str) -> Answer {
        let request = axum::http::Request::get(path)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap();
        self.send(request, true).await
    }

    /// Logs in, enrolling TOTP, and returns (secret, tokens).
    async fn log_in(&self) -> (Vec<u8>, serde_json::Value) {
        let login = self
            .post(
                "/native/login",
                serde_json::json!({"username": "ada", "password": PASSWORD}),
                None,
            )
            .await;
        assert_eq!(login.status, StatusCode::OK, "{}", login.json);
        let secret =
            totp::secret_from_uri(login.json["enrollment"]["otpauth_uri"].as_str().unwrap()).unwrap();
        let code = totp::code_at(&secret, self.clock.now());
        let tokens = self
            .post(
                "/native/verify-2fa",
                serde_json::json!({"challenge": login.json["challenge"], "code": code}),
                None,
            )
            .await;
        assert_eq!(tokens.status, StatusCode::OK, "{}", tokens.json);
        (secret, tokens.json)
    }
}

fn code_of(answer: &Answer) -> &str {
    answer.json["error"]["code"].as_str().unwrap_or("")
}

#[tokio::test]
async fn route_classes_without_a_certificate() {
    let f = fixture().await;
    let health = f
        .send(
            axum::http::Request::get("/healthz").body(Body::empty()).unwrap(),
            false,
        )
        .await;
    assert_eq!(health.status, StatusCode::OK);

    let me = f
        .send(
            axum::http::Request::get("/native/me")
                .body(Body::empty())
                .unwrap(),
            false,
        )
        .await;
    assert_eq!(me.status, StatusCode::UNAUTHORIZED);
    assert_eq!(code_of(&me), "client_certificate_required");

    let browser = axum::http::Request::get("/admin")
        .header(header::ACCEPT, "text/html,application/xhtml+xml")
        .body(Body::empty())
        .unwrap();
    let page = f.send(browser, false).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.headers[header::LOCATION], "/request-access");

    // A browser asking for the native API still gets the JSON answer.
    let native_html = axum::http::Request::get("/native/me")
        .header(header::ACCEPT, "text/html")
        .body(Body::empty())
        .unwrap();
    assert_eq!(f.send(native_html, false).await.status, StatusCode::UNAUTHORIZED);
}

/// lettre refuses `a<b@x.com`; the request form must refuse it too, not
/// accept it and fail when the approval mail is written.
#[tokio::test]
async fn access_requests_refuse_addresses_lettre_cannot_mail() {
    let f = fixture().await;
    for email in [
        "a<b@x.com",
        "Ada <ada@example.com>",
        "\"a<b\"@x.com",
        "ada@[192.0.2.1]",
    ] {
        let json = f
            .post(
                "/public/request-access",
                serde_json::json!({"email": email, "name": "Ada"}),
                None,
            )
            .await;
        assert_eq!(
            (json.status, code_of(&json)),
            (StatusCode::UNPROCESSABLE_ENTITY, "invalid_email"),
            "{email}"
        );

        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs([("email", email), ("name", "Ada")])
            .finish();
        let form = axum::http::Request::post("/public/request-access")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::ACCEPT, "text/html")
            .body(Body::from(body))
            .unwrap();
        let page = f.send(form, false).await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{email}");
        assert!(
            page.text.contains("Please enter a valid e-mail address."),
            "{email}: {}",
            page.text
        );
    }
    let pending: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM access_requests")
        .fetch_one(&f.state.ctx.db)
        .await
        .unwrap();
    assert_eq!(pending, 0, "no refused address was stored");
}

#[tokio::test]
async fn bad_bodies_get_specific_errors() {
    let f = fixture().await;
    let raw = |body: Body, content_type: &str| {
        axum::http::Request::post("/native/login")
            .header(header::CONTENT_TYPE, content_type)
            .body(body)
            .unwrap()
    };
    let malformed = f
        .send(raw(Body::from("{\"username\":"), "application/json"), true)
        .await;
    assert_eq!(
        (malformed.status, code_of(&malformed)),
        (StatusCode::BAD_REQUEST, "invalid_json")
    );

    let wrong_type = f.send(raw(Body::from("username=ada"), "text/plain"), true).await;
    assert_eq!(
        (wrong_type.status, code_of(&wrong_type)),
        (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
    );

    let huge = format!(
        "{{\"username\":\"{}\",\"password\":\"x\"}}",
        "a".repeat(JSON_BODY_LIMIT)
    );
    let too_big = f.send(raw(Body::from(huge), "application/json"), true).await;
    assert_eq!(
        (too_big.status, code_of(&too_big)),
        (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
    );

    let missing = f
        .send(
            raw(Body::from("{\"username\":\"ada\"}"), "application/json"),
            true,
        )
        .await;
    assert_eq!(
        (missing.status, code_of(&missing)),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_request")
    );

    let wrong_method = f
        .send(
            axum::http::Request::get("/native/login")
                .body(Body::empty())
                .unwrap(),
            true,
        )
        .await;
    assert_eq!(wrong_method.status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn tokens_expire_and_refresh_rotates() {
    let f = fixture().await;
    let (_, tokens) = f.log_in().await;
    assert_eq!(tokens["recovery_codes"].as_array().unwrap().len(), 10);
    let access = tokens["access_token"].as_str().unwrap();
    let me = f.get("/native/me", access).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.json["username"], "ada");

    f.clock.advance(901);
    let expired = f.get("/native/me", access).await;
    assert_eq!(
        (expired.status, code_of(&expired)),
        (StatusCode::UNAUTHORIZED, "token_expired")
    );

    let refreshed = f
        .post(
            "/native/refresh",
            serde_json::json!({"refresh_token": tokens["refresh_token"]}),
            None,
        )
        .await;
    assert_eq!(refreshed.status, StatusCode::OK);
    assert!(refreshed.json.get("recovery_codes").is_none());
    let fresh = refreshed.json["access_token"].as_str().unwrap();
    assert_eq!(f.get("/native/me", fresh).await.status, StatusCode::OK);

    let logout = f.post("/native/logout", serde_json::json!({}), Some(fresh)).await;
    assert_eq!(logout.status, StatusCode::NO_CONTENT);
    assert_eq!(code_of(&f.get("/native/me", fresh).await), "invalid_token");
    let after = f
        .post(
            "/native/refresh",
            serde_json::json!({"refresh_token": refreshed.json["refresh_token"]}),
            None,
        )
        .await;
    assert_eq!(code_of(&after), "invalid_refresh_token");
}

#[tokio::test]
async fn second_factor_locks_after_five_failures_and_unlocks_later() {
    let f = fixture().await;
    let (secret, _) = f.log_in().await;
    f.clock.advance(60);
    let challenge = || async {
        let login = f
            .post(
                "/native/login",
                serde_json::json!({"username": "ada", "password": PASSWORD}),
                None,
            )
            .await;
        assert!(login.json.get("enrollment").is_none());
        login.json["challenge"].clone()
    };
    let wrong = if totp::code_at(&secret, f.clock.now()) == "000000" {
        "111111"
    } else {
        "000000"
    };

    // A challenge takes three codes, then it is spent.
    let first = challenge().await;
    for _ in 0..3 {
        let answer = f
            .post(
                "/native/verify-2fa",
                serde_json::json!({"challenge": first, "code": wrong}),
                None,
            )
            .await;
        assert_eq!(code_of(&answer), "invalid_code");
    }
    let spent = f
        .post(
            "/native/verify-2fa",
            serde_json::json!({"challenge": first, "code": wrong}),
            None,
        )
        .await;
    assert_eq!(code_of(&spent), "invalid_challenge");

    // Two more failures (five in all) lock the second factor, even for the right code.
    let second = challenge().await;
    let fourth = f
        .post(
            "/native/verify-2fa",
            serde_json::json!({"challenge": second, "code": wrong}),
            None,
        )
        .await;
    assert_eq!(code_of(&fourth), "invalid_code");
    let fifth = f
        .post(
            "/native/verify-2fa",
            serde_json::json!({"challenge": second, "code": wrong}),
            None,
        )
        .await;
    assert_eq!(fifth.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(fifth.headers[header::RETRY_AFTER], "30");
    let third = challenge().await;
    let correct = totp::code_at(&secret, f.clock.now());
    let locked = f
        .post(
            "/native/verify-2fa",
            serde_json::json!({"challenge": third, "code": correct}),
            None,
        )
        .await;
    assert_eq!(locked.status, StatusCode::TOO_MANY_REQUESTS);

    f.clock.advance(31);
    let correct = totp::code_at(&secret, f.clock.now());
    let unlocked = f
        .post(
            "/native/verify-2fa",
            serde_json::json!({"challenge": third, "code": correct}),
            None,
        )
        .await;
    assert_eq!(unlocked.status, StatusCode::OK, "{}", unlocked.json);
}

#[tokio::test]
async fn parallel_guesses_each_count() {
    let f = fixture().await;
    let (secret, _) = f.log_in().await;
    f.clock.advance(60);
    let wrong = if totp::code_at(&secret, f.clock.now()) == "000000" {
        "111111"
    } else {
        "000000"
    };
    // Ten challenges, three guesses each, all at once: without atomic
    // counting most of them would be judged against a stale count.
    let mut challenges = Vec::new();
    for _ in 0..10 {
        let login = f
            .post(
                "/native/login",
                serde_json::json!({"username": "ada", "password": PASSWORD}),
                None,
            )
            .await;
        challenges.push(login.json["challenge"].clone());
    }
    let guesses = challenges
        .iter()
        .flat_map(|c| std::iter::repeat_n(c.clone(), 3))
        .map(|challenge| {
            f.post(
                "/native/verify-2fa",
                serde_json::json!({"challenge": challenge, "code": wrong}),
                None,
            )
        });
    let answers = futures_util::future::join_all(guesses).await;
    let judged = answers.iter().filter(|a| code_of(a) == "invalid_code").count();
    assert!(
        judged < 5,
        "{judged} guesses were judged as wrong before the lock (the fifth locks)"
    );
    assert!(answers.iter().any(|a| a.status == StatusCode::TOO_MANY_REQUESTS));
}

#[tokio::test]
async fn recovery_codes_work_once() {
    let f = fixture().await;
    let (_, tokens) = f.log_in().await;
    let recovery = tokens["recovery_codes"][0].as_str().unwrap().to_lowercase();
    for expected in [StatusCode::OK, StatusCode::UNAUTHORIZED] {
        let login = f
            .post(
                "/native/login",
                serde_json::json!({"username": "ada", "password": PASSWORD}),
                None,
            )
            .await;
        let answer = f
            .post(
                "/native/verify-2fa",
                serde_json::json!({"challenge": login.json["challenge"], "code": recovery}),
                None,
            )
            .await;
        assert_eq!(answer.status, expected, "{}", answer.json);
    }
}

#[tokio::test]
async fn a_challenge_expires() {
    let f = fixture().await;
    let login = f
        .post(
            "/native/login",
            serde_json::json!({"username": "ada", "password": PASSWORD}),
            None,
        )
        .await;
    let secret = totp::secret_from_uri(login.json["enrollment"]["otpauth_uri"].as_str().unwrap()).unwrap();
    f.clock.advance(301);
    let code = totp::code_at(&secret, f.clock.now());
    let answer = f
        .post(
            "/native/verify-2fa",
            serde_json::json!({"challenge": login.json["challenge"], "code": code}),
            None,
        )
        .await;
    assert_eq!(code_of(&answer), "invalid_challenge");
}

#[tokio::test]
async fn password_failures_lock_the_account_name_for_a_while() {
    let f = fixture().await;
    let wrong = serde_json::json!({"username": "ada", "password": "not-the-password-at-all"});
    for _ in 0..5 {
        let answer = f.post("/native/login", wrong.clone(), None).await;
        assert_eq!(code_of(&answer), "invalid_credentials");
    }
    let right = serde_json::json!({"username": "ada", "password": PASSWORD});
    let locked = f.post("/native/login", right.clone(), None).await;
    assert_eq!(locked.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(locked.headers.contains_key(header::RETRY_AFTER));
    // An unknown name is throttled exactly alike, so the lock reveals nothing.
    let ghost = serde_json::json!({"username": "ghost", "password": "not-the-password-at-all"});
    for _ in 0..5 {
        f.post("/native/login", ghost.clone(), None).await;
    }
    assert_eq!(
        f.post("/native/login", ghost, None).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );

    f.clock.advance(31);
    assert_eq!(f.post("/native/login", right, None).await.status, StatusCode::OK);
}

#[tokio::test]
async fn admin_sessions_end_when_idle_or_old_and_are_bound_to_their_certificate() {
    use crate::admin_sessions;
    let f = fixture().await;
    sqlx::query("UPDATE users SET is_admin = 1")
        .execute(&f.state.ctx.db)
        .await
        .unwrap();
    let user_id: i64 = sqlx::query_scalar("SELECT id FROM users")
        .fetch_one(&f.state.ctx.db)
        .await
        .unwrap();
    let open = |thumbprint: [u8; 32]| {
        let state = f.state.clone();
        async move {
            let mut conn = state.ctx.db.acquire().await.unwrap();
            let now = state.ctx.clock.now();
            admin_sessions::open(&state.ctx, &mut conn, user_id, &thumbprint, "127.0.0.1", now)
                .await
                .unwrap()
                .0
        }
    };
    let find = |cookie: String, thumbprint: [u8; 32]| {
        let state = f.state.clone();
        async move {
            admin_sessions::find(&state.ctx, &cookie, Some(&thumbprint))
                .await
                .unwrap()
                .is_some()
        }
    };
    let device = f.peer.thumbprint;

    // Idle: 30 minutes without a request ends it; activity keeps it alive.
    let cookie = open(device).await;
    assert!(find(cookie.clone(), device).await);
    assert!(
        !find(cookie.clone(), [9; 32]).await,
        "another certificate cannot use it"
    );
    f.clock.advance(25 * 60);
    assert!(find(cookie.clone(), device).await);
    f.clock.advance(25 * 60);
    assert!(
        find(cookie.clone(), device).await,
        "still alive: it was used 25 minutes ago"
    );
    f.clock.advance(31 * 60);
    assert!(!find(cookie, device).await, "idle for 31 minutes");

    // Absolute: 8 hours after sign-in, however busy.
    let cookie = open(device).await;
    for _ in 0..16 {
        f.clock.advance(29 * 60);
        assert!(find(cookie.clone(), device).await);
    }
    f.clock.advance(29 * 60);
    assert!(!find(cookie, device).await, "older than 8 hours");
}

#[tokio::test]
async fn resetting_the_second_factor_ends_admin_sessions_too() {
    use crate::admin_sessions;
    let f = fixture().await;
    sqlx::query("UPDATE users SET is_admin = 1")
        .execute(&f.state.ctx.db)
        .await
        .unwrap();
    let user_id: i64 = sqlx::query_scalar("SELECT id FROM users")
        .fetch_one(&f.state.ctx.db)
        .await
        .unwrap();
    let mut conn = f.state.ctx.db.acquire().await.unwrap();
    let (cookie, _) = admin_sessions::open(
        &f.state.ctx,
        &mut conn,
        user_id,
        &f.peer.thumbprint,
        "127.0.0.1",
        f.clock.now(),
    )
    .await
    .unwrap();
    drop(conn);
    assert!(
        admin_sessions::find(&f.state.ctx, &cookie, Some(&f.peer.thumbprint))
            .await
            .unwrap()
            .is_some()
    );
    users::reset_two_factor(&f.state.ctx, "ada", Actor::Cli)
        .await
        .unwrap();
    assert!(
        admin_sessions::find(&f.state.ctx, &cookie, Some(&f.peer.thumbprint))
            .await
            .unwrap()
            .is_none()
    );
}
