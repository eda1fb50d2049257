//! Running the server as a service: the stop that drains (a streamed
//! answer finishes, queued mail is sent, exit 0; a second stop exits at
//! once), the metrics listener, JSON logs without secrets, `/readyz`, the
//! connection caps and the password throttle under parallel guesses.

use anyhow::{Context, Result};
use http::{Method, StatusCode};
use sightline_proto::StreamEvent;
use sightline_tests::stub::{Behaviour, StubProvider};
use sightline_tests::{first_login, multipart, read_events, Connection, TestServer};
use std::net::IpAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PASSWORD: &str = "harbour-lantern-violet";

/// A server with the stub provider behind a chat mode, and `ada` logged in.
async fn serving_ada(config: &str) -> Result<(TestServer, StubProvider, Connection, String)> {
    let stub = StubProvider::start().await?;
    let config = format!("{}\n{config}", stub.provider_toml());
    let server = TestServer::start_logged(&config, &[]).await?;
    server
        .add_mode("Stub chat", "chat", "stub", &["--model", "stub-vision"])
        .await?;
    let identity = server.add_user("ada", PASSWORD).await?;
    let mut conn = server.connect(Some(&identity)).await?;
    let session = first_login(&mut conn, "ada", PASSWORD).await?;
    Ok((server, stub, conn, session.access_token))
}

async fn ask_streamed(conn: &mut Connection, token: &str) -> Result<http::Response<hyper::body::Incoming>> {
    let (content_type, body) = multipart(&[("mode", None, b"stub-chat"), ("context", None, b"Go on.")]);
    let bearer = format!("Bearer {token}");
    conn.send_streaming(
        Method::POST,
        "/native/analyze",
        &[
            ("content-type", &content_type),
            ("authorization", &bearer),
            ("accept", "text/event-stream"),
        ],
        body,
    )
    .await
}

async fn unsent_mail(server: &TestServer) -> Result<i64> {
    let db = server.database().await?;
    Ok(
        sqlx::query_scalar("SELECT COUNT(*) FROM mail_outbox WHERE sent_at IS NULL")
            .fetch_one(&db)
            .await?,
    )
}

