//! Accounts and login: init, mTLS, password + TOTP, tokens, refusals.
//!
//! Why this file is long: every path of one capability (logging in over
//! mutual TLS) is a test here, each a whole story from the handshake to the
//! tokens, sharing the few helpers at the top; split, the helpers would be
//! shared across files for no reader's gain.

use anyhow::Result;
use data_encoding::BASE64URL_NOPAD;
use http::{Method, StatusCode};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use sightline_certs::{CertificateAuthority, Serial, Validity};
use sightline_server::auth::jwt::{Claims, JwtKeys};
use sightline_tests::{first_login, totp_now, Connection, Identity, TestServer};
use std::time::{Duration, Instant};

const PASSWORD: &str = "violet-otter-harbour";
const OTHER_PASSWORD: &str = "amber-falcon-meadow";

async fn login(conn: &mut Connection) -> Result<sightline_tests::Answer> {
    conn.post_json(
        "/native/login",
        &serde_json::json!({"username": "ada", "password": PASSWORD}),
        None,
    )
    .await
}

async fn timed_login(conn: &mut Connection, username: &str) -> Result<(sightline_tests::Answer, Duration)> {
    let body = serde_json::json!({"username": username, "password": "not-the-password-at-all"});
    let started = Instant::now();
    let answer = conn.post_json("/native/login", &body, None).await?;
    Ok((answer, started.elapsed()))
}

async fn server_with_ada() -> Result<(TestServer, Identity)> {
    let server = TestServer::start().await?;
    let ada = server.add_user("ada", PASSWORD).await?;
    Ok((server, ada))
}

fn claims_of(token: &str) -> Claims {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&BASE64URL_NOPAD.decode(payload.as_bytes()).unwrap()).unwrap()
}

#[tokio::test]
async fn init_refuses_an_existing_data_dir_and_changes_nothing() -> Result<()> {
    let server = TestServer::start().await?;
    let snapshot = |dir: &std::path::Path| -> Vec<(String, Vec<u8>)> {
        let mut files = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(folder) = stack.pop() {
            for entry in std::fs::read_dir(folder).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else if !path.to_string_lossy().contains("sightline.db") {
                    files.push((path.display().to_string(), std::fs::read(&path).unwrap()));
                }
            }
        }
        files.sort();
        files
    };
    let before = snapshot(&server.data_dir);
    let again = server.cli(&["init", "--hostname", "localhost"], None).await?;
    assert!(!again.status.success());
    let message = String::from_utf8_lossy(&again.stderr);
    assert!(
        message.contains("already exists") && message.contains("changed nothing"),
        "{message}"
    );
    assert_eq!(snapshot(&server.data_dir), before);

    // The keys are private, the certificates public.
    use std::os::unix::fs::PermissionsExt;
    for key in [
        "ca/ca.key",
        "tls/server.key",
        "jwt/signing-key.pem",
        "bootstrap/admin/client.key",
    ] {
        let mode = std::fs::metadata(server.data_dir.join(key))?.permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{key}");
    }
    Ok(())
}

