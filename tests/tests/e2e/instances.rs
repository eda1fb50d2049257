//! Several instances: two `serve` processes on one data directory and one
//! real PostgreSQL, behind a real HAProxy sending PROXY protocol v2. What
//! one instance decides, the other knows: packages, sessions, throttles,
//! second-factor steps, revocations and mail.

use anyhow::{Context, Result};
use http::{Method, StatusCode};
use sightline_server::auth::totp;
use sightline_tests::admin::admin_sign_in;
use sightline_tests::haproxy::{Deployment, BALANCER_SOURCE};
use sightline_tests::postgres::Postgres;
use sightline_tests::provision::{between, open_link, path_of, pending_id, submit_request};
use sightline_tests::{find_link, first_login, Connection, TestServer};
use std::net::IpAddr;
use std::time::{Duration, Instant};

const PASSWORD: &str = "violet-otter-harbour";

async fn login(conn: &mut Connection, username: &str, password: &str) -> Result<sightline_tests::Answer> {
    conn.post_json(
        "/native/login",
        &serde_json::json!({"username": username, "password": password}),
        None,
    )
    .await
}

#[tokio::test]
async fn a_request_approved_on_one_instance_downloads_from_the_other() -> Result<()> {
    let deployment = Deployment::start("").await?;
    let server = &deployment.first;
    let admin = server.admin_identity()?;
    // The request goes through the balancer...
    let mut anonymous = deployment.through_balancer_from("127.0.0.1", None).await?;
    let answer = anonymous
        .post_json(
            "/public/request-access",
            &serde_json::json!({"email": "grace@example.com", "name": "Grace Hopper"}),
            None,
        )
        .await?;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.text());
    let id = pending_id(server, "grace@example.com").await?;
    // ...an admin approves it on the first instance...
    let mut admin_first = deployment.connect(server.addr, Some(&admin)).await?;
    let session = admin_sign_in(&mut admin_first, "admin", &server.admin_password).await?;
    let decided = admin_first
        .post_form(
            &format!("/admin/requests/{id}/decide"),
            &[("csrf", &session.csrf), ("decision", "approve"), ("note", "")],
            Some(&session.cookie),
        )
        .await?;
    assert!(
        decided.headers["location"].to_str()?.contains("notice="),
        "{:?}",
        decided.headers
    );
    let mail = server.outbox()?.pop().context("no approval mail")?;
    let link = path_of(&find_link(&mail, "/public/download-certs/").context("no link")?);

    // ...the requester redeems the link on the second, where the package
    // is built...
    let mut on_second = deployment.connect(deployment.second.addr, None).await?;
    let confirmation = open_link(&mut on_second, &link).await?;
    let ready = on_second
        .post_form(
            &link,
            &[
                ("csrf", &confirmation.csrf),
                ("platform", "linux"),
                ("password", "quartz-lantern-meadow-42"),
                ("password_confirm", "quartz-lantern-meadow-42"),
            ],
            Some(&confirmation.cookie),
        )
        .await?;
    assert_eq!(ready.status, StatusCode::OK, "{}", ready.text());
    let html = ready.text();
    let download = between(&html, "href=\"/public/packages/", "\"").context("no download button")?;

    // ...and downloads it from the first, once.
    let mut on_first = deployment.connect(server.addr, None).await?;
    let zip = on_first
        .get(&format!("/public/packages/{download}"), None)
        .await?;
    assert_eq!(zip.status, StatusCode::OK);
    assert_eq!(zip.headers["content-type"], "application/zip");
    assert!(zip.body.starts_with(b"PK"));
    let again = on_second
        .get(&format!("/public/packages/{download}"), None)
        .await?;
    assert_eq!(again.status, StatusCode::GONE);
    let db = server.database().await?;
    let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sealed_packages")
        .fetch_one(&db)
        .await?;
    assert_eq!(stored, 0, "a fetched package is deleted");
    Ok(())
}