#[tokio::test]
async fn a_stop_lets_the_streamed_answer_finish_sends_queued_mail_and_exits_zero() -> Result<()> {
    let (mut server, stub, mut conn, token) = serving_ada("[server]\nshutdown_grace_secs = 20\n").await?;
    let deltas: Vec<String> = (1..=8).map(|n| format!("part{n} ")).collect();
    stub.set(Behaviour {
        deltas: deltas.clone(),
        delay: Duration::from_millis(400),
        ..Behaviour::default()
    });
    let response = ask_streamed(&mut conn, &token).await?;
    assert_eq!(response.status(), StatusCode::OK);
    // Mail queued just before the stop: an access request tells the admins.
    let mut anonymous = server.connect(None).await?;
    let request = anonymous
        .post_json(
            "/public/request-access",
            &serde_json::json!({"email": "bo@example.com", "name": "Bo"}),
            None,
        )
        .await?;
    assert!(request.status.is_success(), "{}", request.status);
    // Rejecting it from the command line queues a mail for the server to send.
    server.cli_ok(&["request", "reject", "1"], None).await?;

    let stopped_at = Instant::now();
    server.terminate()?;
    let events = read_events(response, Duration::from_secs(15)).await?;
    let text: String = events
        .iter()
        .filter_map(|(event, _)| match event {
            StreamEvent::Delta { text } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(text, deltas.concat(), "the answer was cut: {events:?}");
    assert!(
        matches!(events.last(), Some((StreamEvent::Done { .. }, _))),
        "{events:?}"
    );
    let status = server.wait_exit(Duration::from_secs(25)).await?;
    assert_eq!(status.code(), Some(0), "exit status after a drain");
    assert!(stopped_at.elapsed() < Duration::from_secs(20));
    assert!(
        server.connect(None).await.is_err(),
        "a stopped server still accepts connections"
    );
    assert_eq!(unsent_mail(&server).await?, 0, "mail left in the queue");
    assert!(
        server
            .outbox()?
            .iter()
            .any(|mail| mail.contains("bo@example.com")),
        "the access request's mail was not written"
    );
    let log = server.log_text()?;
    assert!(log.contains("stop asked: draining"), "{log}");
    assert!(log.contains("every connection finished"), "{log}");
    Ok(())
}

#[tokio::test]
async fn a_second_stop_exits_at_once() -> Result<()> {
    let (mut server, stub, mut conn, token) = serving_ada("[server]\nshutdown_grace_secs = 60\n").await?;
    stub.set(Behaviour {
        first_delay: Duration::from_secs(30),
        ..Behaviour::default()
    });
    let _response = ask_streamed(&mut conn, &token).await?;
    server.terminate()?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    server.terminate()?;
    let status = server.wait_exit(Duration::from_secs(5)).await?;
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(status.code(), Some(1), "a forced stop is not a clean one");
    Ok(())
}

async fn scrape(server: &TestServer) -> Result<String> {
    let addr = server.metrics_addr.context("no metrics listener")?;
    let mut tcp = tokio::net::TcpStream::connect(addr).await?;
    tcp.write_all(b"GET /metrics HTTP/1.1\r\nHost: metrics\r\nConnection: close\r\n\r\n")
        .await?;
    let mut answer = String::new();
    tcp.read_to_string(&mut answer).await?;
    anyhow::ensure!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    Ok(answer)
}

/// The value of the sample whose line starts with `series` (name and labels).
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn metrics_move_with_traffic_and_json_logs_hold_no_secret() -> Result<()> {
    let (server, _stub, mut conn, token) =
        serving_ada("[metrics]\nlisten = \"127.0.0.1:0\"\n\n[log]\nformat = \"json\"\n").await?;
    let before = scrape(&server).await?;

    assert_eq!(conn.get("/native/me", Some(&token)).await?.status, StatusCode::OK);
    let wrong = conn
        .post_json(
            "/native/login",
            &serde_json::json!({"username": "ada", "password": "not-the-password"}),
            None,
        )
        .await?;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    // Plain HTTP to the TLS port: a failed handshake.
    let mut plain = tokio::net::TcpStream::connect(server.addr).await?;
    plain.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await?;
    let mut ignored = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), plain.read_to_end(&mut ignored)).await;

    let after = scrape(&server).await?;
    let native_ok = "sightline_http_requests_total{class=\"native\",status=\"200\"}";
    assert!(
        sample(&after, native_ok) >= sample(&before, native_ok) + 1.0,
        "{after}"
    );
    let refused = "sightline_logins_total{step=\"password\",outcome=\"refused\"}";
    assert_eq!(sample(&after, refused), sample(&before, refused) + 1.0, "{after}");
    let accepted = "sightline_logins_total{step=\"second_factor\",outcome=\"accepted\"}";
    assert_eq!(sample(&after, accepted), 1.0, "{after}");
    let failed = "sightline_tls_handshake_failures_total{reason=\"protocol\"}";
    assert!(sample(&after, failed) >= 1.0, "{after}");
    assert!(sample(&after, "sightline_tls_handshakes_total") >= 1.0, "{after}");
    assert!(sample(&after, "sightline_open_connections") >= 1.0, "{after}");
    assert!(after.contains("sightline_mail_queued "), "{after}");
    assert!(
        after.contains("sightline_http_request_duration_seconds_bucket"),
        "{after}"
    );

    // The main port does not serve the metrics.
    let mut anonymous = server.connect(None).await?;
    let on_main = anonymous.get("/metrics", None).await?;
    assert_ne!(on_main.status, StatusCode::OK);

    let log = server.log_text()?;
    let mut access_lines = 0;
    for line in log.lines().filter(|line| !line.trim().is_empty()) {
        let entry: serde_json::Value =
            serde_json::from_str(line).with_context(|| format!("not a JSON line: {line}"))?;
        if entry["target"] == "sightline::access" {
            access_lines += 1;
            for field in ["request_id", "method", "route", "status", "duration_ms", "client"] {
                assert!(!entry[field].is_null(), "{field} missing in {line}");
            }
        }
    }
    assert!(access_lines >= 4, "{log}");
    let me_line = log
        .lines()
        .find(|line| line.contains("\"/native/me\""))
        .context("no access line for /native/me")?;
    let me: serde_json::Value = serde_json::from_str(me_line)?;
    assert!(me["user_id"].is_i64(), "the user is not in {me_line}");
    for secret in [PASSWORD, "not-the-password", token.as_str()] {
        assert!(!log.contains(secret), "the log holds a secret");
    }
    // Nor the private keys of the data directory.
    for key in ["ca/ca.key", "jwt/signing-key.pem"] {
        let path = server.data_dir.join(key);
        if let Ok(pem) = std::fs::read_to_string(&path) {
            let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
            assert!(!log.contains(&body[..40.min(body.len())]), "the log holds {key}");
        }
    }
    Ok(())
}