#[tokio::test]
async fn the_whole_login_as_a_client_walks_it() -> Result<()> {
    let (server, ada) = server_with_ada().await?;
    let mut conn = server.connect(Some(&ada)).await?;

    assert_eq!(conn.get("/healthz", None).await?.status, StatusCode::OK);
    let session = first_login(&mut conn, "ada", PASSWORD).await?;
    assert_eq!(session.recovery_codes.len(), 10);

    let claims = claims_of(&session.access_token);
    assert_eq!(claims.aud, "sightline-native");
    assert!(claims.exp - claims.iat <= 900);
    let thumbprint = sightline_certs::sha256(&ada.cert_der()?);
    assert_eq!(claims.cnf.x5t_s256, BASE64URL_NOPAD.encode(&thumbprint));

    let me = conn.get("/native/me", Some(&session.access_token)).await?;
    assert_eq!(me.status, StatusCode::OK);
    let me = me.json();
    assert_eq!(me["username"], "ada");
    assert_eq!(me["email"], "ada@example.com");
    let serial = sightline_certs::inspect(&ada.cert_der()?)?.serial_hex;
    assert_eq!(me["certificate_serial"], serial.as_str());
    assert_eq!(me["token_expires_at"], claims.exp);

    // Refresh rotates; the old refresh token presented again revokes the
    // whole family, the newest token included.
    let first = conn
        .post_json(
            "/native/refresh",
            &serde_json::json!({"refresh_token": session.refresh_token}),
            None,
        )
        .await?;
    assert_eq!(first.status, StatusCode::OK);
    let newest = first.json()["refresh_token"].as_str().unwrap().to_owned();
    let replay = conn
        .post_json(
            "/native/refresh",
            &serde_json::json!({"refresh_token": session.refresh_token}),
            None,
        )
        .await?;
    assert_eq!(
        (replay.status, replay.error_code().as_str()),
        (StatusCode::UNAUTHORIZED, "refresh_token_reused")
    );
    let after = conn
        .post_json(
            "/native/refresh",
            &serde_json::json!({"refresh_token": newest}),
            None,
        )
        .await?;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
    let access = first.json()["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        conn.get("/native/me", Some(&access)).await?.error_code(),
        "invalid_token"
    );

    // The password is stored as argon2id, and the audit trail has the login.
    let db = server.database().await?;
    let hash: String = sqlx::query_scalar("SELECT password_hash FROM users WHERE username = 'ada'")
        .fetch_one(&db)
        .await?;
    assert!(hash.starts_with("$argon2id$"));
    let audit = server.cli_ok(&["audit", "list"], None).await?;
    assert!(
        audit.contains("login.success") && audit.contains("session.revoke"),
        "{audit}"
    );
    assert!(!audit.contains(PASSWORD));
    Ok(())
}

#[tokio::test]
async fn without_a_certificate_only_public_routes_answer() -> Result<()> {
    let server = TestServer::start().await?;
    let mut conn = server.connect(None).await?;
    assert_eq!(conn.get("/healthz", None).await?.status, StatusCode::OK);

    let me = conn.get("/native/me", None).await?;
    assert_eq!(
        (me.status, me.error_code().as_str()),
        (StatusCode::UNAUTHORIZED, "client_certificate_required")
    );
    let login = conn
        .post_json(
            "/native/login",
            &serde_json::json!({"username": "admin", "password": server.admin_password}),
            None,
        )
        .await?;
    assert_eq!(login.error_code(), "client_certificate_required");

    let page = conn
        .send(
            Method::GET,
            "/admin",
            &[("accept", "text/html,application/xhtml+xml")],
            None,
        )
        .await?;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.headers["location"], "/request-access");
    Ok(())
}

/// Connects with `identity` and tries a request; true if the server answered.
async fn server_answers(server: &TestServer, identity: &Identity) -> bool {
    let Ok(mut conn) = server.connect(Some(identity)).await else {
        return false;
    };
    conn.get("/healthz", None).await.is_ok()
}