#[tokio::test]
async fn failures_and_codes_count_once_across_instances() -> Result<()> {
    let deployment = Deployment::start("").await?;
    let server = &deployment.first;
    let ada = server.add_user("ada", PASSWORD).await?;
    let bob = server.add_user("bob", PASSWORD).await?;
    let (first, second) = (server.addr, deployment.second.addr);

    // Five wrong passwords, alternating between the instances, lock the
    // account on both.
    for attempt in 0..5 {
        let addr = if attempt % 2 == 0 { first } else { second };
        let mut conn = deployment.connect(addr, Some(&ada)).await?;
        let answer = login(&mut conn, "ada", "not-the-password").await?;
        assert_eq!(
            answer.status,
            StatusCode::UNAUTHORIZED,
            "attempt {attempt}: {}",
            answer.text()
        );
    }
    for addr in [first, second] {
        let mut conn = deployment.connect(addr, Some(&ada)).await?;
        let answer = login(&mut conn, "ada", PASSWORD).await?;
        assert_eq!(answer.status, StatusCode::TOO_MANY_REQUESTS, "{}", answer.text());
        assert_eq!(answer.error_code(), "too_many_attempts");
    }

    // The same code sent to both instances at once is accepted once.
    let mut enrol = deployment.connect(first, Some(&bob)).await?;
    let logged_in = first_login(&mut enrol, "bob", PASSWORD).await?;
    let mut on_first = deployment.connect(first, Some(&bob)).await?;
    let mut on_second = deployment.connect(second, Some(&bob)).await?;
    let challenge_first = login(&mut on_first, "bob", PASSWORD).await?.json()["challenge"].clone();
    let challenge_second = login(&mut on_second, "bob", PASSWORD).await?.json()["challenge"].clone();
    // The next step's code: accepted (clock skew), and newer than the one
    // the enrolment used.
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let code = totp::code_for_step(&logged_in.totp_secret, totp::step_at(now) + 1);
    let body = |challenge: &serde_json::Value| serde_json::json!({"challenge": challenge, "code": code});
    let (body_first, body_second) = (body(&challenge_first), body(&challenge_second));
    let (a, b) = tokio::join!(
        on_first.post_json("/native/verify-2fa", &body_first, None),
        on_second.post_json("/native/verify-2fa", &body_second, None),
    );
    let mut statuses = [a?.status, b?.status];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::OK, StatusCode::UNAUTHORIZED]);
    Ok(())
}

#[tokio::test]
async fn the_balancer_passes_on_each_clients_own_address() -> Result<()> {
    let deployment = Deployment::start("").await?;
    let server = &deployment.first;
    let ada = server.add_user("ada", PASSWORD).await?;
    // Twenty failures from one client machine lock that machine out,
    // whichever instance each reached...
    for attempt in 0..20 {
        let mut conn = deployment.through_balancer_from("127.0.0.3", Some(&ada)).await?;
        let answer = login(&mut conn, &format!("nobody{attempt}"), "wrong-password").await?;
        assert_eq!(
            answer.status,
            StatusCode::UNAUTHORIZED,
            "attempt {attempt}: {}",
            answer.text()
        );
    }
    let mut locked = deployment.through_balancer_from("127.0.0.3", Some(&ada)).await?;
    let answer = login(&mut locked, "ada", PASSWORD).await?;
    assert_eq!(answer.status, StatusCode::TOO_MANY_REQUESTS, "{}", answer.text());
    // ...and no one else behind the same balancer.
    let mut other = deployment.through_balancer_from("127.0.0.2", Some(&ada)).await?;
    let answer = login(&mut other, "ada", PASSWORD).await?;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    // The audit trail names the client, not the balancer.
    let audit = server.cli_ok(&["audit", "list", "--limit", "100"], None).await?;
    assert!(
        audit
            .lines()
            .filter(|l| l.contains("login.failure") && l.contains("127.0.0.3"))
            .count()
            >= 20,
        "{audit}"
    );
    assert!(!audit.contains(BALANCER_SOURCE), "{audit}");
    // A PROXY header from anyone but the balancer is never read as one:
    // its bytes go to the handshake, which fails and closes.
    let mut pretender = tokio::net::TcpStream::connect(deployment.second.addr).await?;
    let forged = b"\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x0c\x7f\x00\x00\x04\x7f\x00\x00\x01\x30\x39\x20\xfb";
    tokio::io::AsyncWriteExt::write_all(&mut pretender, forged).await?;
    let mut buffer = [0u8; 64];
    let read = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::io::AsyncReadExt::read(&mut pretender, &mut buffer),
    )
    .await?;
    assert!(
        matches!(read, Ok(0) | Err(_)) || buffer.first() == Some(&0x15),
        "{read:?}"
    );
    // And the balancer's address must send one: a plain TLS client from
    // there is dropped.
    let balancer: IpAddr = BALANCER_SOURCE.parse()?;
    let plain = Connection::open_from(
        balancer,
        deployment.second.addr,
        server.client_config(Some(&ada))?,
    )
    .await;
    assert!(
        plain.is_err(),
        "a connection from the balancer without a PROXY header was served"
    );
    Ok(())
}