#[tokio::test]
async fn metrics_are_off_unless_configured() -> Result<()> {
    let server = TestServer::start().await?;
    assert!(server.metrics_addr.is_none());
    let mut anonymous = server.connect(None).await?;
    assert_ne!(anonymous.get("/metrics", None).await?.status, StatusCode::OK);
    Ok(())
}

#[tokio::test]
async fn readyz_fails_while_the_database_cannot_be_read() -> Result<()> {
    if sightline_tests::postgres::requested() {
        return Ok(());
    }
    let server = TestServer::start().await?;
    let mut conn = server.connect(None).await?;
    let ready = conn.get("/readyz", None).await?;
    assert_eq!(ready.status, StatusCode::OK, "{}", ready.text());
    assert_eq!(ready.json()["status"], "ready");

    // Unreadable: without permissions, and (for root, whom permissions do
    // not stop) not where the configuration says.
    let file = server.data_dir.join("sightline.db");
    anyhow::ensure!(file.is_file(), "no database at {}", file.display());
    let aside = server.data_dir.join("sightline.db.aside");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o000))?;
    std::fs::rename(&file, &aside)?;
    let down = conn.get("/readyz", None).await?;
    std::fs::rename(&aside, &file)?;
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))?;
    assert_eq!(down.status, StatusCode::SERVICE_UNAVAILABLE, "{}", down.text());
    assert_eq!(down.error_code(), "not_ready");
    assert!(!down.text().contains("sightline.db"), "the answer names a path");
    // Liveness is not readiness: the process is alive throughout.
    assert_eq!(conn.get("/healthz", None).await?.status, StatusCode::OK);
    assert_eq!(conn.get("/readyz", None).await?.status, StatusCode::OK);
    Ok(())
}

#[tokio::test]
async fn connection_caps_refuse_the_surplus_and_serve_the_rest() -> Result<()> {
    let server = TestServer::start_configured(
        "[server]\nmax_connections = 4\nmax_connections_per_address = 3\n",
        &[],
    )
    .await?;
    let config = server.client_config(None)?;
    let first: IpAddr = [127, 0, 0, 1].into();
    let second: IpAddr = [127, 0, 0, 2].into();
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut conn = Connection::open_from(first, server.addr, config.clone()).await?;
        assert_eq!(conn.get("/healthz", None).await?.status, StatusCode::OK);
        held.push(conn);
    }
    // A fourth from the same address is over its allowance.
    let mut surplus = Connection::open_from(first, server.addr, config.clone()).await?;
    let refused = surplus.get("/healthz", None).await?;
    assert_eq!(refused.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(refused.error_code(), "too_many_connections");
    assert!(refused.headers.contains_key("retry-after"));
    drop(surplus);
    // Another address still has room (once the refused connection is
    // closed), until the total is reached.
    let _other = served_from(&server, second).await?;
    let mut over_total = Connection::open_from(second, server.addr, config.clone()).await?;
    let refused = over_total.get("/healthz", None).await?;
    assert_eq!(refused.error_code(), "too_many_connections");
    drop(over_total);
    // A closed connection frees its place.
    drop(held.pop());
    served_from(&server, first).await?;
    Ok(())
}

/// A connection from `source` that is served, once places freed by closed
/// connections are given back (the server sees a close a moment later).
async fn served_from(server: &TestServer, source: IpAddr) -> Result<Connection> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut conn = Connection::open_from(source, server.addr, server.client_config(None)?).await?;
        if conn.get("/healthz", None).await?.status == StatusCode::OK {
            return Ok(conn);
        }
        anyhow::ensure!(Instant::now() < deadline, "no place was given back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn parallel_wrong_passwords_are_held_to_the_allowance() -> Result<()> {
    let server = TestServer::start().await?;
    let identity = server.add_user("ada", PASSWORD).await?;
    let mut guesses = Vec::new();
    for n in 0..32 {
        let mut conn = server.connect(Some(&identity)).await?;
        guesses.push(tokio::spawn(async move {
            conn.post_json(
                "/native/login",
                &serde_json::json!({"username": "ada", "password": format!("guess-{n}")}),
                None,
            )
            .await
            .map(|answer| answer.error_code())
        }));
    }
    let mut judged = 0;
    let mut locked = 0;
    for guess in guesses {
        match guess.await??.as_str() {
            "invalid_credentials" => judged += 1,
            "too_many_attempts" => locked += 1,
            other => anyhow::bail!("unexpected answer {other}"),
        }
    }
    // The account's allowance is five failures before the lock.
    assert_eq!((judged, locked), (5, 27));
    Ok(())
}