#[tokio::test]
async fn bad_certificates_are_refused_at_the_handshake() -> Result<()> {
    let (server, ada) = server_with_ada().await?;
    assert!(
        server_answers(&server, &ada).await,
        "control: a good certificate works"
    );
    let now = time::OffsetDateTime::now_utc();

    let foreign_ca = CertificateAuthority::create(
        "Elsewhere",
        Validity::days_from(now, 30),
        Serial::from_random([5; 16]),
    )?;
    let foreign = foreign_ca.issue_client(
        "ada",
        "ada@example.com",
        Validity::days_from(now, 30),
        Serial::from_random([6; 16]),
    )?;
    let foreign = Identity {
        cert_pem: foreign.cert_pem,
        key_pem: foreign.key_pem.expose().to_owned(),
    };
    assert!(!server_answers(&server, &foreign).await, "foreign CA");

    let ca_dir = server.data_dir.join("ca");
    let our_ca = CertificateAuthority::from_pem(
        &std::fs::read_to_string(ca_dir.join("ca.crt"))?,
        &std::fs::read_to_string(ca_dir.join("ca.key"))?,
    )?;
    let long_ago = now - time::Duration::days(400);
    let expired = our_ca.issue_client(
        "ada",
        "ada@example.com",
        Validity::days_from(long_ago, 30),
        Serial::from_random([7; 16]),
    )?;
    let expired = Identity {
        cert_pem: expired.cert_pem,
        key_pem: expired.key_pem.expose().to_owned(),
    };
    assert!(!server_answers(&server, &expired).await, "expired");

    // Signed by our CA, but for servers only.
    let ca_params =
        rcgen::CertificateParams::from_ca_cert_pem(&std::fs::read_to_string(ca_dir.join("ca.crt"))?)?;
    let ca_key = rcgen::KeyPair::from_pem(&std::fs::read_to_string(ca_dir.join("ca.key"))?)?;
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let mut params = rcgen::CertificateParams::new(vec![])?;
    params.subject_alt_names = vec![rcgen::SanType::Rfc822Name("ada@example.com".try_into()?)];
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    params.not_before = now - time::Duration::hours(1);
    params.not_after = now + time::Duration::days(1);
    let key = rcgen::KeyPair::generate()?;
    let server_only = params.signed_by(&key, &ca_cert, &ca_key)?;
    let server_only = Identity {
        cert_pem: server_only.pem(),
        key_pem: key.serialize_pem(),
    };
    assert!(!server_answers(&server, &server_only).await, "no clientAuth EKU");

    assert!(server_answers(&server, &ada).await, "the server is still fine");

    // TLS 1.2 clients are served too, with the same certificate checks.
    let tls12 = |identity: &Identity| -> Result<std::sync::Arc<rustls::ClientConfig>> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(CertificateDer::from_pem_file(ca_dir.join("ca.crt"))?)?;
        let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_protocol_versions(&[&rustls::version::TLS12])?
        .with_root_certificates(roots)
        .with_client_auth_cert(
            vec![identity.cert_der()?],
            PrivateKeyDer::from_pem_slice(identity.key_pem.as_bytes())?,
        )?;
        Ok(std::sync::Arc::new(config))
    };
    let mut old_client = Connection::open(server.addr, tls12(&ada)?).await?;
    assert_eq!(old_client.get("/healthz", None).await?.status, StatusCode::OK);
    let refused = async {
        Connection::open(server.addr, tls12(&expired)?)
            .await?
            .get("/healthz", None)
            .await
    };
    assert!(refused.await.is_err(), "TLS 1.2 with an expired certificate");
    Ok(())
}

#[tokio::test]
async fn tokens_and_logins_are_bound_to_their_certificate() -> Result<()> {
    let (server, ada) = server_with_ada().await?;
    let bob = server.add_user("bob", OTHER_PASSWORD).await?;
    let mut as_ada = server.connect(Some(&ada)).await?;
    let session = first_login(&mut as_ada, "ada", PASSWORD).await?;

    // Ada's token replayed over Bob's certificate.
    let mut as_bob = server.connect(Some(&bob)).await?;
    let replay = as_bob.get("/native/me", Some(&session.access_token)).await?;
    assert_eq!(
        (replay.status, replay.error_code().as_str()),
        (StatusCode::UNAUTHORIZED, "token_binding_mismatch")
    );
    let refresh = as_bob
        .post_json(
            "/native/refresh",
            &serde_json::json!({"refresh_token": session.refresh_token}),
            None,
        )
        .await?;
    assert_eq!(refresh.error_code(), "token_binding_mismatch");

    // Ada's password over Bob's certificate.
    let login = as_bob
        .post_json(
            "/native/login",
            &serde_json::json!({"username": "ada", "password": PASSWORD}),
            None,
        )
        .await?;
    assert_eq!(
        (login.status, login.error_code().as_str()),
        (StatusCode::FORBIDDEN, "certificate_user_mismatch")
    );

    // A second certificate of Ada's own is a different binding too.
    let ada_laptop = server.issue_cert("ada").await?;
    let mut other_device = server.connect(Some(&ada_laptop)).await?;
    assert_eq!(
        other_device
            .get("/native/me", Some(&session.access_token))
            .await?
            .error_code(),
        "token_binding_mismatch"
    );
    Ok(())
}