#[tokio::test]
async fn a_revocation_on_one_instance_closes_connections_on_the_other() -> Result<()> {
    let deployment = Deployment::start("").await?;
    let server = &deployment.first;
    let ada = server.add_user("ada", PASSWORD).await?;
    let admin = server.admin_identity()?;
    let mut on_second = deployment.connect(deployment.second.addr, Some(&ada)).await?;
    let tokens = first_login(&mut on_second, "ada", PASSWORD).await?;
    let me = on_second.get("/native/me", Some(&tokens.access_token)).await?;
    assert_eq!(me.status, StatusCode::OK);

    let mut admin_conn = deployment.connect(server.addr, Some(&admin)).await?;
    let session = admin_sign_in(&mut admin_conn, "admin", &server.admin_password).await?;
    let serial = server.certificate_serial("ada").await?;
    let answer = session.revoke(&mut admin_conn, &serial).await?;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.text());
    let revoked_at = Instant::now();

    // The kept-alive connection on the other instance is closed.
    let closed_within = loop {
        match on_second.get("/native/me", Some(&tokens.access_token)).await {
            Err(_) => break revoked_at.elapsed(),
            Ok(answer) if answer.status != StatusCode::OK => {
                assert_eq!(answer.error_code(), "certificate_revoked");
            }
            Ok(_) => {}
        }
        assert!(
            revoked_at.elapsed() < Duration::from_secs(5),
            "the connection stayed open"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(closed_within < Duration::from_secs(2), "{closed_within:?}");
    // A new handshake with the certificate is refused there too (TLS 1.3
    // reports it after the handshake, at the first read).
    let refused = match deployment.connect(deployment.second.addr, Some(&ada)).await {
        Err(_) => true,
        Ok(mut conn) => conn.get("/healthz", None).await.is_err(),
    };
    assert!(refused, "a revoked certificate shook hands");
    Ok(())
}

#[tokio::test]
async fn forty_approvals_make_forty_mails_even_when_an_instance_dies() -> Result<()> {
    let mut deployment = Deployment::start("[provisioning]\nrequests_per_address_per_hour = 1000\n").await?;
    let server = &deployment.first;
    let admin = server.admin_identity()?;
    let mut ids = Vec::new();
    for n in 0..40 {
        let email = format!("user{n}@example.com");
        let answer = submit_request(server, &email, "Requester").await?;
        assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.text());
        ids.push(pending_id(server, &email).await?);
    }
    // The admin session opened on the first instance...
    let mut direct = deployment.connect(server.addr, Some(&admin)).await?;
    let session = admin_sign_in(&mut direct, "admin", &server.admin_password).await?;
    // ...works on the second.
    let mut on_second = deployment.connect(deployment.second.addr, Some(&admin)).await?;
    let page = on_second
        .send(
            Method::GET,
            "/admin/requests",
            &[("accept", "text/html"), ("cookie", &session.cookie)],
            None,
        )
        .await?;
    assert_eq!(page.status, StatusCode::OK);

    // Approvals through the balancer, a new connection each, so they spread
    // over both instances; the second is killed half-way.
    for (n, id) in ids.iter().enumerate() {
        if n == 20 {
            deployment.second.kill().await?;
        }
        let mut conn = deployment
            .through_balancer_from("127.0.0.1", Some(&admin))
            .await?;
        let answer = conn
            .post_form(
                &format!("/admin/requests/{id}/decide"),
                &[("csrf", &session.csrf), ("decision", "approve"), ("note", "")],
                Some(&session.cookie),
            )
            .await?;
        assert_eq!(
            answer.status,
            StatusCode::SEE_OTHER,
            "approval {n}: {}",
            answer.text()
        );
    }
    // Every requester gets exactly one mail (a mail the killed instance
    // had queued is sent by the survivor's worker).
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mails = server.outbox()?;
        let mut per_recipient = std::collections::HashMap::<String, usize>::new();
        for mail in &mails {
            if let Some(to) = mail.lines().find_map(|l| l.strip_prefix("To: ")) {
                *per_recipient.entry(to.trim().to_owned()).or_default() += 1;
            }
        }
        assert!(
            per_recipient.values().all(|count| *count == 1),
            "{per_recipient:?}"
        );
        let approved = (0..40)
            .filter(|n| per_recipient.contains_key(&format!("user{n}@example.com")))
            .count();
        if approved == 40 {
            break;
        }
        assert!(Instant::now() < deadline, "only {approved} of 40 approval mails");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // With one instance down, a whole login still works through the balancer.
    let carol = server.add_user("carol", PASSWORD).await?;
    let mut conn = deployment
        .through_balancer_from("127.0.0.1", Some(&carol))
        .await?;
    let tokens = first_login(&mut conn, "carol", PASSWORD).await?;
    let me = conn.get("/native/me", Some(&tokens.access_token)).await?;
    assert_eq!(me.status, StatusCode::OK);
    Ok(())
}

#[tokio::test]
async fn racing_decisions_on_two_instances_give_one_success_and_one_conflict() -> Result<()> {
    let deployment = Deployment::start("").await?;
    let server = &deployment.first;
    let admin = server.admin_identity()?;
    server.add_user("ada", PASSWORD).await?;
    let answer = submit_request(server, "grace@example.com", "Grace Hopper").await?;
    assert_eq!(answer.status, StatusCode::ACCEPTED);
    let id = pending_id(server, "grace@example.com").await?;
    let mut on_first = deployment.connect(server.addr, Some(&admin)).await?;
    let session = admin_sign_in(&mut on_first, "admin", &server.admin_password).await?;
    let mut on_second = deployment.connect(deployment.second.addr, Some(&admin)).await?;

    // Two admins approve the same request at the same moment.
    let decide = format!("/admin/requests/{id}/decide");
    let fields = [
        ("csrf", session.csrf.as_str()),
        ("decision", "approve"),
        ("note", ""),
    ];
    let (a, b) = tokio::join!(
        on_first.post_form(&decide, &fields, Some(&session.cookie)),
        on_second.post_form(&decide, &fields, Some(&session.cookie)),
    );
    assert_one_notice_one_error([a?, b?])?;
    let mails = server.outbox()?;
    let approvals = mails
        .iter()
        .filter(|m| m.contains("To: grace@example.com"))
        .count();
    assert_eq!(approvals, 1, "one approval, one mail");

    // Two revocations of one certificate at the same moment.
    let serial = server.certificate_serial("ada").await?;
    let (a, b) = tokio::join!(
        session.revoke(&mut on_first, &serial),
        session.revoke(&mut on_second, &serial),
    );
    assert_one_notice_one_error([a?, b?])?;
    let audit = server.cli_ok(&["audit", "list"], None).await?;
    assert_eq!(
        audit.lines().filter(|l| l.contains("cert.revoke")).count(),
        1,
        "{audit}"
    );
    Ok(())
}

/// Both answers redirect back (never a 500): one with a notice, one with
/// the conflict in words.
fn assert_one_notice_one_error(answers: [sightline_tests::Answer; 2]) -> Result<()> {
    let mut kinds = Vec::new();
    for answer in &answers {
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.text());
        let location = answer.headers["location"].to_str()?.to_owned();
        kinds.push(if location.contains("notice=") {
            "notice"
        } else if location.contains("error=") {
            "error"
        } else {
            "neither"
        });
    }
    kinds.sort_unstable();
    assert_eq!(kinds, ["error", "notice"]);
    Ok(())
}

#[tokio::test]
async fn instances_started_at_once_on_an_empty_database_both_come_up() -> Result<()> {
    let postgres = Postgres::shared()?;
    let server = TestServer::start_on(Some(postgres.new_database()?), "", &[]).await?;
    let empty = postgres.new_database()?;
    let flags = ["--database-url", empty.as_str()];
    let (a, b) = tokio::join!(server.start_instance(&flags), server.start_instance(&flags));
    let (a, b) = (a?, b?);
    for addr in [a.addr, b.addr] {
        let mut conn = Connection::open(addr, server.client_config(None)?).await?;
        assert_eq!(conn.get("/healthz", None).await?.status, StatusCode::OK);
    }
    let name = empty.rsplit('/').next().context("database name")?;
    let applied = postgres.psql(name, "SELECT COUNT(*) FROM _sqlx_migrations")?;
    let migrations = std::fs::read_dir(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../server/migrations/postgres"
    ))?
    .filter(|entry| {
        entry
            .as_ref()
            .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "sql"))
    })
    .count();
    assert_eq!(
        applied.trim(),
        migrations.to_string(),
        "each migration applied once"
    );

    // Deployments that migrate once: an instance refuses an old schema and
    // says what to run; after `migrate` it starts.
    let fresh = postgres.new_database()?;
    let refused = server
        .cli(&["serve", "--no-migrate", "--database-url", &fresh], None)
        .await?;
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("run `sightline-server migrate` first"),
        "{stderr}"
    );
    assert!(
        !stderr.contains(&fresh),
        "the URL with its password was printed: {stderr}"
    );
    let migrated = server
        .cli_ok(&["migrate", "--database-url", &fresh], None)
        .await?;
    assert!(
        migrated.contains("is up to date") && !migrated.contains("pw-"),
        "{migrated}"
    );
    let started = server
        .start_instance(&["--no-migrate", "--database-url", &fresh])
        .await?;
    let mut conn = Connection::open(started.addr, server.client_config(None)?).await?;
    assert_eq!(conn.get("/healthz", None).await?.status, StatusCode::OK);
    Ok(())
}