#[tokio::test]
async fn codes_are_single_use_and_failures_lock_the_second_factor() -> Result<()> {
    let (server, ada) = server_with_ada().await?;
    let mut conn = server.connect(Some(&ada)).await?;
    let session = first_login(&mut conn, "ada", PASSWORD).await?;

    // The code that completed enrolment is spent (its step was used).
    let challenge = login(&mut conn).await?.json()["challenge"].clone();
    let used = session.totp_secret.clone();
    let step_code = sightline_server::auth::totp::code_for_step(
        &used,
        sightline_server::auth::totp::step_at(time::OffsetDateTime::now_utc().unix_timestamp()),
    );
    let reuse = conn
        .post_json(
            "/native/verify-2fa",
            &serde_json::json!({"challenge": challenge, "code": step_code}),
            None,
        )
        .await?;
    // Either this step was the enrolment's (reused) or a new step began in
    // between and the enrolment step is now the previous one: both refuse.
    let reuse_code = reuse.error_code();
    assert!(
        reuse_code == "totp_reused" || reuse.status == StatusCode::OK,
        "{reuse_code}"
    );
    if reuse.status == StatusCode::OK {
        // A new step began: that code is now spent, so replaying it must fail.
        let challenge = login(&mut conn).await?.json()["challenge"].clone();
        let again = conn
            .post_json(
                "/native/verify-2fa",
                &serde_json::json!({"challenge": challenge, "code": step_code}),
                None,
            )
            .await?;
        assert_eq!(again.error_code(), "totp_reused");
    }

    // Five wrong codes lock the second factor, even for the right code. A
    // challenge takes three codes; then the password is needed again.
    let wrong = if totp_now(&used) == "000000" {
        "111111"
    } else {
        "000000"
    };
    let mut challenge = login(&mut conn).await?.json()["challenge"].clone();
    for attempt in 1..=5 {
        if attempt == 4 {
            let spent = conn
                .post_json(
                    "/native/verify-2fa",
                    &serde_json::json!({"challenge": challenge, "code": wrong}),
                    None,
                )
                .await?;
            assert_eq!(
                spent.error_code(),
                "invalid_challenge",
                "a challenge takes three codes"
            );
            challenge = login(&mut conn).await?.json()["challenge"].clone();
        }
        let answer = conn
            .post_json(
                "/native/verify-2fa",
                &serde_json::json!({"challenge": challenge, "code": wrong}),
                None,
            )
            .await?;
        if attempt < 5 {
            assert_eq!(answer.error_code(), "invalid_code", "attempt {attempt}");
        } else {
            assert_eq!(answer.status, StatusCode::TOO_MANY_REQUESTS);
            let retry: u64 = answer.headers["retry-after"].to_str()?.parse()?;
            assert!((1..=30).contains(&retry));
        }
    }
    let challenge = login(&mut conn).await?.json()["challenge"].clone();
    let correct = conn
        .post_json(
            "/native/verify-2fa",
            &serde_json::json!({"challenge": challenge, "code": session.recovery_codes[0]}),
            None,
        )
        .await?;
    assert_eq!(correct.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(correct.headers.contains_key("retry-after"));
    Ok(())
}

#[tokio::test]
async fn unknown_users_and_wrong_passwords_look_the_same() -> Result<()> {
    let (server, ada) = server_with_ada().await?;
    let mut conn = server.connect(Some(&ada)).await?;
    let (wrong_password, known_time) = timed_login(&mut conn, "ada").await?;
    let (unknown_user, unknown_time) = timed_login(&mut conn, "nobody").await?;
    assert_eq!(wrong_password.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong_password.status, unknown_user.status);
    assert_eq!(wrong_password.body, unknown_user.body);
    let header_names = |a: &sightline_tests::Answer| {
        let mut names: Vec<String> = a
            .headers
            .iter()
            // The date and the request id differ between any two answers.
            .filter(|(n, _)| *n != "date" && *n != "x-request-id")
            .map(|(n, v)| format!("{n}: {v:?}"))
            .collect();
        names.sort();
        names
    };
    assert_eq!(header_names(&wrong_password), header_names(&unknown_user));
    // Both paths run one argon2 verification. A missing dummy hash would
    // make unknown users answer an order of magnitude faster.
    assert!(
        unknown_time * 4 >= known_time,
        "unknown user answered in {unknown_time:?}, known user in {known_time:?}"
    );
    Ok(())
}

#[tokio::test]
async fn forged_and_expired_tokens_are_refused() -> Result<()> {
    let (server, ada) = server_with_ada().await?;
    let mut conn = server.connect(Some(&ada)).await?;
    let session = first_login(&mut conn, "ada", PASSWORD).await?;
    let genuine = claims_of(&session.access_token);
    let key_pem = std::fs::read_to_string(server.data_dir.join("jwt").join("signing-key.pem"))?;
    let keys = JwtKeys::from_pem(&key_pem, &genuine.iss)?;
    let header = |alg: &str| {
        BASE64URL_NOPAD.encode(format!(r#"{{"alg":"{alg}","typ":"JWT","kid":"{}"}}"#, keys.kid()).as_bytes())
    };
    let payload = BASE64URL_NOPAD.encode(serde_json::to_string(&genuine)?.as_bytes());

    let mut forgeries = vec![("alg none", format!("{}.{payload}.", header("none")))];
    let public_raw = rcgen::KeyPair::from_pem(&key_pem)?.public_key_raw().to_vec();
    let public_pem = rcgen::KeyPair::from_pem(&key_pem)?.public_key_pem();
    for (name, secret) in [
        ("HS256 with the raw public key", public_raw),
        ("HS256 with the public key PEM", public_pem.into_bytes()),
    ] {
        let signing_input = format!("{}.{payload}", header("HS256"));
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &secret);
        let signature = BASE64URL_NOPAD.encode(ring::hmac::sign(&key, signing_input.as_bytes()).as_ref());
        forgeries.push((name, format!("{signing_input}.{signature}")));
    }
    let mut wrong_audience = genuine.clone();
    wrong_audience.aud = "somewhere-else".into();
    forgeries.push(("wrong aud", keys.sign(&wrong_audience)?));
    let mut expired = genuine.clone();
    expired.iat -= 3600;
    expired.exp = expired.iat + 900;
    forgeries.push(("expired", keys.sign(&expired)?));
    let mut tampered = session.access_token.clone();
    tampered.push('A');
    forgeries.push(("tampered", tampered));

    for (name, token) in forgeries {
        let answer = conn.get("/native/me", Some(&token)).await?;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{name}");
        let code = answer.error_code();
        assert!(
            code == "invalid_token" || code == "token_expired",
            "{name}: {code}"
        );
    }
    assert_eq!(
        conn.get("/native/me", Some(&session.access_token)).await?.status,
        StatusCode::OK
    );
    Ok(())
}

#[tokio::test]
async fn a_disabled_user_loses_access_at_the_next_request() -> Result<()> {
    let (server, ada) = server_with_ada().await?;
    let mut conn = server.connect(Some(&ada)).await?;
    let session = first_login(&mut conn, "ada", PASSWORD).await?;
    assert_eq!(
        conn.get("/native/me", Some(&session.access_token)).await?.status,
        StatusCode::OK
    );
    server.cli_ok(&["user", "disable", "ada"], None).await?;
    let refused = conn.get("/native/me", Some(&session.access_token)).await?;
    assert_eq!(
        (refused.status, refused.error_code().as_str()),
        (StatusCode::FORBIDDEN, "account_disabled")
    );
    let list = server.cli_ok(&["user", "list"], None).await?;
    assert!(
        list.lines()
            .any(|l| l.starts_with("ada ") && l.contains("disabled")),
        "{list}"
    );

    // Re-enabled, the old session stays ended; resetting 2FA means re-enrolling.
    server.cli_ok(&["user", "enable", "ada"], None).await?;
    assert_eq!(
        conn.get("/native/me", Some(&session.access_token)).await?.status,
        StatusCode::UNAUTHORIZED
    );
    server.cli_ok(&["user", "reset-2fa", "ada"], None).await?;
    let login = conn
        .post_json(
            "/native/login",
            &serde_json::json!({"username": "ada", "password": PASSWORD}),
            None,
        )
        .await?;
    assert!(login.json()["enrollment"]["otpauth_uri"].is_string());
    Ok(())
}

#[tokio::test]
async fn a_silent_client_delays_no_one_and_is_dropped() -> Result<()> {
    let server = TestServer::start_with(&["--handshake-timeout-secs", "2"]).await?;
    let ada = server.add_user("ada", PASSWORD).await?;
    let mut silent = tokio::net::TcpStream::connect(server.addr).await?;

    // Others connect, handshake and get answers while it sits there.
    for _ in 0..3 {
        let mut conn = server.connect(Some(&ada)).await?;
        assert_eq!(conn.get("/healthz", None).await?.status, StatusCode::OK);
    }
    // After the handshake timeout the server hangs up on it.
    use tokio::io::AsyncReadExt;
    let mut buffer = [0u8; 16];
    let read = tokio::time::timeout(Duration::from_secs(15), silent.read(&mut buffer)).await?;
    assert!(
        matches!(read, Ok(0) | Err(_)),
        "expected the silent connection to be closed"
    );
    Ok(())
}

#[tokio::test]
async fn bad_input_gets_specific_errors_over_tls() -> Result<()> {
    let (server, ada) = server_with_ada().await?;
    let mut conn = server.connect(Some(&ada)).await?;
    let json = [("content-type", "application/json")];
    let malformed = conn
        .send(
            Method::POST,
            "/native/login",
            &json,
            Some(b"{\"username\": ".to_vec()),
        )
        .await?;
    assert_eq!(
        (malformed.status, malformed.error_code().as_str()),
        (StatusCode::BAD_REQUEST, "invalid_json")
    );
    let wrong_type = conn
        .send(
            Method::POST,
            "/native/login",
            &[("content-type", "text/plain")],
            Some(b"hello".to_vec()),
        )
        .await?;
    assert_eq!(wrong_type.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let huge = format!(
        "{{\"username\":\"{}\",\"password\":\"x\"}}",
        "a".repeat(70 * 1024)
    );
    let too_big = server
        .connect(Some(&ada))
        .await?
        .send(Method::POST, "/native/login", &json, Some(huge.into_bytes()))
        .await?;
    assert_eq!(
        (too_big.status, too_big.error_code().as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
    );
    let not_utf8 = conn
        .send(Method::POST, "/native/login", &json, Some(vec![0xff, 0xfe, b'{']))
        .await?;
    assert_eq!(not_utf8.status, StatusCode::BAD_REQUEST);
    let garbage_token = conn.get("/native/me", Some("\u{1}garbage")).await;
    assert!(garbage_token.is_err() || garbage_token?.status == StatusCode::UNAUTHORIZED);
    let mut fresh = server.connect(Some(&ada)).await?;
    assert_eq!(fresh.get("/healthz", None).await?.status, StatusCode::OK);

    // The command line refuses bad input clearly, too.
    let weak = server
        .cli(
            &[
                "user",
                "add",
                "weak",
                "--email",
                "weak@example.com",
                "--password-stdin",
            ],
            Some("short\n"),
        )
        .await?;
    assert!(!weak.status.success());
    assert!(String::from_utf8_lossy(&weak.stderr).contains("at least 12"));
    let bad_email = server
        .cli(&["user", "add", "x", "--email", "not-an-email"], None)
        .await?;
    assert!(String::from_utf8_lossy(&bad_email.stderr).contains("e-mail"));
    Ok(())
}