#[tokio::test]
async fn an_ended_session_ends_on_every_instance_at_once() -> Result<()> {
    let deployment = Deployment::start("").await?;
    let server = &deployment.first;
    let ada = server.add_user("ada", PASSWORD).await?;
    let bob = server.add_user("bob", PASSWORD).await?;
    let (first, second) = (server.addr, deployment.second.addr);

    // Ada's session is in use on the second instance (and cached there)...
    let mut on_second = deployment.connect(second, Some(&ada)).await?;
    let tokens = first_login(&mut on_second, "ada", PASSWORD).await?;
    for _ in 0..3 {
        let me = on_second.get("/native/me", Some(&tokens.access_token)).await?;
        assert_eq!(me.status, StatusCode::OK);
    }
    // ...when she logs out through the first.
    let mut on_first = deployment.connect(first, Some(&ada)).await?;
    let bearer = format!("Bearer {}", tokens.access_token);
    let logout = on_first
        .send(
            Method::POST,
            "/native/logout",
            &[("authorization", &bearer)],
            None,
        )
        .await?;
    assert!(logout.status.is_success(), "{}", logout.text());
    // The announcement crosses to the other instance in milliseconds; on a
    // loaded machine the next request can be quicker, so allow a moment
    // (the cache itself would keep the session 10 s).
    me_answers_within_moments(&mut on_second, &tokens.access_token, StatusCode::UNAUTHORIZED).await?;

    // Disabling an account from the command line ends Bob's session on
    // both instances at his next request.
    let mut bob_second = deployment.connect(second, Some(&bob)).await?;
    let bob_tokens = first_login(&mut bob_second, "bob", PASSWORD).await?;
    let mut bob_first = deployment.connect(first, Some(&bob)).await?;
    for conn in [&mut bob_first, &mut bob_second] {
        let me = conn.get("/native/me", Some(&bob_tokens.access_token)).await?;
        assert_eq!(me.status, StatusCode::OK);
    }
    server.cli_ok(&["user", "disable", "bob"], None).await?;
    for conn in [&mut bob_first, &mut bob_second] {
        let me = me_answers_within_moments(conn, &bob_tokens.access_token, StatusCode::FORBIDDEN).await?;
        assert_eq!(me.error_code(), "account_disabled");
    }
    Ok(())
}

/// `GET /native/me` until it answers `expected`, for at most two seconds.
async fn me_answers_within_moments(
    conn: &mut Connection,
    token: &str,
    expected: StatusCode,
) -> Result<sightline_tests::Answer> {
    let since = Instant::now();
    loop {
        let me = conn.get("/native/me", Some(token)).await?;
        if me.status == expected {
            return Ok(me);
        }
        anyhow::ensure!(
            since.elapsed() < Duration::from_secs(2),
            "the instance still answers {} instead of {expected}",
            me.status
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn the_database_can_be_reached_over_verified_tls() -> Result<()> {
    let postgres = Postgres::shared()?;
    let name = postgres
        .new_database()?
        .rsplit('/')
        .next()
        .context("database name")?
        .to_owned();
    let server = TestServer::start_on(Some(postgres.tls_url(&name)), "", &[]).await?;
    let ada = server.add_user("ada", PASSWORD).await?;
    let mut conn = server.connect(Some(&ada)).await?;
    let tokens = first_login(&mut conn, "ada", PASSWORD).await?;
    assert_eq!(
        conn.get("/native/me", Some(&tokens.access_token)).await?.status,
        StatusCode::OK
    );
    let encrypted = postgres.psql(
        "postgres",
        &format!("SELECT COUNT(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.datname = '{name}' AND s.ssl"),
    )?;
    assert!(
        encrypted.trim().parse::<u32>()? >= 1,
        "no TLS connection to {name}"
    );

    // A server whose certificate the given CA did not sign is refused.
    let other_ca = server.data_dir.join("ca").join("ca.crt");
    let wrong = postgres.tls_url(&name).replace(
        &postgres.ca_file().display().to_string(),
        &other_ca.display().to_string(),
    );
    let refused = server
        .cli(&["user", "list", "--database-url", &wrong], None)
        .await?;
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("database error"), "{stderr}");
    assert!(!stderr.contains("pw-"), "the password was printed: {stderr}");
    Ok(())
}
